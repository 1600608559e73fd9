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

/// The type of a payload field seen only as NULL: unknown, so compatible with every type (a change
/// to or from it is no drift; the snapshot keeps the known type).
pub const UNKNOWN_TYPE: &str = "null";

/// The snapshot to store after `current` was seen: `current`, with each [`UNKNOWN_TYPE`] replaced by
/// the type `previous` knew for that column; `None` when it would tell nothing new (no drift and no
/// unknown type learnt), so no snapshot is written.
pub fn next_snapshot(previous: Option<&[Column]>, current: &[Column]) -> Option<Vec<Column>> {
    let Some(previous) = previous else {
        return Some(current.to_vec());
    };
    let known: BTreeMap<&str, &str> = previous
        .iter()
        .map(|c| (c.name.as_str(), c.data_type.as_str()))
        .collect();
    let mut learnt = false;
    let next: Vec<Column> = current
        .iter()
        .map(|c| match known.get(c.name.as_str()) {
            Some(old) if c.data_type == UNKNOWN_TYPE => Column {
                name: c.name.clone(),
                data_type: (*old).to_string(),
            },
            Some(old) => {
                learnt |= *old == UNKNOWN_TYPE && c.data_type != UNKNOWN_TYPE;
                c.clone()
            }
            None => c.clone(),
        })
        .collect();
    (learnt || !SchemaDiff::between(previous, &next).is_empty()).then_some(next)
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
    /// A type change to or from [`UNKNOWN_TYPE`] is not reported.
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
                let unknown = old.data_type == UNKNOWN_TYPE || c.data_type == UNKNOWN_TYPE;
                (old.data_type != c.data_type && !unknown).then(|| TypeChange {
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
    fn unknown_types_are_compatible_and_the_snapshot_keeps_the_known_one() {
        let known = vec![col("email", "utf8"), col("n", "int64")];
        let all_null = vec![col("email", UNKNOWN_TYPE), col("n", "int64")];
        assert!(SchemaDiff::between(&known, &all_null).is_empty());
        assert!(SchemaDiff::between(&all_null, &known).is_empty());
        // Seeing only NULLs writes no snapshot; the stored one keeps utf8.
        assert_eq!(next_snapshot(Some(&known), &all_null), None);
        // A first snapshot with an unknown type is refined once the type is seen...
        assert_eq!(next_snapshot(Some(&all_null), &known), Some(known.clone()));
        // ...and a real change is drift.
        let changed = vec![col("email", "int64"), col("n", "int64")];
        assert_eq!(SchemaDiff::between(&known, &changed).changed.len(), 1);
        assert_eq!(next_snapshot(Some(&known), &changed), Some(changed.clone()));
        assert_eq!(next_snapshot(None, &all_null), Some(all_null));
    }

    #[test]
    fn reordering_is_not_drift() {
        let a = vec![col("a", "int"), col("b", "text")];
        let b = vec![col("b", "text"), col("a", "int")];
        assert!(SchemaDiff::between(&a, &b).is_empty());
    }
}
