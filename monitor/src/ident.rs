//! Identifiers from config (schemas, tables, columns). Their only constructor checks them; they reach SQL
//! only through a dialect's `quote_ident`, never by string pasting.

use std::fmt;

/// Longest identifier accepted (PostgreSQL allows 63 bytes, MySQL 64, BigQuery 300 for columns).
pub const MAX_IDENT_LEN: usize = 128;

/// A validated SQL identifier: non-empty, at most [`MAX_IDENT_LEN`] bytes, no control characters (which
/// includes NUL). Anything else, quotes and semicolons too, is allowed and is quoted when used.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident(String);

/// Why a string is not an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("identifier is empty")]
    Empty,
    #[error("identifier is longer than {MAX_IDENT_LEN} bytes")]
    TooLong,
    #[error("identifier contains a control character")]
    ControlChar,
}

impl Ident {
    pub fn new(s: &str) -> Result<Ident, IdentError> {
        if s.is_empty() {
            return Err(IdentError::Empty);
        }
        if s.len() > MAX_IDENT_LEN {
            return Err(IdentError::TooLong);
        }
        if s.chars().any(char::is_control) {
            return Err(IdentError::ControlChar);
        }
        Ok(Ident(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A table as configured: `schema.table`, or `table` alone (SQLite, or the connection's default schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    pub schema: Option<Ident>,
    pub name: Ident,
}

impl TableRef {
    /// Splits `schema.table` at the first dot. A table name with a dot in it cannot be written this way.
    pub fn parse(s: &str) -> Result<TableRef, IdentError> {
        match s.split_once('.') {
            Some((schema, name)) => Ok(TableRef {
                schema: Some(Ident::new(schema)?),
                name: Ident::new(name)?,
            }),
            None => Ok(TableRef {
                schema: None,
                name: Ident::new(s)?,
            }),
        }
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_long_and_control() {
        assert_eq!(Ident::new(""), Err(IdentError::Empty));
        assert_eq!(Ident::new(&"a".repeat(129)), Err(IdentError::TooLong));
        assert_eq!(Ident::new("a\0b"), Err(IdentError::ControlChar));
        assert_eq!(Ident::new("a\nb"), Err(IdentError::ControlChar));
        assert!(Ident::new("x\"; DROP TABLE t; --").is_ok());
    }

    #[test]
    fn table_ref_splits_at_first_dot() {
        let t = TableRef::parse("public.orders").unwrap();
        assert_eq!(t.schema.unwrap().as_str(), "public");
        assert_eq!(t.name.as_str(), "orders");
        assert!(TableRef::parse("orders").unwrap().schema.is_none());
        assert!(TableRef::parse(".orders").is_err());
    }
}
