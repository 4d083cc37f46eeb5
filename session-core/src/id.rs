//! Session ids: what stores key records by and what the application sees.

use std::fmt;

use session_crypto::token;

/// The id of a session: for server-side stores the SHA-256 of the cookie
/// token (base64url, 43 characters), so it can be logged, shown in an admin
/// page or kept in an index without ever being usable as a cookie. For the
/// cookie store it is a random value sealed inside the cookie.
///
/// The field is private: an id is made from a token, drawn at random, or
/// parsed and checked.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

/// A string is not a session id (43 base64url characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a session id: expected 43 base64url characters")]
pub struct InvalidId;

impl SessionId {
    /// The id of the record that a cookie token names.
    pub fn from_token(token: &str) -> Self {
        SessionId(token::token_id(token))
    }

    /// A fresh random id (for stores whose token is not random, such as the
    /// cookie store).
    pub fn random() -> Self {
        SessionId(token::random_token())
    }

    /// Checks and wraps an id, for example one read back from a store or
    /// from an admin request.
    ///
    /// ```
    /// use session_core::SessionId;
    ///
    /// let id = SessionId::random();
    /// assert_eq!(SessionId::parse(id.as_str()), Ok(id));
    /// assert!(SessionId::parse("../../etc/passwd").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        if token::is_well_formed(text) {
            Ok(SessionId(text.to_owned()))
        } else {
            Err(InvalidId)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SessionId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        Self::parse(s)
    }
}
