//! Reading `tidewatch.yaml`: stage 1 parses YAML into a tree that keeps the place of every node, stage 2
//! walks it into [`Config`] and collects every problem with its place instead of stopping at the first.

#[path = "alerts.rs"]
pub(crate) mod alerts_section;
#[path = "stream.rs"]
pub(crate) mod stream;

use super::interp::{interpolate, InterpError};
use super::{CheckSpec, Config, Monitor, MonitorTarget, Place, ProfileMode, Source, SourceKind};
use crate::ident::{Ident, TableRef};
use checks::baseline::{MinChange, SeriesKind};
use checks::expr::{self, ExprError};
use checks::{Direction, Metric};
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, LoaderOptions, Node, Span};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use stream::RawKind;

#[path = "calendar.rs"]
mod calendar;
#[path = "discover.rs"]
pub(crate) mod discover;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where in the file; `None` when the problem is the file as a whole (e.g. it cannot be read).
    pub place: Option<Place>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Some(place) => write!(f, "{place}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a config file, in file order. Displays one `file:line:col: message` per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Store used when the config names none, beside the config file.
pub const DEFAULT_STORE_FILE: &str = "tidewatch-state.db";
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_BUCKET: Duration = Duration::from_secs(60 * 60);
/// Measurements, runs and buckets older than this are pruned from the state store after each scan.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(400 * 24 * 60 * 60);
/// How often a `mode: incremental` monitor runs its full (table-wide) profile.
pub const DEFAULT_FULL_PROFILE_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(28 * 24 * 60 * 60);
/// The detector's default: a point is an anomaly when its score is at least `1 - sensitivity`.
pub const DEFAULT_SENSITIVITY: f64 = checks::baseline::DEFAULT_SENSITIVITY;

// `api` and a monitor's schedule keys are read in `service.rs`.
const TOP_KEYS: &[&str] = &[
    "version",
    "store",
    "retention",
    "sources",
    "monitors",
    "alerts",
    "api",
];
const SOURCE_KEYS: &[&str] = &[
    "kind",
    "url",
    "brokers",
    "statement_timeout",
    "connect_timeout",
];
const MONITOR_KEYS: &[&str] = &[
    "name",
    "source",
    "table",
    "timestamp_column",
    "key",
    "columns",
    "distinct",
    "where",
    "sample",
    "mode",
    "full_profile_every",
    "lateness",
    "checks",
    "bucket",
    "sensitivity",
    "direction",
    "min_change",
    "lookback",
    "baseline_since",
    "labels",
    "timezone",
    "holidays",
];

#[path = "service.rs"]
pub(super) mod service;

/// Reads and validates the config file at `path`, taking `${VAR}` values from the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            place: None,
            message: format!("cannot read config file {}: {e}", path.display()),
        }])
    })?;
    parse_str(&text, &path, &|name| std::env::var(name).ok())
}

/// Validates config `text` as if read from `path` (used for places and to resolve relative SQLite
/// paths), taking `${VAR}` values from `env`.
pub fn parse_str(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .prevent_coercion(true);
    let protected = alerts_section::protect_vars(text);
    let text = protected.as_str();
    let root = marked_yaml::parse_yaml_with_options(0, text, options)
        .map_err(|e| ConfigErrors(vec![syntax_error(path, &e)]))?;
    let mut walker = Walker {
        file: path,
        text,
        env,
        errors: Vec::new(),
        stream_sources: Vec::new(),
        monitor_kinds: Vec::new(),
    };
    let config = walker.config(&root);
    let mut errors = walker.errors;
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => {
            errors.sort_by_key(|e| e.place.as_ref().map(|p| (p.line, p.column)));
            Err(ConfigErrors(errors))
        }
    }
}

fn syntax_error(file: &Path, e: &LoadError) -> ConfigError {
    let at = |m: &marked_yaml::Marker| {
        Some(Place {
            file: file.to_path_buf(),
            line: m.line(),
            column: m.column(),
        })
    };
    let (place, message) = match e {
        LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => (
            at(m),
            "the top level of the config must be a mapping".to_string(),
        ),
        LoadError::UnexpectedAnchor(m) => {
            (at(m), "yaml anchors and aliases are not supported".into())
        }
        LoadError::MappingKeyMustBeScalar(m) => {
            (at(m), "mapping keys must be plain strings".into())
        }
        LoadError::UnexpectedTag(m) => (at(m), "yaml tags are not supported".into()),
        LoadError::ScanError(m, scan) => (at(m), format!("invalid yaml: {}", scan.info())),
        LoadError::DuplicateKey(inner) => {
            let first = inner
                .prev_key
                .span()
                .start()
                .map(|m| format!(" (first on line {})", m.line()));
            (
                inner.key.span().start().and_then(at),
                format!(
                    "duplicate key \"{}\"{}",
                    inner.key.as_str(),
                    first.unwrap_or_default()
                ),
            )
        }
    };
    ConfigError { place, message }
}

/// A string scalar after interpolation.
struct Str<'n> {
    node: &'n MarkedScalarNode,
    value: String,
}

struct Walker<'a> {
    file: &'a Path,
    text: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<ConfigError>,
    /// Names of the sources whose kind is a broker (kafka, nats), as written.
    stream_sources: Vec<String>,
    /// Every monitor as written: name, kind and source name (for `reconcile` references).
    monitor_kinds: Vec<(String, RawKind, String)>,
}

fn kind_of(node: &Node) -> &'static str {
    match node {
        Node::Scalar(_) if is_null(node) => "nothing",
        Node::Scalar(_) => "a string",
        Node::Mapping(_) => "a mapping",
        Node::Sequence(_) => "a list",
    }
}

/// Where a node starts. A block mapping's own mark sits after its first key, so that key stands for it.
fn start_of(node: &Node) -> Span {
    match node {
        Node::Mapping(m) => start_of_mapping(m),
        other => *other.span(),
    }
}

fn start_of_mapping(map: &MarkedMappingNode) -> Span {
    *map.keys().next().map_or(map.span(), |k| k.span())
}

/// An empty value, `~` or `null` written without quotes.
fn is_null(node: &Node) -> bool {
    match node {
        Node::Scalar(s) => {
            s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL")
        }
        _ => false,
    }
}

/// A monitor or source name that is safe as a label and in a file name: `[A-Za-z0-9_.-]+`.
fn is_safe_label(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn one_of(items: &[&str]) -> String {
    items.join(", ")
}

impl Walker<'_> {
    fn place(&self, span: &Span) -> Option<Place> {
        span.start().map(|m| Place {
            file: self.file.to_path_buf(),
            line: m.line(),
            column: m.column(),
        })
    }

    fn error(&mut self, span: &Span, message: impl Into<String>) {
        let place = self.place(span);
        self.errors.push(ConfigError {
            place,
            message: message.into(),
        });
    }

    /// The place of character `offset` inside a scalar's value. Exact when the value stands in the file
    /// as written (a plain or simply quoted scalar on one line); otherwise the scalar's start.
    fn place_within(&self, node: &MarkedScalarNode, value: &str, offset: usize) -> Option<Place> {
        let mut place = self.place(node.span())?;
        let Some(line) = self.text.lines().nth(place.line.saturating_sub(1)) else {
            return Some(place);
        };
        let from_start: String = line.chars().skip(place.column.saturating_sub(1)).collect();
        if from_start.starts_with(value) {
            place.column += offset;
        } else if (from_start.starts_with('"') || from_start.starts_with('\''))
            && from_start[1..].starts_with(value)
        {
            place.column += 1 + offset;
        }
        Some(place)
    }

    /// The mapping in `node`, or an error saying it should be one.
    fn mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedMappingNode> {
        match node {
            Node::Mapping(m) => Some(m),
            other => {
                self.error(
                    &start_of(other),
                    format!("expected a mapping for {what}, found {}", kind_of(other)),
                );
                None
            }
        }
    }

    /// Reports keys not in `allowed`.
    fn known_keys(&mut self, map: &MarkedMappingNode, allowed: &[&str], what: &str) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.error(
                    key.span(),
                    format!(
                        "unknown key \"{}\" in {what} (expected one of {})",
                        key.as_str(),
                        one_of(allowed)
                    ),
                );
            }
        }
    }

    /// The value of an optional key; an explicit null counts as absent.
    fn optional<'n>(&self, map: &'n MarkedMappingNode, key: &str) -> Option<&'n Node> {
        map.get_node(key).filter(|n| !is_null(n))
    }

    /// The value of a required key, or an error at the mapping's place.
    fn required<'n>(
        &mut self,
        map: &'n MarkedMappingNode,
        key: &str,
        what: &str,
    ) -> Option<&'n Node> {
        match map.get_node(key) {
            Some(n) if is_null(n) => {
                self.error(n.span(), format!("\"{key}\" in {what} needs a value"));
                None
            }
            Some(n) => Some(n),
            None => {
                self.error(
                    &start_of_mapping(map),
                    format!("missing required key \"{key}\" in {what}"),
                );
                None
            }
        }
    }

    /// `required`, except that when `absent_ok` the key may be missing (it is still decoded if present).
    fn required_unless<'n>(
        &mut self,
        map: &'n MarkedMappingNode,
        key: &str,
        what: &str,
        absent_ok: bool,
    ) -> Option<&'n Node> {
        if absent_ok && map.get_node(key).is_none() {
            return None;
        }
        self.required(map, key, what)
    }

    /// A string scalar, interpolated.
    fn string<'n>(&mut self, node: &'n Node, key: &str) -> Option<Str<'n>> {
        let Node::Scalar(s) = node else {
            self.error(
                &start_of(node),
                format!("expected a string for \"{key}\", found {}", kind_of(node)),
            );
            return None;
        };
        match interpolate(&alerts_section::restore_vars(s.as_str()), self.env) {
            Ok(value) => Some(Str { node: s, value }),
            Err(e) => {
                self.interp_error(s, &e);
                None
            }
        }
    }

    fn interp_error(&mut self, node: &MarkedScalarNode, e: &InterpError) {
        self.error(node.span(), e.to_string());
    }

    /// A single string or a list of strings.
    fn string_list<'n>(&mut self, node: &'n Node, key: &str) -> Option<Vec<Str<'n>>> {
        match node {
            Node::Scalar(_) => self.string(node, key).map(|s| vec![s]),
            Node::Sequence(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for item in items.iter() {
                    match self.string(item, key) {
                        Some(s) => out.push(s),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            Node::Mapping(_) => {
                self.error(
                    &start_of(node),
                    format!(
                        "expected a string or a list of strings for \"{key}\", found a mapping"
                    ),
                );
                None
            }
        }
    }

    fn ident(&mut self, s: &Str<'_>, key: &str) -> Option<Ident> {
        match Ident::new(&s.value) {
            Ok(id) => Some(id),
            Err(e) => {
                self.error(s.node.span(), format!("invalid \"{key}\": {e}"));
                None
            }
        }
    }

    fn idents(&mut self, node: &Node, key: &str) -> Option<Vec<Ident>> {
        let strs = self.string_list(node, key)?;
        let mut out = Vec::new();
        let mut ok = true;
        for s in &strs {
            match self.ident(s, key) {
                Some(id) if out.contains(&id) => {
                    self.error(
                        s.node.span(),
                        format!("\"{id}\" appears twice in \"{key}\""),
                    );
                    ok = false;
                }
                Some(id) => out.push(id),
                None => ok = false,
            }
        }
        if strs.is_empty() {
            self.error(node.span(), format!("\"{key}\" needs at least one column"));
            ok = false;
        }
        ok.then_some(out)
    }

    /// A positive duration such as `30s`, `2h` or `1h30m`; `default` when the key is absent.
    fn duration(
        &mut self,
        map: &MarkedMappingNode,
        key: &str,
        default: Duration,
    ) -> Option<Duration> {
        let Some(node) = self.optional(map, key) else {
            return Some(default);
        };
        let s = self.string(node, key)?;
        match expr::parse_duration(&s.value) {
            Ok(secs) if secs > 0.0 => match Duration::try_from_secs_f64(secs) {
                Ok(d) => Some(d),
                Err(_) => {
                    self.error(s.node.span(), format!("\"{key}\" is too long"));
                    None
                }
            },
            Ok(_) => {
                self.error(s.node.span(), format!("\"{key}\" must be longer than zero"));
                None
            }
            Err(ExprError { offset, message }) => {
                let place = self.place_within(s.node, &s.value, offset);
                self.errors.push(ConfigError {
                    place,
                    message: format!("invalid \"{key}\": {message}"),
                });
                None
            }
        }
    }

    fn config(&mut self, root: &Node) -> Option<Config> {
        let top = self.mapping(root, "the config")?;
        self.known_keys(top, TOP_KEYS, "the config");
        self.version(top);
        let store = self.store(top);
        let retention = self.duration(top, "retention", DEFAULT_RETENTION);
        let api = self.api(top);

        let sources = match self.required(top, "sources", "the config") {
            Some(node) => self.sources(node),
            None => None,
        };
        // Names stay known for `source` references even when a source has other problems.
        let source_names: Vec<String> = top
            .get_mapping("sources")
            .map(|m| m.keys().map(|k| k.as_str().to_string()).collect())
            .unwrap_or_default();
        self.stream_sources = top
            .get_mapping("sources")
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| {
                        v.as_mapping()
                            .and_then(|v| v.get_scalar("kind"))
                            .is_some_and(|k| matches!(k.as_str(), "kafka" | "nats"))
                    })
                    .map(|(k, _)| k.as_str().to_string())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(Node::Sequence(items)) = top.get_node("monitors") {
            let kinds = items
                .iter()
                .filter_map(Node::as_mapping)
                .filter_map(|m| {
                    let name = m.get_scalar("name")?.as_str().to_string();
                    let source = m
                        .get_scalar("source")
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default();
                    Some((name, self.raw_kind(m), source))
                })
                .collect();
            self.monitor_kinds = kinds;
        }

        let monitors = match self.required(top, "monitors", "the config") {
            Some(Node::Sequence(items)) => {
                let mut monitors = Vec::new();
                let mut first_place: BTreeMap<String, usize> = BTreeMap::new();
                for item in items.iter() {
                    if let Some(name_node) = item.as_mapping().and_then(|m| m.get_scalar("name")) {
                        let name = name_node.as_str();
                        if let Some(first) = first_place.get(name) {
                            self.error(
                                name_node.span(),
                                format!("duplicate monitor name \"{name}\" (first defined on line {first})"),
                            );
                        } else {
                            let line = name_node.span().start().map_or(0, |m| m.line());
                            first_place.insert(name.to_string(), line);
                        }
                    }
                    if let Some(monitor) = self.monitor(item, &source_names) {
                        monitors.push(monitor);
                    }
                }
                Some(monitors)
            }
            Some(other) => {
                self.error(
                    &start_of(other),
                    format!("expected a list for \"monitors\", found {}", kind_of(other)),
                );
                None
            }
            None => None,
        };

        if let (Some(monitors), Some(sources)) = (&monitors, &sources) {
            self.discover_against_sources(monitors, sources);
        }

        let alerts = match self.optional(top, "alerts") {
            Some(node) => self.alerts(node).map(Some),
            None => Some(None),
        };

        Some(Config {
            alerts: alerts?,
            path: self.file.to_path_buf(),
            store: store?,
            retention: retention?,
            sources: sources?,
            monitors: monitors?,
            api: api?,
        })
    }

    fn version(&mut self, top: &MarkedMappingNode) {
        match top.get_node("version") {
            None => self.error(
                &start_of_mapping(top),
                "missing required key \"version\" (this format is version 1)",
            ),
            Some(Node::Scalar(s)) if s.as_str() == "1" => {}
            Some(Node::Scalar(s)) => self.error(
                s.span(),
                format!("unsupported version \"{}\" (expected 1)", s.as_str()),
            ),
            Some(other) => self.error(
                &start_of(other),
                format!("expected version 1, found {}", kind_of(other)),
            ),
        }
    }

    fn config_dir(&self) -> PathBuf {
        let dir = self.file.parent().unwrap_or(Path::new(""));
        std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
    }

    fn store(&mut self, top: &MarkedMappingNode) -> Option<SecretString> {
        let Some(node) = self.optional(top, "store") else {
            let path = self.config_dir().join(DEFAULT_STORE_FILE);
            return Some(SecretString::from(format!("sqlite://{}", path.display())));
        };
        let s = self.string(node, "store")?;
        if s.value.starts_with("postgres://") || s.value.starts_with("postgresql://") {
            return Some(SecretString::from(s.value));
        }
        match self.sqlite_url(&s.value, false) {
            Some(url) => Some(SecretString::from(url)),
            None => {
                self.error(
                    s.node.span(),
                    "store must be a sqlite:// or postgres:// url",
                );
                None
            }
        }
    }

    /// `sqlite://PATH` (or `sqlite:PATH`; a bare PATH when `bare_ok`) with a relative PATH made absolute
    /// against the config's directory. `None` if it is not a SQLite URL.
    fn sqlite_url(&self, url: &str, bare_ok: bool) -> Option<String> {
        let rest = if let Some(rest) = url.strip_prefix("sqlite://") {
            rest
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            rest
        } else if bare_ok && !url.contains("://") {
            url
        } else {
            return None;
        };
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let path = if path.is_empty() || path == ":memory:" || Path::new(path).is_absolute() {
            path.to_string()
        } else {
            self.config_dir().join(path).display().to_string()
        };
        Some(match query {
            Some(q) => format!("sqlite://{path}?{q}"),
            None => format!("sqlite://{path}"),
        })
    }

    fn sources(&mut self, node: &Node) -> Option<BTreeMap<String, Source>> {
        let map = self.mapping(node, "\"sources\"")?;
        let mut sources = BTreeMap::new();
        let mut ok = true;
        for (key, value) in map.iter() {
            match self.source(key, value) {
                Some(source) => {
                    sources.insert(source.name.clone(), source);
                }
                None => ok = false,
            }
        }
        ok.then_some(sources)
    }

    fn source(&mut self, name: &MarkedScalarNode, node: &Node) -> Option<Source> {
        let what = format!("source \"{}\"", name.as_str());
        let name_ok = is_safe_label(name.as_str());
        if !name_ok {
            self.error(
                name.span(),
                format!(
                    "invalid source name \"{}\" (use letters, digits, _, . and -)",
                    name.as_str()
                ),
            );
        }
        let map = self.mapping(node, &what)?;
        let allowed: Vec<&str> = SOURCE_KEYS
            .iter()
            .chain(service::SOURCE_SERVICE_KEYS)
            .copied()
            .collect();
        self.known_keys(map, &allowed, &what);

        let kind = match self.required(map, "kind", &what) {
            Some(n) => self.string(n, "kind").and_then(|s| {
                let kind = match s.value.as_str() {
                    "postgres" | "postgresql" => Some(SourceKind::Postgres),
                    "mysql" | "mariadb" => Some(SourceKind::Mysql),
                    "sqlite" => Some(SourceKind::Sqlite),
                    "kafka" => Some(SourceKind::Kafka),
                    "nats" => Some(SourceKind::Nats),
                    _ => None,
                };
                if kind.is_none() {
                    self.error(
                        s.node.span(),
                        format!(
                            "unknown kind \"{}\" (expected postgres, mysql, mariadb, sqlite, kafka or nats)",
                            s.value
                        ),
                    );
                }
                kind
            }),
            None => None,
        };
        let url = match kind {
            Some(kind) if kind.is_stream() => self.stream_source_url(kind, map, &what),
            _ => {
                if let Some(n) = map.get_node("brokers") {
                    self.error(&start_of(n), "\"brokers\" applies to kind kafka only");
                }
                let url = match self.required(map, "url", &what) {
                    Some(n) => self.string(n, "url"),
                    None => None,
                };
                match (kind, url) {
                    (Some(kind), Some(url)) => self.source_url(kind, &url),
                    _ => None,
                }
            }
        };
        let statement_timeout = self.duration(map, "statement_timeout", DEFAULT_STATEMENT_TIMEOUT);
        let connect_timeout = self.duration(map, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
        let max_concurrent_scans = self.max_concurrent_scans(map);
        if !name_ok {
            return None;
        }
        Some(Source {
            name: name.as_str().to_string(),
            kind: kind?,
            url: url?,
            statement_timeout: statement_timeout?,
            connect_timeout: connect_timeout?,
            max_concurrent_scans: max_concurrent_scans?,
        })
    }

    /// Checks the URL's scheme against `kind` and normalizes it. Never puts the URL in a message.
    fn source_url(&mut self, kind: SourceKind, url: &Str<'_>) -> Option<SecretString> {
        let normalized = match kind {
            SourceKind::Postgres => (url.value.starts_with("postgres://")
                || url.value.starts_with("postgresql://"))
            .then(|| url.value.clone()),
            SourceKind::Mysql => {
                if url.value.starts_with("mysql://") {
                    Some(url.value.clone())
                } else {
                    url.value
                        .strip_prefix("mariadb://")
                        .map(|rest| format!("mysql://{rest}"))
                }
            }
            SourceKind::Sqlite => self.sqlite_url(&url.value, true),
            SourceKind::Kafka | SourceKind::Nats => None,
        };
        if normalized.is_none() {
            let expected = match kind {
                SourceKind::Postgres => "postgres:// or postgresql://",
                SourceKind::Mysql => "mysql:// or mariadb://",
                SourceKind::Sqlite => "sqlite:// or a file path",
                SourceKind::Kafka | SourceKind::Nats => "a broker address",
            };
            self.error(
                url.node.span(),
                format!(
                    "url scheme does not match kind {} (expected {expected})",
                    kind.as_str()
                ),
            );
        }
        normalized.map(SecretString::from)
    }

    fn monitor(&mut self, node: &Node, source_names: &[String]) -> Option<Monitor> {
        let map = self.mapping(node, "a monitor")?;
        let name = match self.required(map, "name", "monitor") {
            Some(n) => self.string(n, "name"),
            None => None,
        };
        let what = match &name {
            Some(n) => format!("monitor \"{}\"", n.value),
            None => "monitor".to_string(),
        };
        let raw_kind = self.raw_kind(map);
        let is_discover = raw_kind == RawKind::Table && map.get_node("discover").is_some();
        let keys = match raw_kind {
            RawKind::Table if is_discover => discover::DISCOVER_MONITOR_KEYS,
            RawKind::Table => MONITOR_KEYS,
            RawKind::Stream => stream::STREAM_MONITOR_KEYS,
            RawKind::Reconcile => stream::RECONCILE_MONITOR_KEYS,
        };
        let allowed: Vec<&str> = keys
            .iter()
            .chain(service::MONITOR_SERVICE_KEYS)
            .copied()
            .collect();
        self.known_keys(map, &allowed, &what);
        let name = name.and_then(|n| {
            if is_safe_label(&n.value) {
                Some(n)
            } else {
                self.error(
                    n.node.span(),
                    format!(
                        "invalid monitor name \"{}\" (use letters, digits, _, . and -)",
                        n.value
                    ),
                );
                None
            }
        });

        let source =
            match self.required_unless(map, "source", &what, raw_kind == RawKind::Reconcile) {
                Some(n) => self.string(n, "source").and_then(|s| {
                    if source_names.contains(&s.value) {
                        Some(s.value)
                    } else {
                        let defined = if source_names.is_empty() {
                            "no sources are defined".to_string()
                        } else {
                            format!("defined sources: {}", source_names.join(", "))
                        };
                        self.error(
                            s.node.span(),
                            format!("source \"{}\" is not defined ({defined})", s.value),
                        );
                        None
                    }
                }),
                None => None,
            };

        let mut reconcile_bucket = None;
        let mut reconcile_source = None;
        let target = match raw_kind {
            RawKind::Table if is_discover => self.discover_target(map, &what),
            RawKind::Table => match self.required(map, "table", &what) {
                Some(n) => self
                    .string(n, "table")
                    .and_then(|s| match TableRef::parse(&s.value) {
                        Ok(t) => Some((s.value, MonitorTarget::Table(t))),
                        Err(e) => {
                            self.error(s.node.span(), format!("invalid \"table\": {e}"));
                            None
                        }
                    }),
                None => None,
            },
            RawKind::Stream => self
                .stream_target(map, &what)
                .map(|(dataset, s)| (dataset, MonitorTarget::Stream(s))),
            RawKind::Reconcile => self
                .reconcile_target(map, &what)
                .map(|(r, bucket, source)| {
                    reconcile_bucket = Some(bucket);
                    reconcile_source = Some(source);
                    (
                        format!("{} ~ {}", r.stream, r.table),
                        MonitorTarget::Reconcile(r),
                    )
                }),
        };

        let timestamp_column = match self.optional(map, "timestamp_column") {
            Some(n) => self
                .string(n, "timestamp_column")
                .and_then(|s| self.ident(&s, "timestamp_column"))
                .map(Some),
            None => Some(None),
        };
        let key = match (&target, self.optional(map, "key")) {
            (Some((_, MonitorTarget::Stream(s))), _) => Some(stream::key_idents(&s.key)),
            (_, Some(n)) if raw_kind == RawKind::Table => self.idents(n, "key"),
            _ => Some(Vec::new()),
        };
        let columns = match self.optional(map, "columns") {
            Some(n) => self.idents(n, "columns").map(Some),
            None => Some(None),
        };
        let distinct = match self.optional(map, "distinct") {
            Some(n) => self.idents(n, "distinct"),
            None => Some(Vec::new()),
        };
        let filter = match self.optional(map, "where") {
            Some(n) => self.string(n, "where").and_then(|s| {
                let text = s.value.trim();
                if text.is_empty() {
                    self.error(s.node.span(), "\"where\" must not be empty");
                    None
                } else if text.contains(';') {
                    self.error(
                        s.node.span(),
                        "\"where\" must be one boolean SQL expression, without \";\"",
                    );
                    None
                } else {
                    Some(Some(text.to_string()))
                }
            }),
            None => Some(None),
        };

        let sample = match self.optional(map, "sample") {
            // A stream monitor's `sample` is a message count (config/stream.rs).
            Some(n) if raw_kind == RawKind::Table => self.string(n, "sample").and_then(|s| {
                let text = s.value.trim();
                let hundredths = text
                    .strip_suffix('%')
                    .and_then(|p| p.trim().parse::<f64>().ok())
                    .filter(|p| p.is_finite() && *p > 0.0 && *p < 100.0)
                    .map(|p| (p * 100.0).round() as u32)
                    .filter(|h| *h > 0);
                if hundredths.is_none() {
                    self.error(
                        s.node.span(),
                        format!(
                            "\"sample\" on a table is a percentage above 0 and below 100 such as 1% or 0.5%, found \"{text}\""
                        ),
                    );
                }
                hundredths.map(Some)
            }),
            _ => Some(None),
        };

        let mode = match self.optional(map, "mode") {
            Some(n) => self.string(n, "mode").and_then(|s| match s.value.trim() {
                "full" => Some(ProfileMode::Full),
                "incremental" => Some(ProfileMode::Incremental),
                other => {
                    self.error(
                        s.node.span(),
                        format!("unknown mode \"{other}\" (expected full or incremental)"),
                    );
                    None
                }
            }),
            None => Some(ProfileMode::Full),
        };
        if let (Some(ProfileMode::Incremental), Some(None)) = (&mode, &timestamp_column) {
            if let Some(n) = self.optional(map, "mode") {
                self.error(
                    n.span(),
                    "mode: incremental needs \"timestamp_column\" on the monitor",
                );
            }
        }
        let full_profile_every =
            self.duration(map, "full_profile_every", DEFAULT_FULL_PROFILE_EVERY);
        let lateness = match self.optional(map, "lateness") {
            Some(_) => self.duration(map, "lateness", Duration::ZERO),
            None => Some(Duration::ZERO),
        };
        let bucket = match reconcile_bucket {
            Some(b) => Some(b),
            None => self.duration(map, "bucket", DEFAULT_BUCKET),
        };
        let lookback = self.duration(map, "lookback", DEFAULT_LOOKBACK);
        let sensitivity = match self.optional(map, "sensitivity") {
            Some(n) => {
                self.string(n, "sensitivity")
                    .and_then(|s| match s.value.trim().parse::<f64>() {
                        Ok(v) if v.is_finite() && v > 0.0 && v < 1.0 => Some(v),
                        _ => {
                            self.error(
                                s.node.span(),
                                format!(
                                    "\"sensitivity\" must be a number between 0 and 1 (exclusive), found \"{}\"",
                                    s.value
                                ),
                            );
                            None
                        }
                    })
            }
            None => Some(DEFAULT_SENSITIVITY),
        };
        let direction = match self.optional(map, "direction") {
            Some(n) => self.string(n, "direction").and_then(|s| {
                let d = Direction::parse(&s.value);
                if d.is_none() {
                    self.error(
                        s.node.span(),
                        format!(
                            "unknown direction \"{}\" (expected both, up or down)",
                            s.value
                        ),
                    );
                }
                d.map(Some)
            }),
            // Each series' kind decides (see `Monitor::direction`).
            None => Some(None),
        };

        let min_change = match self.optional(map, "min_change") {
            Some(n) => self.min_change(n),
            None => Some(Vec::new()),
        };

        let baseline_since = match self.optional(map, "baseline_since") {
            Some(n) => self.string(n, "baseline_since").and_then(|s| {
                match chrono::DateTime::parse_from_rfc3339(s.value.trim()) {
                    Ok(t) => Some(Some(t.with_timezone(&chrono::Utc))),
                    Err(_) => {
                        self.error(
                            s.node.span(),
                            format!(
                                "\"baseline_since\" must be an RFC 3339 time such as 2026-11-20T00:00:00Z, found \"{}\"",
                                s.value
                            ),
                        );
                        None
                    }
                }
            }),
            None => Some(None),
        };

        let calendar = self.calendar(map);

        let checks = match (self.optional(map, "checks"), &target) {
            (None, _) => Some(Vec::new()),
            (Some(n), _) if is_discover => self.discover_checks(n),
            (Some(n), Some((_, MonitorTarget::Stream(s)))) => {
                let s = s.clone();
                self.checks(n, &|w, c| w.stream_check_problem(c, &s))
            }
            (Some(n), Some((_, MonitorTarget::Reconcile(_)))) => {
                self.checks(n, &|_, c| stream::reconcile_check_problem(c))
            }
            (Some(n), _) => {
                let ts = timestamp_column.clone().flatten();
                let key = key.clone();
                let columns = columns.clone().flatten();
                let incremental = matches!(mode, Some(ProfileMode::Incremental));
                self.checks(n, &|w, c| {
                    stream::table_only_problem(c)
                        .or_else(|| discover::metadata_only_problem(c))
                        .or_else(|| {
                            (c.metric == Metric::NewDuplicateCount && !incremental).then(|| {
                                "new_duplicate_count is measured by mode: incremental scans, over \
                                 the new rows they read; a full profile checks duplicate_count"
                                    .to_string()
                            })
                        })
                        .or_else(|| {
                            w.check_problem(c, ts.as_ref(), key.as_deref(), columns.as_deref())
                        })
                })
            }
        };

        let labels = match self.optional(map, "labels") {
            Some(n) => self.labels(n),
            None => Some(::alerts::LabelSet::default()),
        };

        let schedule = self.schedule(map);
        let (dataset, target) = target?;
        let source = match reconcile_source {
            Some(s) => s,
            None => source?,
        };
        Some(Monitor {
            labels: labels?,
            name: name?.value,
            source,
            dataset,
            target,
            timestamp_column: timestamp_column?,
            key: key?,
            columns: columns?,
            distinct: distinct?,
            filter: filter?,
            sample: sample?,
            mode: mode?,
            full_profile_every: full_profile_every?,
            lateness: lateness?,
            checks: checks?,
            bucket: bucket?,
            sensitivity: sensitivity?,
            direction: direction?,
            min_change: min_change?,
            lookback: lookback?,
            baseline_since: baseline_since?,
            calendar: calendar?,
            schedule: schedule?,
        })
    }

    /// `min_change:`: a mapping from series kinds to a floor or a list of floors (see
    /// [`MinChange`]), each error at its place.
    fn min_change(&mut self, node: &Node) -> Option<Vec<(SeriesKind, MinChange)>> {
        let map = self.mapping(node, "\"min_change\"")?;
        let mut out = Vec::new();
        let mut ok = true;
        for (key, value) in map.iter() {
            let Ok(kind) = key.as_str().parse::<SeriesKind>() else {
                self.error(
                    key.span(),
                    format!(
                        "unknown series kind \"{}\" in \"min_change\" (expected one of {})",
                        key.as_str(),
                        one_of(&SeriesKind::ALL.map(SeriesKind::as_str))
                    ),
                );
                ok = false;
                continue;
            };
            let what = format!("min_change.{}", kind.as_str());
            let Some(items) = self.string_list(value, &what) else {
                ok = false;
                continue;
            };
            let mut given: Vec<MinChange> = Vec::new();
            for item in items {
                match MinChange::parse(&item.value) {
                    Ok(m) => {
                        if given.iter().any(|g| g.same_form(m)) {
                            self.error(
                                item.node.span(),
                                format!(
                                    "\"{what}\" gives at most one absolute floor and one percentage"
                                ),
                            );
                            ok = false;
                        } else {
                            given.push(m);
                            out.push((kind, m));
                        }
                    }
                    Err(e) => {
                        self.error(item.node.span(), format!("\"{what}\": {e}"));
                        ok = false;
                    }
                }
            }
        }
        ok.then_some(out)
    }

    /// The `checks` list. `key` is `None` when the key itself was invalid (so key checks are not judged).
    fn checks(
        &mut self,
        node: &Node,
        problem: &dyn Fn(&Self, &checks::expr::Check) -> Option<String>,
    ) -> Option<Vec<CheckSpec>> {
        let Node::Sequence(items) = node else {
            self.error(
                &start_of(node),
                format!("expected a list for \"checks\", found {}", kind_of(node)),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items.iter() {
            // `- check: EXPR` with `severity:` / `warn:`, or the plain `- EXPR`.
            let (text_node, extra) = match item {
                Node::Mapping(m) => {
                    self.known_keys(m, alerts_section::CHECK_KEYS, "a check");
                    match self.required(m, "check", "a check") {
                        Some(n) => (n, Some(m)),
                        None => {
                            ok = false;
                            continue;
                        }
                    }
                }
                other => (other, None),
            };
            let Some(s) = self.string(text_node, "checks") else {
                ok = false;
                continue;
            };
            let check = match expr::parse(&s.value) {
                Ok(check) => check,
                Err(e) => {
                    let place = self.place_within(s.node, &s.value, e.offset);
                    self.errors.push(ConfigError {
                        place,
                        message: e.message,
                    });
                    ok = false;
                    continue;
                }
            };
            if let Some(message) = problem(self, &check) {
                self.error(s.node.span(), message);
                ok = false;
                continue;
            }
            let Some(place) = self.place(s.node.span()) else {
                ok = false;
                continue;
            };
            let extras = match extra {
                Some(m) => match self.check_extras(m, &check) {
                    Some(e) => e,
                    None => {
                        ok = false;
                        continue;
                    }
                },
                None => alerts_section::CheckExtras {
                    severity: None,
                    warn: None,
                },
            };
            out.push(CheckSpec {
                check,
                text: s.node.as_str().to_string(),
                place,
                severity: extras.severity,
                warn: extras.warn,
            });
        }
        ok.then_some(out)
    }

    /// Whether a parsed check fits its monitor.
    fn check_problem(
        &self,
        check: &checks::expr::Check,
        timestamp_column: Option<&Ident>,
        key: Option<&[Ident]>,
        columns: Option<&[Ident]>,
    ) -> Option<String> {
        let metric = check.metric;
        let shown = if metric == Metric::FreshnessSeconds {
            "freshness"
        } else {
            metric.as_str()
        };
        if metric.needs_timestamp() && timestamp_column.is_none() {
            return Some(format!(
                "{shown} checks need \"timestamp_column\" on the monitor"
            ));
        }
        if metric.is_key_metric() {
            // Any column set can be checked for uniqueness, beside the monitor's key: each is
            // counted in the same profile statement.
            let _ = key;
            for column in check.column.as_deref().unwrap_or_default().split(',') {
                if let Err(e) = Ident::new(column) {
                    return Some(format!("invalid column in check: {e}"));
                }
            }
        }
        if metric.is_column_metric() {
            let column = check.column.as_deref().unwrap_or_default();
            if let Err(e) = Ident::new(column) {
                return Some(format!("invalid column in check: {e}"));
            }
            if let Some(columns) = columns {
                if !columns.iter().any(|c| c.as_str() == column) {
                    let listed: Vec<&str> = columns.iter().map(Ident::as_str).collect();
                    return Some(format!(
                        "column \"{column}\" is not in the monitor's columns ({})",
                        listed.join(", ")
                    ));
                }
            }
        }
        None
    }
}
