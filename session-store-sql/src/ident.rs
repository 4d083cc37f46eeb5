//! Table and schema names: checked once, then quoted into the SQL text.
//!
//! Names are configuration, not user input, but they are the only part of
//! the SQL that is not a bound parameter, so they are held to a strict
//! alphabet that needs no escaping in any of the three databases.

use crate::error::ConfigError;

/// The longest accepted name. PostgreSQL truncates identifiers at 63 bytes
/// and MySQL refuses more than 64; index names append up to 15 characters.
pub(crate) const MAX_NAME_LEN: usize = 48;

/// A checked identifier: ASCII letters, digits and underscores, not starting
/// with a digit, at most [`MAX_NAME_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ident(String);

impl Ident {
    /// Checks `name`; `what` says which setting it came from, for the error.
    pub(crate) fn parse(what: &'static str, name: &str) -> Result<Self, ConfigError> {
        let bad = |reason| ConfigError::InvalidName {
            what,
            name: name.to_owned(),
            reason,
        };
        let mut chars = name.chars();
        match chars.next() {
            None => return Err(bad("it is empty")),
            Some(c) if c.is_ascii_digit() => return Err(bad("it starts with a digit")),
            Some(_) => {}
        }
        if name.len() > MAX_NAME_LEN {
            return Err(bad("it is longer than 48 characters"));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad(
                "only ASCII letters, digits and underscores are allowed",
            ));
        }
        Ok(Ident(name.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where the table lives: an optional schema (PostgreSQL schema, MySQL
/// database, SQLite attached database) and the table name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableRef {
    pub(crate) schema: Option<Ident>,
    pub(crate) table: Ident,
}

impl TableRef {
    pub(crate) fn new(schema: Option<&str>, table: &str) -> Result<Self, ConfigError> {
        Ok(TableRef {
            schema: schema.map(|s| Ident::parse("schema", s)).transpose()?,
            table: Ident::parse("table", table)?,
        })
    }

    /// The default table, `sessions`, in the connection's default schema.
    pub(crate) fn default_table() -> Self {
        TableRef {
            schema: None,
            table: Ident(crate::DEFAULT_TABLE.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for ok in ["sessions", "_s", "Sess_2024", &"a".repeat(MAX_NAME_LEN)] {
            assert!(Ident::parse("table", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_anything_that_would_need_quoting() {
        for bad in [
            "",
            "1sessions",
            "sessions;drop",
            "a b",
            "s\"x",
            "s`x",
            "é",
            "public.sessions",
            &"a".repeat(MAX_NAME_LEN + 1),
        ] {
            let err = Ident::parse("table", bad).unwrap_err();
            assert!(err.to_string().contains("table"), "{err}");
        }
    }
}
