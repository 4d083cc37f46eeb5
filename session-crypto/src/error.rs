//! Errors, one type per operation.

/// Building a [`KeyRing`](crate::KeyRing) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key ring needs at least one secret.
    #[error("no session secret was given: at least one secret of 32 bytes or more is required")]
    NoSecret,
    /// A secret is shorter than [`MIN_SECRET_LEN`](crate::MIN_SECRET_LEN).
    #[error(
        "session secret #{index} is {length} bytes long: each secret must be at least 32 bytes"
    )]
    SecretTooShort {
        /// Position of the secret in the list (0 = the sealing one).
        index: usize,
        /// Its length in bytes.
        length: usize,
    },
}

/// A sealed value could not be opened.
///
/// Deliberately opaque: whether the value was truncated, tampered with,
/// sealed for another purpose or context, or sealed with a key this ring does
/// not hold is not told apart, so an attacker learns nothing from the answer
/// and callers have exactly one case to handle (treat it as absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sealed value could not be opened")]
pub struct OpenError(pub(crate) ());

/// A signature did not verify under any key of the ring. Opaque for the same
/// reasons as [`OpenError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the signature does not verify")]
pub struct VerifyError(pub(crate) ());

/// Sealing or opening a [`Sealed`](crate::Sealed) field failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The value could not be encoded before sealing.
    #[error("the field could not be encoded for sealing: {0}")]
    Encode(#[source] serde_json::Error),
    /// The ciphertext did not open (tampered, or sealed with an unknown key).
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The ciphertext opened but its content is not a value of the expected type.
    #[error("the sealed field opened but does not decode: {0}")]
    Decode(#[source] serde_json::Error),
}
