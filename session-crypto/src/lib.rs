//! Cryptography for typed sessions, on [`ring`] alone.
//!
//! - [`token`]: random session tokens (256 bits, base64url) and the hash that
//!   turns a token into the id a server-side store keys its record by.
//! - [`KeyRing`]: one or more secrets (the first seals, every one opens), each
//!   stretched with HKDF-SHA256 into one subkey per [`Purpose`], so that a
//!   secret never feeds two algorithms directly and secrets rotate without
//!   logging anyone out.
//! - Sealing ([`KeyRing::seal`], [`KeyRing::open`]): AES-256-GCM with a random
//!   96-bit nonce and the purpose, a caller-given context and the key id bound
//!   in as associated data.
//! - Signing ([`KeyRing::sign`], [`KeyRing::verify`]): HMAC-SHA256 with
//!   constant-time verification.
//! - Field sealing ([`Sealed`], [`KeyRing::seal_str`]): keep one field of a
//!   session encrypted inside the stored record, so that a store dump does not
//!   show it.
//!
//! # Why AES-256-GCM
//!
//! ring offers AES-256-GCM and ChaCha20-Poly1305 with the same 96-bit nonce.
//! AES-GCM runs on the AES and carry-less multiply instructions that every
//! x86-64 and ARMv8 server has, where it is several times faster than
//! ChaCha20-Poly1305; it is also the AEAD that compliance reviews expect.
//! With random nonces a key must not seal more than about 2³² values; the
//! per-purpose subkeys and secret rotation ([`KeyRing::new`] with the new secret
//! first) keep each key far below that in practice.
//!
//! # Secrets in memory
//!
//! Key material that this crate holds as bytes is wiped when it is dropped
//! (the [`zeroize`](https://docs.rs/zeroize) crate): the random secret of
//! [`KeyRing::generate`], the plaintext of every [`Opened`] value, and the
//! encoded value inside [`Sealed::seal`]. The ring keeps no copy of the
//! secrets given to [`KeyRing::new`]: it borrows them only to derive its
//! keys, so wiping them is the caller's (hold them in [`Zeroizing`]).
//!
//! The derived AES-GCM and HMAC keys live in ring's own types
//! (`aead::LessSafeKey`, `hmac::Key`, and the `hkdf::Prk` used while
//! deriving), which keep their key schedules private and offer no way to
//! wipe them from outside: they are freed, not zeroized, when the ring is
//! dropped. Wiping is best effort in any case: copies that the compiler makes
//! on the stack, or that a growing `Vec` left behind, are out of reach.
//!
//! # Example
//!
//! ```
//! use session_crypto::{KeyRing, Purpose};
//!
//! let old = KeyRing::new(["an old secret that is at least 32 bytes long"])?;
//! let sealed = old.seal(Purpose::Cookie, b"_session", b"hello");
//!
//! // Rotate: the new secret comes first and seals, the old one still opens.
//! let ring = KeyRing::new([
//!     "a brand new secret, also 32 bytes or more",
//!     "an old secret that is at least 32 bytes long",
//! ])?;
//! let opened = ring.open(Purpose::Cookie, b"_session", &sealed)?;
//! assert_eq!(*opened.plaintext, b"hello");
//! assert!(!opened.sealed_with_primary); // time to reseal it
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod error;
mod field;
mod keyring;
mod seal;
mod sign;
pub mod token;

pub use error::{FieldError, KeyError, OpenError, VerifyError};
pub use field::Sealed;
pub use keyring::{KeyId, KeyRing, Purpose, MIN_SECRET_LEN};
pub use seal::{Opened, Plaintext, SEAL_OVERHEAD};
pub use sign::{Tag, TAG_LEN};
/// Re-exported: the wrapper that wipes [`Opened::plaintext`] on drop, for
/// callers that keep secrets of their own.
pub use zeroize::Zeroizing;
