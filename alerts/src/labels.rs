//! Label sets and matchers: what an alert is (its labels) and how config selects alerts (matchers in
//! Alertmanager's syntax: `name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"`).
//!
//! A label whose value is empty is the same as an absent label, as in Prometheus: `LabelSet::insert`
//! with an empty value removes the label, and `team=""` matches alerts without a `team`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A label name: `[a-zA-Z_][a-zA-Z0-9_]*`. The only constructor checks it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelName(String);

/// Why a label name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label name {name:?}: must match [a-zA-Z_][a-zA-Z0-9_]*")]
pub struct LabelNameError {
    pub name: String,
}

impl LabelName {
    pub fn new(name: impl Into<String>) -> Result<Self, LabelNameError> {
        let name = name.into();
        if is_label_name(&name) {
            Ok(LabelName(name))
        } else {
            Err(LabelNameError { name })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for LabelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for LabelName {
    type Err = LabelNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LabelName::new(s)
    }
}

impl Serialize for LabelName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LabelName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        LabelName::new(s).map_err(serde::de::Error::custom)
    }
}

/// A set of labels, sorted by name. Serializes as a JSON/YAML map.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LabelSet(BTreeMap<LabelName, String>);

impl LabelSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a set from `(name, value)` pairs, refusing the first invalid name.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, LabelNameError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut set = LabelSet::new();
        for (k, v) in pairs {
            set.insert(LabelName::new(k)?, v);
        }
        Ok(set)
    }

    /// Sets a label; an empty value removes it (empty and absent are the same).
    pub fn insert(&mut self, name: LabelName, value: impl Into<String>) {
        let value = value.into();
        if value.is_empty() {
            self.0.remove(&name);
        } else {
            self.0.insert(name, value);
        }
    }

    /// The value of a label, `None` when absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a label with absent read as empty, which is how matchers see it.
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&LabelName, &str)> {
        self.0.iter().map(|(k, v)| (k, v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels whose names are in `names` (absent ones are left out).
    pub fn subset<'a>(&self, names: impl IntoIterator<Item = &'a LabelName>) -> LabelSet {
        let mut out = LabelSet::new();
        for n in names {
            if let Some(v) = self.0.get(n) {
                out.0.insert(n.clone(), v.clone());
            }
        }
        out
    }

    /// Adds every label of `other` that this set does not have yet.
    pub fn merge_missing(&mut self, other: &LabelSet) {
        for (k, v) in &other.0 {
            self.0.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

/// `{a="1", b="2"}`, values quoted and escaped as in matchers.
impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}=")?;
            write_quoted(f, v)?;
        }
        f.write_str("}")
    }
}

fn write_quoted(f: &mut impl fmt::Write, v: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in v.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// The four matcher operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One condition on one label. Regexes are anchored at both ends, as in Alertmanager.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: LabelName,
    op: MatchOp,
    value: String,
    regex: Option<regex::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}
impl Eq for Matcher {}

/// What was wrong with a matcher, and the text it was found in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid matcher {text:?} at character {offset}: {reason}")]
pub struct MatcherError {
    /// The whole text that was parsed.
    pub text: String,
    /// Character offset (0-based) in `text` where the problem is.
    pub offset: usize,
    pub reason: String,
}

impl Matcher {
    /// Builds a matcher from parts; a regex value is compiled (anchored) here.
    pub fn new(name: LabelName, op: MatchOp, value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                regex::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("bad regex {value:?}: {}", one_line(&e.to_string())))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// Parses one matcher: `name="value"`, `name != "v"`, `name=~"a|b"`, `name!~'x'` or an unquoted
    /// value (`severity=critical`). Quoted values take the escapes `\"`, `\\`, `\n` and `\t`.
    pub fn parse(text: &str) -> Result<Self, MatcherError> {
        let mut p = Parser::new(text);
        p.skip_ws();
        let m = p.matcher()?;
        p.skip_ws();
        if let Some(c) = p.peek() {
            return Err(p.error(format!("unexpected {c:?} after the matcher")));
        }
        Ok(m)
    }

    pub fn name(&self) -> &LabelName {
        &self.name
    }

    pub fn op(&self) -> MatchOp {
        self.op
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value (empty when absent) satisfies the matcher.
    pub fn matches_value(&self, v: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(r)) => r.is_match(v),
            (MatchOp::NotRegex, Some(r)) => !r.is_match(v),
            // `new` always compiles a regex for the regex operators.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.value(self.name.as_str()))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name, self.op.as_str())?;
        write_quoted(f, &self.value)
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Matcher::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A conjunction of matchers: all must match. The empty list matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Matchers(Vec<Matcher>);

impl Matchers {
    pub fn new(matchers: Vec<Matcher>) -> Self {
        Matchers(matchers)
    }

    /// Parses a comma-separated list, optionally in braces: `{a="1", b=~"x|y"}` or `a="1",b!="2"`.
    pub fn parse(text: &str) -> Result<Self, MatcherError> {
        let mut p = Parser::new(text);
        p.skip_ws();
        let braced = p.eat('{');
        let mut out = Vec::new();
        loop {
            p.skip_ws();
            match p.peek() {
                None if !braced => break,
                Some('}') if braced => {
                    p.bump();
                    break;
                }
                None => return Err(p.error("missing closing '}'".into())),
                _ => {}
            }
            out.push(p.matcher()?);
            p.skip_ws();
            if !p.eat(',') {
                if braced && !p.eat('}') {
                    return Err(p.error("expected ',' or '}'".into()));
                }
                if braced {
                    break;
                }
                if let Some(c) = p.peek() {
                    return Err(p.error(format!("expected ',' but found {c:?}")));
                }
                break;
            }
        }
        p.skip_ws();
        if let Some(c) = p.peek() {
            return Err(p.error(format!("unexpected {c:?} after the matchers")));
        }
        Ok(Matchers(out))
    }

    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Matcher> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

impl FromIterator<Matcher> for Matchers {
    fn from_iter<T: IntoIterator<Item = Matcher>>(iter: T) -> Self {
        Matchers(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Matchers {
    type Item = &'a Matcher;
    type IntoIter = std::slice::Iter<'a, Matcher>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A hand-written scanner over characters, so errors can say where they are.
struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn error_at(&self, offset: usize, reason: String) -> MatcherError {
        MatcherError {
            text: self.text.to_string(),
            offset,
            reason,
        }
    }

    fn error(&self, reason: String) -> MatcherError {
        self.error_at(self.pos, reason)
    }

    fn matcher(&mut self) -> Result<Matcher, MatcherError> {
        let name_start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += 1;
        }
        let name: String = self.chars[name_start..self.pos].iter().collect();
        if name.is_empty() {
            return Err(match self.peek() {
                None => self.error("expected a label name".into()),
                Some(c) => self.error(format!("expected a label name, found {c:?}")),
            });
        }
        let name = LabelName::new(name)
            .map_err(|e| self.error_at(name_start, format!("{} {:?}", "bad label name", e.name)))?;
        self.skip_ws();
        let op_start = self.pos;
        let op = match (self.bump(), self.peek()) {
            (Some('='), Some('~')) => {
                self.bump();
                MatchOp::Regex
            }
            (Some('!'), Some('~')) => {
                self.bump();
                MatchOp::NotRegex
            }
            (Some('!'), Some('=')) => {
                self.bump();
                MatchOp::NotEqual
            }
            (Some('='), _) => MatchOp::Equal,
            _ => {
                return Err(self.error_at(
                    op_start,
                    format!("expected one of = != =~ !~ after label name {name:?}"),
                ))
            }
        };
        self.skip_ws();
        let value_start = self.pos;
        let value = match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.bump();
                self.quoted(q, value_start)?
            }
            _ => {
                let start = self.pos;
                while self.peek().is_some_and(|c| {
                    !c.is_whitespace()
                        && !matches!(c, ',' | '{' | '}' | '"' | '\'' | '=' | '!' | '~')
                }) {
                    self.pos += 1;
                }
                self.chars[start..self.pos].iter().collect()
            }
        };
        Matcher::new(name, op, value).map_err(|reason| self.error_at(value_start, reason))
    }

    fn quoted(&mut self, quote: char, start: usize) -> Result<String, MatcherError> {
        let mut out = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(self.error_at(
                        start,
                        format!("unterminated quoted value (missing {quote})"),
                    ))
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') => {
                    let at = self.pos - 1;
                    match self.bump() {
                        Some('"') => out.push('"'),
                        Some('\'') => out.push('\''),
                        Some('\\') => out.push('\\'),
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some(c) => {
                            // Regex escapes such as `\d` or `\.` pass through untouched.
                            out.push('\\');
                            out.push(c);
                        }
                        None => {
                            return Err(self.error_at(at, "escape at the end of the text".into()))
                        }
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn label_names_are_checked() {
        for ok in ["a", "_", "severity", "A_1", "_x9"] {
            assert!(LabelName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "é", "a b"] {
            let err = LabelName::new(bad).unwrap_err();
            assert_eq!(err.name, bad);
        }
        assert!(serde_json::from_str::<LabelSet>(r#"{"ok":"1","bad-name":"2"}"#).is_err());
    }

    #[test]
    fn empty_value_is_absent_and_set_is_sorted() {
        let mut s = ls(&[("b", "2"), ("a", "1")]);
        assert_eq!(s.to_string(), r#"{a="1", b="2"}"#);
        s.insert(LabelName::new("a").unwrap(), "");
        assert!(!s.contains("a"));
        assert_eq!(s.len(), 1);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"b":"2"}"#);
        assert_eq!(serde_json::from_str::<LabelSet>(&json).unwrap(), s);
    }

    #[test]
    fn matcher_table() {
        let labels = ls(&[
            ("severity", "critical"),
            ("team", "payments"),
            ("dataset", "public.orders"),
        ]);
        let table: &[(&str, bool)] = &[
            (r#"severity="critical""#, true),
            (r#"severity = "critical""#, true),
            (r#"severity="warning""#, false),
            (r#"severity!="warning""#, true),
            (r#"team=~"payments|billing""#, true),
            (r#"team=~"pay""#, false), // anchored: no substring match
            (r#"team=~"pay.*""#, true),
            (r#"team!~"payments|billing""#, false),
            (r#"dataset="public.orders""#, true),
            (r#"dataset=~"public\.orders""#, true),
            (r#"missing="""#, true), // absent reads as empty
            (r#"missing!="""#, false),
            (r#"missing=~".*""#, true),
            ("severity=critical", true),
            ("severity='critical'", true),
        ];
        for (text, want) in table {
            let m = Matcher::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(m.matches(&labels), *want, "{text}");
        }
    }

    #[test]
    fn quoting_and_escapes_round_trip() {
        let m = Matcher::parse(r#"msg="say \"hi\"\\n\n""#).unwrap();
        assert_eq!(m.value(), "say \"hi\"\\n\n");
        let shown = m.to_string();
        assert_eq!(shown, r#"msg="say \"hi\"\\n\n""#);
        assert_eq!(Matcher::parse(&shown).unwrap(), m);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Matcher>(&json).unwrap(), m);
        // Regex escapes pass through.
        let r = Matcher::parse(r#"v=~"\d+""#).unwrap();
        assert_eq!(r.value(), r"\d+");
        assert!(r.matches_value("123"));
        assert!(!r.matches_value("12a"));
    }

    #[test]
    fn errors_name_the_offending_text_and_place() {
        let cases: &[(&str, usize, &str)] = &[
            (r#"team=~"pay(""#, 6, "bad regex"),
            (r#"team=="x""#, 5, "unexpected '='"),
            (r#"team"x""#, 4, "expected one of"),
            (r#"="x""#, 0, "expected a label name"),
            (r#"1team="x""#, 0, "bad label name"),
            (r#"team="x"#, 5, "unterminated"),
            (r#"team="x" extra"#, 9, "unexpected 'e'"),
            ("", 0, "expected a label name"),
        ];
        for (text, offset, reason) in cases {
            let e = Matcher::parse(text).expect_err(text);
            assert_eq!(e.text, *text);
            assert!(e.reason.contains(reason), "{text}: {}", e.reason);
            assert!(e.to_string().contains(&format!("{text:?}")), "{e}");
            assert_eq!(e.offset, *offset, "{text}: {e}");
        }
    }

    #[test]
    fn matchers_list_all_must_match() {
        let labels = ls(&[("a", "1"), ("b", "2")]);
        for text in [
            r#"{a="1", b=~"2|3"}"#,
            r#"a="1",b="2""#,
            "{}",
            "",
            " { a = 1 } ",
        ] {
            let ms = Matchers::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(ms.matches(&labels), "{text}");
        }
        let ms = Matchers::parse(r#"{a="1", b="3"}"#).unwrap();
        assert_eq!(ms.len(), 2);
        assert!(!ms.matches(&labels));
        assert_eq!(ms.to_string(), r#"{a="1", b="3"}"#);
        assert!(Matchers::parse(r#"{a="1""#).is_err());
        assert!(Matchers::parse(r#"a="1" b="2""#).is_err());
        assert!(Matchers::parse(r#"{a="1"} x"#).is_err());
    }
}
