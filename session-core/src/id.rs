//! Session ids: what stores key records by and what the application sees.

use std::fmt;

use session_crypto::token::{self, TOKEN_LEN};

/// The id of a session: for server-side stores the SHA-256 of the cookie
/// token (base64url, 43 characters), so it can be logged, shown in an admin
/// page or kept in an index without ever being usable as a cookie. For the
/// cookie store it is a random value sealed inside the cookie.
///
/// The field is private: an id is made from a token, drawn at random, or
/// parsed and checked. Every id is 43 ASCII characters, kept inline: ids
/// are made, cloned and compared on every request, and none of that
/// allocates.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Ascii43);

/// 43 base64url characters, inline. Ordered as bytes, which for ASCII is
/// the order of the text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ascii43([u8; TOKEN_LEN]);

/// Hashes the first and the last 8 characters only. Ids and tokens are
/// base64url of 256 bits from SHA-256 or the CSPRNG, so those 16 characters
/// (96 bits) are as random as the whole, and nobody can choose ids that
/// share them; hash maps keyed by ids (the memory store's) hash on every
/// request, and SipHash over two words costs far less than over 43 bytes.
/// Both ends count, so that hand-made ids that differ only at one end (say
/// numbered ones) still spread. Equal ids hash equal, and maps still compare
/// the whole id.
impl std::hash::Hash for Ascii43 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut head = [0u8; 8];
        let mut tail = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        tail.copy_from_slice(&self.0[TOKEN_LEN - 8..]);
        state.write_u64(u64::from_le_bytes(head));
        state.write_u64(u64::from_le_bytes(tail));
    }
}

impl Ascii43 {
    /// Checks the shape (exactly 43 base64url characters).
    fn parse(text: &str) -> Option<Self> {
        if !token::is_well_formed(text) {
            return None;
        }
        let mut bytes = [0u8; TOKEN_LEN];
        bytes.copy_from_slice(text.as_bytes());
        Some(Ascii43(bytes))
    }

    fn as_str(&self) -> &str {
        // Only base64url characters ever get in, so this never fails.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The cookie token of a server-side session: 43 base64url characters of
/// 256 random bits, kept inline like [`SessionId`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token(Ascii43);

impl Token {
    /// A fresh random token.
    pub(crate) fn random() -> Self {
        Token(Ascii43(token::random_token_ascii()))
    }

    /// A cookie value with the shape of a token; `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Ascii43::parse(text).map(Token)
    }

    /// The token as text, as the cookie carries it.
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The id of the record this token names.
    pub(crate) fn id(&self) -> SessionId {
        SessionId(Ascii43(token::token_id_ascii(self.0 .0)))
    }
}

/// A string is not a session id (43 base64url characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a session id: expected 43 base64url characters")]
pub struct InvalidId;

impl SessionId {
    /// The id of the record that a cookie token names.
    pub fn from_token(token: &str) -> Self {
        SessionId(Ascii43(token::token_id_ascii(token)))
    }

    /// A fresh random id (for stores whose token is not random, such as the
    /// cookie store).
    pub fn random() -> Self {
        SessionId(Ascii43(token::random_token_ascii()))
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
        Ascii43::parse(text).map(SessionId).ok_or(InvalidId)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.as_str())
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::str::FromStr for SessionId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        Self::parse(s)
    }
}

impl fmt::Debug for Token {
    // Never the token itself: it is a credential.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_text_and_order() {
        let token = Token::random();
        let id = token.id();
        assert_eq!(id.as_str(), token::token_id(token.as_str()));
        assert_eq!(SessionId::parse(id.as_str()), Ok(id.clone()));
        let (a, b) = (SessionId::random(), SessionId::random());
        assert_eq!(a.cmp(&b), a.as_str().cmp(b.as_str()));
        assert_eq!(Token::parse(token.as_str()), Some(token));
        assert_eq!(Token::parse("short"), None);
        assert_eq!(format!("{token:?}"), "Token(..)");
    }

    #[test]
    fn ids_that_differ_at_either_end_hash_apart() {
        use std::hash::BuildHasher;
        let hasher = std::collections::hash_map::RandomState::new();
        let base = "A".repeat(TOKEN_LEN);
        let hash = |text: &str| hasher.hash_one(SessionId::parse(text).unwrap());
        let first = format!("B{}", &base[1..]);
        let last = format!("{}B", &base[..TOKEN_LEN - 1]);
        assert_ne!(hash(&base), hash(&first));
        assert_ne!(hash(&base), hash(&last));
        assert_eq!(hash(&base), hash(&base.clone()));
    }
}
