//! `discover:` monitors: a monitor template that watches every table of some schemas from the
//! catalog (the metadata tier: row estimate, size, last change, inserts, schema), without a scan.
//!
//! ```yaml
//! monitors:
//!   - name: shop-tables
//!     source: shop
//!     discover:
//!       schemas: [public, sales]        # default: the connection's schema
//!       include: ["*"]                  # globs on the table name (`schema.table` when it has a dot)
//!       exclude: ["tmp_*", "*_backup"]
//!     every: 15m
//!     checks: [row_estimate > 0, last_change_age_seconds < 2d]
//! ```
//!
//! Every setting of the template (checks, baselines, labels, calendar, schedule) applies to each
//! discovered table, which becomes the monitor `<template>.<schema>.<table>`. An explicit monitor of
//! the same table on the same source takes the table over; of two templates matching one table, the
//! first in the file does.

use super::{start_of_mapping, Str, Walker};
use crate::config::{Monitor, MonitorTarget, Place, Source, SourceKind};
use crate::ident::{Ident, TableRef};
use checks::expr::Check;
use checks::Metric;
use globset::{Glob, GlobSet, GlobSetBuilder};
use marked_yaml::types::MarkedMappingNode;
use marked_yaml::Node;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Keys of a `discover:` monitor (besides the service keys `every` / `schedule`).
pub(crate) const DISCOVER_MONITOR_KEYS: &[&str] = &[
    "name",
    "source",
    "discover",
    "checks",
    "sensitivity",
    "direction",
    "min_change",
    "lookback",
    "baseline_since",
    "labels",
    "timezone",
    "holidays",
];
const DISCOVER_KEYS: &[&str] = &["schemas", "include", "exclude"];

/// What a `discover:` template watches.
#[derive(Debug, Clone)]
pub struct DiscoverSpec {
    /// Schemas (MySQL: databases) read in one catalog statement; empty: the connection's own.
    pub schemas: Vec<Ident>,
    /// Globs as written, for messages and docs.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    include_set: Patterns,
    exclude_set: Patterns,
    /// Where `discover:` stands in the file.
    pub place: Place,
}

/// Globs split by what they match: the bare table name, or `schema.table` (a pattern with a dot).
#[derive(Debug, Clone)]
struct Patterns {
    names: GlobSet,
    qualified: GlobSet,
    empty: bool,
}

impl Patterns {
    fn build(globs: &[Glob]) -> Result<Patterns, globset::Error> {
        let mut names = GlobSetBuilder::new();
        let mut qualified = GlobSetBuilder::new();
        for g in globs {
            if g.glob().contains('.') {
                qualified.add(g.clone());
            } else {
                names.add(g.clone());
            }
        }
        Ok(Patterns {
            names: names.build()?,
            qualified: qualified.build()?,
            empty: globs.is_empty(),
        })
    }

    fn matches(&self, schema: &str, table: &str) -> bool {
        self.names.is_match(table) || self.qualified.is_match(format!("{schema}.{table}"))
    }
}

impl DiscoverSpec {
    /// Whether the template watches `schema.table`: included (no `include` means every table) and
    /// not excluded.
    pub fn matches(&self, schema: &str, table: &str) -> bool {
        (self.include_set.empty || self.include_set.matches(schema, table))
            && !self.exclude_set.matches(schema, table)
    }

    /// Whether a table of `schema` is read by this template (the connection's schema when none is
    /// listed is `default_schema`).
    pub fn reads_schema(&self, schema: &str, default_schema: &str) -> bool {
        if self.schemas.is_empty() {
            schema == default_schema
        } else {
            self.schemas.iter().any(|s| s.as_str() == schema)
        }
    }
}

/// The monitor name of a discovered table: `<template>.<schema>.<table>`, every byte of schema and
/// table outside `[A-Za-z0-9_]` written as `-xx` (hex), so the name stays a safe label and the dots
/// stay separators.
pub fn discovered_name(template: &str, schema: &str, table: &str) -> String {
    fn part(out: &mut String, s: &str) {
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b == b'_' {
                out.push(b as char);
            } else {
                out.push_str(&format!("-{b:02x}"));
            }
        }
    }
    let mut out = String::with_capacity(template.len() + schema.len() + table.len() + 2);
    out.push_str(template);
    out.push('.');
    part(&mut out, schema);
    out.push('.');
    part(&mut out, table);
    out
}

/// The monitor of one discovered table: the template's settings, the table as its target.
pub fn discovered_monitor(template: &Monitor, schema: &str, table: &str) -> Option<Monitor> {
    let t = TableRef {
        schema: Some(Ident::new(schema).ok()?),
        name: Ident::new(table).ok()?,
    };
    let mut m = template.clone();
    m.name = discovered_name(&template.name, schema, table);
    m.dataset = t.to_string();
    m.target = MonitorTarget::Table(t);
    Some(m)
}

impl crate::config::Config {
    /// The monitor a result row belongs to: a configured one, or the discovered table of a
    /// `discover:` template (`<template>.<schema>.<table>`, its `dataset` the table).
    pub fn monitor_for_row(&self, name: &str, dataset: &str) -> Option<Cow<'_, Monitor>> {
        if let Some(m) = self.monitors.iter().find(|m| m.name == name) {
            return Some(Cow::Borrowed(m));
        }
        let t = TableRef::parse(dataset).ok()?;
        let schema = t.schema?;
        self.monitors
            .iter()
            .filter(|m| m.discover().is_some())
            .find(|m| discovered_name(&m.name, schema.as_str(), t.name.as_str()) == name)
            .and_then(|m| discovered_monitor(m, schema.as_str(), t.name.as_str()))
            .map(Cow::Owned)
    }
}

/// Why a metadata-tier metric cannot be checked on a monitor that scans its table.
pub(crate) fn metadata_only_problem(check: &Check) -> Option<String> {
    check.metric.is_metadata().then(|| {
        format!(
            "{} is measured only by discover: monitors (from the catalog)",
            check.metric
        )
    })
}

/// Why a check cannot be on a `discover:` template: only the catalog's metrics and the schema are
/// measured (no table scan).
fn discover_check_problem(check: &Check) -> Option<String> {
    (!check.metric.is_metadata() && check.metric != Metric::Schema).then(|| {
        format!(
            "{} needs a table scan; a discover: monitor measures row_estimate, size_bytes, \
             rows_inserted, last_change_age_seconds and schema from the catalog (write an explicit \
             monitor for the table)",
            check.metric
        )
    })
}

/// The metrics the catalog of `kind` offers.
fn measured_on(kind: SourceKind, metric: Metric) -> bool {
    match kind {
        SourceKind::Postgres => true,
        SourceKind::Mysql => metric != Metric::RowsInserted,
        SourceKind::Sqlite => metric == Metric::Schema,
        SourceKind::Kafka | SourceKind::Nats => false,
    }
}

impl Walker<'_> {
    /// The `discover:` mapping of a template monitor: the target of a `MonitorTarget::Discover`.
    pub(super) fn discover_target(
        &mut self,
        map: &MarkedMappingNode,
        what: &str,
    ) -> Option<(String, MonitorTarget)> {
        let node = self.required(map, "discover", what)?;
        let d = self.mapping(node, "\"discover\"")?;
        self.known_keys(d, DISCOVER_KEYS, "\"discover\"");
        let place = self
            .place(&start_of_mapping(d))
            .or_else(|| self.place(node.span()))?;
        let schemas = match self.optional(d, "schemas") {
            Some(n) => self.idents(n, "schemas"),
            None => Some(Vec::new()),
        };
        let include = self.globs(d, "include");
        let exclude = self.globs(d, "exclude");
        let (schemas, (include, include_set), (exclude, exclude_set)) =
            (schemas?, include?, exclude?);
        let dataset = if schemas.is_empty() {
            "discover".to_string()
        } else {
            let names: Vec<&str> = schemas.iter().map(Ident::as_str).collect();
            format!("discover {}", names.join(","))
        };
        Some((
            dataset,
            MonitorTarget::Discover(Box::new(DiscoverSpec {
                schemas,
                include,
                exclude,
                include_set,
                exclude_set,
                place,
            })),
        ))
    }

    /// A list of globs, each validated (an invalid one is an error at its place).
    fn globs(&mut self, d: &MarkedMappingNode, key: &str) -> Option<(Vec<String>, Patterns)> {
        let Some(n) = self.optional(d, key) else {
            return Some((Vec::new(), Patterns::build(&[]).ok()?));
        };
        let items: Vec<Str<'_>> = self.string_list(n, key)?;
        let mut globs = Vec::new();
        let mut ok = true;
        for s in &items {
            if s.value.is_empty() {
                self.error(s.node.span(), format!("an empty pattern in \"{key}\""));
                ok = false;
                continue;
            }
            match Glob::new(&s.value) {
                Ok(g) => globs.push(g),
                Err(e) => {
                    self.error(
                        s.node.span(),
                        format!("invalid glob \"{}\" in \"{key}\": {}", s.value, e.kind()),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        match Patterns::build(&globs) {
            Ok(p) => Some((items.into_iter().map(|s| s.value).collect(), p)),
            Err(e) => {
                self.error(n.span(), format!("invalid \"{key}\": {e}"));
                None
            }
        }
    }

    /// The `checks` of a discover template: metadata metrics and schema only.
    pub(super) fn discover_checks(&mut self, node: &Node) -> Option<Vec<super::CheckSpec>> {
        self.checks(node, &|_, c| discover_check_problem(c))
    }

    /// Once sources and monitors are decoded: a template's source must be a warehouse, its schemas
    /// must exist there (SQLite: `main`), and its checks must be measurable from that catalog.
    pub(super) fn discover_against_sources(
        &mut self,
        monitors: &[Monitor],
        sources: &BTreeMap<String, Source>,
    ) {
        for m in monitors {
            let MonitorTarget::Discover(d) = &m.target else {
                continue;
            };
            let Some(source) = sources.get(&m.source) else {
                continue;
            };
            let at = Some(d.place.clone());
            if source.kind.is_stream() {
                self.errors.push(super::ConfigError {
                    place: at.clone(),
                    message: format!(
                        "discover needs a warehouse source; {} is {}",
                        source.name,
                        source.kind.as_str()
                    ),
                });
                continue;
            }
            if source.kind == SourceKind::Sqlite && d.schemas.iter().any(|s| s.as_str() != "main") {
                self.errors.push(super::ConfigError {
                    place: at.clone(),
                    message: "a sqlite source has one schema to discover: main".into(),
                });
            }
            for c in &m.checks {
                if !measured_on(source.kind, c.check.metric) {
                    let why = match source.kind {
                        SourceKind::Sqlite => "sqlite keeps no table statistics (discovery there gives the table list and the schema)",
                        _ => "its catalog keeps no insert counter",
                    };
                    self.errors.push(super::ConfigError {
                        place: Some(c.place.clone()),
                        message: format!(
                            "{} is not measured on {} sources: {why}",
                            c.check.metric,
                            source.kind.as_str()
                        ),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;
    use std::path::Path;

    fn load(text: &str) -> Result<crate::config::Config, Vec<String>> {
        parse_str(text, Path::new("/etc/tw.yaml"), &|_| None)
            .map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
    }

    const HEAD: &str = "version: 1\nsources:\n  shop:\n    kind: postgres\n    url: postgres://h/db\n  lite:\n    kind: sqlite\n    url: w.db\nmonitors:\n";

    #[test]
    fn a_template_decodes_with_globs_and_every() {
        let c = load(&format!(
            "{HEAD}  - name: all\n    source: shop\n    discover:\n      schemas: [public, sales]\n      include: [\"ord*\", \"sales.*\"]\n      exclude: [\"*_tmp\"]\n    every: 15m\n    checks: [row_estimate > 0, last_change_age_seconds < 1d]\n"
        ))
        .expect("valid");
        let m = &c.monitors[0];
        let MonitorTarget::Discover(d) = &m.target else {
            panic!("not a discover monitor: {:?}", m.target)
        };
        assert_eq!(d.schemas.len(), 2);
        assert!(d.matches("public", "orders"));
        assert!(d.matches("sales", "anything"));
        assert!(!d.matches("public", "customers"));
        assert!(!d.matches("public", "orders_tmp"));
        assert!(m.schedule.is_some());
        assert_eq!(m.dataset, "discover public,sales");
        let t = discovered_monitor(m, "public", "orders").expect("monitor");
        assert_eq!(t.name, "all.public.orders");
        assert_eq!(t.dataset, "public.orders");
        assert_eq!(t.checks.len(), 2);
        // Alerts find a discovered table's monitor from its result row.
        let found = c
            .monitor_for_row("all.public.orders", "public.orders")
            .expect("found");
        assert_eq!(found.name, "all.public.orders");
        assert!(c
            .monitor_for_row("all.public.nope", "public.orders")
            .is_none());
        assert!(c.monitor_for_row("all", "discover public,sales").is_some());
    }

    #[test]
    fn names_stay_safe_labels() {
        assert_eq!(
            discovered_name("d", "public", "a.b c"),
            "d.public.a-2eb-20c"
        );
        assert_eq!(discovered_name("d", "Sales", "x-y"), "d.Sales.x-2dy");
    }

    #[test]
    fn errors_have_places() {
        let e = load(&format!(
            "{HEAD}  - name: all\n    source: shop\n    discover:\n      include: [\"a[\"]\n      colour: red\n    table: public.x\n    checks: [row_count > 0]\n  - name: lite\n    source: lite\n    discover: {{ schemas: [other] }}\n    checks: [row_estimate > 0]\n  - name: t\n    source: shop\n    table: public.t\n    checks: [size_bytes < 10]\n"
        ))
        .expect_err("invalid");
        assert_eq!(
            e,
            [
                "/etc/tw.yaml:13:17: invalid glob \"a[\" in \"include\": unclosed character class; missing ']'",
                "/etc/tw.yaml:14:7: unknown key \"colour\" in \"discover\" (expected one of schemas, include, exclude)",
                "/etc/tw.yaml:15:5: unknown key \"table\" in monitor \"all\" (expected one of name, source, discover, checks, sensitivity, direction, min_change, lookback, baseline_since, labels, timezone, holidays, schedule, every)",
                "/etc/tw.yaml:16:14: row_count needs a table scan; a discover: monitor measures row_estimate, size_bytes, rows_inserted, last_change_age_seconds and schema from the catalog (write an explicit monitor for the table)",
                "/etc/tw.yaml:19:17: a sqlite source has one schema to discover: main",
                "/etc/tw.yaml:20:14: row_estimate is not measured on sqlite sources: sqlite keeps no table statistics (discovery there gives the table list and the schema)",
                "/etc/tw.yaml:24:14: size_bytes is measured only by discover: monitors (from the catalog)",
            ]
        );
    }
}
