//! Table schemas and the drift between two snapshots.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One column as the catalog reports it. `data_type` is the catalog's own spelling, lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A column whose type changed between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeChange {
    pub column: String,
    pub from: String,
    pub to: String,
}

/// Differences from a previous snapshot to the current one. Column order is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaDiff {
    pub added: Vec<Column>,
    pub removed: Vec<Column>,
    pub changed: Vec<TypeChange>,
}

impl SchemaDiff {
    /// Compares `previous` with `current`; the lists keep the order of the snapshot they come from.
    pub fn between(previous: &[Column], current: &[Column]) -> SchemaDiff {
        let before: BTreeMap<&str, &Column> =
            previous.iter().map(|c| (c.name.as_str(), c)).collect();
        let after: BTreeMap<&str, &Column> = current.iter().map(|c| (c.name.as_str(), c)).collect();
        let added = current
            .iter()
            .filter(|c| !before.contains_key(c.name.as_str()))
            .cloned()
            .collect();
        let removed = previous
            .iter()
            .filter(|c| !after.contains_key(c.name.as_str()))
            .cloned()
            .collect();
        let changed = current
            .iter()
            .filter_map(|c| {
                let old = before.get(c.name.as_str())?;
                (old.data_type != c.data_type).then(|| TypeChange {
                    column: c.name.clone(),
                    from: old.data_type.clone(),
                    to: c.data_type.clone(),
                })
            })
            .collect();
        SchemaDiff {
            added,
            removed,
            changed,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// A one-line human summary, e.g. `added: note (text); removed: legacy; changed: amount integer -> numeric`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            let cols: Vec<String> = self
                .added
                .iter()
                .map(|c| format!("{} ({})", c.name, c.data_type))
                .collect();
            parts.push(format!("added: {}", cols.join(", ")));
        }
        if !self.removed.is_empty() {
            let cols: Vec<&str> = self.removed.iter().map(|c| c.name.as_str()).collect();
            parts.push(format!("removed: {}", cols.join(", ")));
        }
        if !self.changed.is_empty() {
            let cols: Vec<String> = self
                .changed
                .iter()
                .map(|c| format!("{} {} -> {}", c.column, c.from, c.to))
                .collect();
            parts.push(format!("changed: {}", cols.join(", ")));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(n: &str, t: &str) -> Column {
        Column {
            name: n.into(),
            data_type: t.into(),
        }
    }

    #[test]
    fn detects_added_removed_and_changed() {
        let before = vec![
            col("id", "integer"),
            col("amount", "integer"),
            col("legacy", "text"),
        ];
        let after = vec![
            col("id", "integer"),
            col("amount", "numeric"),
            col("note", "text"),
        ];
        let d = SchemaDiff::between(&before, &after);
        assert_eq!(d.added, vec![col("note", "text")]);
        assert_eq!(d.removed, vec![col("legacy", "text")]);
        assert_eq!(
            d.changed,
            vec![TypeChange {
                column: "amount".into(),
                from: "integer".into(),
                to: "numeric".into()
            }]
        );
        assert_eq!(
            d.summary(),
            "added: note (text); removed: legacy; changed: amount integer -> numeric"
        );
    }

    #[test]
    fn reordering_is_not_drift() {
        let a = vec![col("a", "int"), col("b", "text")];
        let b = vec![col("b", "text"), col("a", "int")];
        assert!(SchemaDiff::between(&a, &b).is_empty());
    }
}
