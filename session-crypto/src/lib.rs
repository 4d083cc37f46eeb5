//! Cryptography for typed sessions, on [`ring`] alone.
//!
//! - [`token`]: random session tokens (256 bits, base64url) and the hash that
//!   turns a token into the id a server-side store keys its record by.
//! - [`KeyRing`]: one or more secrets (the first seals, every one opens), each
//!   stretched with HKDF-SHA256 into one subkey per [`Purpose`], so that a
//!   secret never feeds two algorithms directly and secrets rotate without
//!   logging anyone out.
//! - Sealing ([`KeyRing::seal`], [`KeyRing::open`]): AES-256-GCM under a
//!   per-process subkey named by a random salt, with counter nonces, and the
//!   purpose, a caller-given context and the key id bound in as associated
//!   data (see [*Nonces and the per-key budget*](#nonces-and-the-per-key-budget)).
//! - Signing ([`KeyRing::sign`], [`KeyRing::verify`]): HMAC-SHA256 with
//!   constant-time verification.
//! - Field sealing ([`Sealed`], [`KeyRing::seal_str`]): keep one field of a
//!   session encrypted inside the stored record, so that a store dump does not
//!   show it, bound to the field's name so that it cannot be moved to another
//!   field.
//!
//! # Why AES-256-GCM
//!
//! ring offers AES-256-GCM and ChaCha20-Poly1305 with the same 96-bit nonce.
//! AES-GCM runs on the AES and carry-less multiply instructions that every
//! x86-64 and ARMv8 server has, where it is several times faster than
//! ChaCha20-Poly1305; it is also the AEAD that compliance reviews expect.
//!
//! # Nonces and the per-key budget
//!
//! AES-GCM fails badly if a nonce repeats under one key, and its guarantees
//! also wear thin as one key encrypts more. With random 96-bit nonces one
//! key may seal only about 2³² values (NIST SP 800-38D), and a cookie store
//! that reseals on every response reaches that in days on a busy site.
//! Format 2 (what [`KeyRing::seal`] writes) therefore never lets one AES key
//! get near either limit, whatever the uptime and traffic:
//!
//! ```text
//! version (1, = 2) | key id (4) | salt (16) | nonce (12) | ciphertext | tag (16)
//! subkey = HKDF-SHA256(salt, root, label || "/format-2 subkey")
//! root   = HKDF-SHA256(secret) expanded with label || "/format-2 root"
//! nonce  = random prefix (4) | counter (8)
//! ```
//!
//! - **One subkey per process and rotation.** Each [`KeyRing`] (clones
//!   share it) draws, on its first seal for a purpose, 16 random bytes of
//!   salt and 4 of nonce prefix, and derives that salt's AES-256-GCM subkey.
//!   The salt travels in the value, so any process holding the secret can
//!   derive the subkey and open it.
//! - **Counter nonces: no repeat within a subkey.** Each seal reserves, with
//!   one atomic add, a range of a 64-bit counter as long as the AES blocks
//!   it costs (its plaintext's 16-byte blocks plus one for the tag), and
//!   uses the range's start as its nonce. Ranges never overlap, so no two
//!   seals under one subkey share a nonce, across threads too.
//! - **A budget per subkey: 2³⁶ blocks.** Once a subkey has reserved 2³⁶
//!   blocks (1 TiB of plaintext) the next seal draws a new salt and subkey
//!   (one HKDF, microseconds); the spent one stays available for opening.
//!   A reservation that does not fit is never used, so no subkey processes
//!   more. The confidentiality bound of AES-GCM with unique nonces is about
//!   (σ + q + 1)² / 2¹²⁹ for σ plaintext blocks in q messages: counting
//!   σ + q ≤ 2³⁶ keeps it at 2⁻⁵⁷ per subkey, the margin that TLS 1.3 and
//!   QUIC aim for. At 257 blocks (a full 4 KiB cookie) per seal that is 2.6
//!   × 10⁸ seals, some hours at 10 000 seals a second, after which sealing
//!   simply continues under the next subkey. (Forgery resistance depends on
//!   how many forgeries are tried and how long messages are, not on how
//!   much was sealed.)
//! - **Salts do not collide.** Two subkeys coincide only if their 128-bit
//!   salts do: among n subkeys ever drawn under one secret the chance is at
//!   most n² / 2¹²⁹, 2⁻⁶⁵ even for n = 2³² process starts and rotations.
//!   Even then their nonces would repeat only if the random 32-bit prefixes
//!   matched as well.
//! - **Across all subkeys** of one secret, the bounds add up to at most
//!   T / 2⁹³ + n² / 2¹²⁹ for T blocks ever sealed: below 2⁻⁴³ even after 2⁵⁰
//!   blocks (16 PiB of cookies), on top of HKDF-SHA256 being a PRF.
//! - **Opening stays as fast.** The current sealing subkey and the 32 most
//!   recent others (this process's spent ones, and those of peers whose
//!   values it opened) are kept, so opening a value sealed by this process
//!   or a few peers costs one comparison of the salt and no HKDF; an unknown
//!   salt costs one HKDF (about a microsecond) and is kept only once a value
//!   under it has opened, so forged values cannot push real subkeys out.
//! - **Format 1** values (random nonce under one key per secret and
//!   purpose, from before format 2) still open, with
//!   [`Opened::legacy_format`] set so that callers seal them again; the
//!   cookie store does so on the next response.
//!
//! One caution: a process that forks after its ring has sealed would hand
//! the same subkey and counter to two processes. Build the [`KeyRing`] after
//! forking (as web servers do anyway).
//!
//! # Secrets in memory
//!
//! Key material that this crate holds as bytes is wiped when it is dropped
//! (the [`zeroize`](https://docs.rs/zeroize) crate): the format-2 roots of
//! every secret (the HKDF outputs that the sealing subkeys are derived
//! from), the random secret of [`KeyRing::generate`], the plaintext of every
//! [`Opened`] value, and the encoded value inside [`Sealed::seal`]. The ring keeps no copy of the
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

mod error;
mod field;
mod keyring;
#[cfg(feature = "known-answer-tests")]
#[doc(hidden)]
pub mod known_answer;
mod seal;
mod sign;
mod subkey;
pub mod token;

pub use error::{FieldError, KeyError, OpenError, VerifyError};
pub use field::Sealed;
pub use keyring::{KeyId, KeyRing, Purpose, MIN_SECRET_LEN};
pub use seal::{Opened, Plaintext, SEAL_OVERHEAD, SEAL_OVERHEAD_V1};
pub use sign::{Tag, TAG_LEN};
/// Re-exported: the wrapper that wipes [`Opened::plaintext`] on drop, for
/// callers that keep secrets of their own.
pub use zeroize::Zeroizing;
