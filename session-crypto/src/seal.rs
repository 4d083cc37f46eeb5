//! Authenticated encryption: AES-256-GCM under the ring's keys.
//!
//! Layout of a sealed value: `version (1) | key id (4) | nonce (12) |
//! ciphertext | tag (16)`. The associated data is the purpose label, a zero
//! byte, the caller's context, and the version and key id, so a value cannot
//! be moved to another purpose or context, nor relabelled with another key id.

use std::fmt;

use ring::aead::{Aad, Nonce, NONCE_LEN};
use zeroize::Zeroizing;

use crate::error::OpenError;
use crate::keyring::{KeyRing, Purpose};
use crate::token::random_bytes;

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;

/// Bytes a sealed value adds to its plaintext (header, nonce and tag).
pub const SEAL_OVERHEAD: usize = HEADER_LEN + 16;

/// The result of opening a sealed value.
///
/// The plaintext is wiped when the value is dropped ([`Zeroizing`]), and
/// `Debug` shows only its length.
///
/// ```
/// use session_crypto::{KeyRing, Purpose};
///
/// let ring = KeyRing::generate();
/// let opened = ring.open(Purpose::Field, b"pin", &ring.seal(Purpose::Field, b"pin", b"1234"))?;
/// assert_eq!(*opened.plaintext, b"1234");
/// assert!(!format!("{opened:?}").contains("1234"));
/// # Ok::<(), session_crypto::OpenError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Opened {
    /// The plaintext, zeroized on drop. Take it out with
    /// [`into_plaintext`](Self::into_plaintext) to keep it without a copy
    /// (it is then the caller's to wipe).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// Whether the sealing (first) key of the ring opened it. When false, the
    /// value was sealed with an older secret and should be sealed again.
    pub sealed_with_primary: bool,
}

impl Opened {
    /// The plaintext as a plain `Vec`, without a copy: from here on the
    /// caller decides how long it lives and whether to wipe it.
    pub fn into_plaintext(mut self) -> Vec<u8> {
        std::mem::take(&mut *self.plaintext)
    }
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field(
                "plaintext",
                &format_args!("<{} bytes>", self.plaintext.len()),
            )
            .field("sealed_with_primary", &self.sealed_with_primary)
            .finish()
    }
}

/// Associated data up to this long (a cookie name up to about 45 bytes)
/// stays on the stack: it is built on every seal and open.
const INLINE_AAD: usize = 64;

/// The associated data: label, zero byte, context, version and key id.
enum AssociatedData {
    Inline([u8; INLINE_AAD], usize),
    Heap(Vec<u8>),
}

impl AssociatedData {
    fn new(purpose: Purpose, context: &[u8], header: &[u8]) -> Self {
        let label = purpose.label();
        let parts: [&[u8]; 4] = [label, &[0], context, &header[..5]];
        let len = parts.iter().map(|p| p.len()).sum();
        if len > INLINE_AAD {
            return AssociatedData::Heap(parts.concat());
        }
        let mut buf = [0u8; INLINE_AAD];
        let mut at = 0;
        for part in parts {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        AssociatedData::Inline(buf, len)
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            AssociatedData::Inline(buf, len) => &buf[..*len],
            AssociatedData::Heap(vec) => vec,
        }
    }
}

/// The plaintext being written by [`KeyRing::seal_with`]: append-only, so
/// the header in front of it stays as sealed.
#[derive(Debug)]
pub struct Plaintext<'a> {
    buf: &'a mut Vec<u8>,
}

impl Plaintext<'_> {
    /// Appends one byte.
    #[inline]
    pub fn push(&mut self, byte: u8) {
        self.buf.push(byte);
    }

    /// Appends bytes.
    #[inline]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// How many bytes of plaintext are written so far.
    pub fn len(&self) -> usize {
        self.buf.len() - HEADER_LEN
    }

    /// Whether nothing is written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl KeyRing {
    /// Seals `plaintext` with the first key for `purpose`, binding `context`
    /// (for example the cookie name) into the result.
    ///
    /// ```
    /// use session_crypto::{KeyRing, Purpose};
    ///
    /// let ring = KeyRing::generate();
    /// let sealed = ring.seal(Purpose::Field, b"note", b"secret text");
    /// assert_eq!(*ring.open(Purpose::Field, b"note", &sealed)?.plaintext, b"secret text");
    /// assert!(ring.open(Purpose::Field, b"other", &sealed).is_err());
    /// # Ok::<(), session_crypto::OpenError>(())
    /// ```
    pub fn seal(&self, purpose: Purpose, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        self.seal_with(purpose, context, plaintext.len(), |out| {
            out.extend_from_slice(plaintext)
        })
    }

    /// [`seal`](Self::seal) with the plaintext written by `write` straight
    /// into the buffer that is then encrypted in place: no copy of the
    /// plaintext is made. `len_hint` (the plaintext's length, if known)
    /// sizes the buffer.
    ///
    /// ```
    /// use session_crypto::{KeyRing, Purpose};
    ///
    /// let ring = KeyRing::generate();
    /// let sealed = ring.seal_with(Purpose::Cookie, b"c", 11, |p| {
    ///     p.extend_from_slice(b"hello");
    ///     p.extend_from_slice(b" world");
    /// });
    /// assert_eq!(*ring.open(Purpose::Cookie, b"c", &sealed)?.plaintext, b"hello world");
    /// # Ok::<(), session_crypto::OpenError>(())
    /// ```
    pub fn seal_with(
        &self,
        purpose: Purpose,
        context: &[u8],
        len_hint: usize,
        write: impl FnOnce(&mut Plaintext<'_>),
    ) -> Vec<u8> {
        let key = self.primary();
        let nonce = random_bytes::<NONCE_LEN>();
        let mut out = Vec::with_capacity(len_hint + SEAL_OVERHEAD);
        out.push(VERSION);
        out.extend_from_slice(key.id.as_bytes());
        out.extend_from_slice(&nonce);
        let aad = AssociatedData::new(purpose, context, &out);
        write(&mut Plaintext { buf: &mut out });
        let tag = key
            .aead(purpose)
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_slice()),
                &mut out[HEADER_LEN..],
            )
            // AES-GCM refuses only inputs beyond 64 GiB.
            .expect("AES-256-GCM seals any plaintext below 64 GiB");
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Opens a value sealed by [`seal`](Self::seal) with any key of the ring,
    /// for the same purpose and context. Total: any input gives either the
    /// plaintext or the one opaque [`OpenError`], never a panic.
    pub fn open(
        &self,
        purpose: Purpose,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<Opened, OpenError> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(OpenError(()));
        }
        self.open_vec(purpose, context, sealed.to_vec())
    }

    /// [`open`](Self::open) that decrypts in the buffer it is given (for
    /// example the one base64 decoding just made) and answers the plaintext
    /// in that same buffer: no copy, no other allocation. Same checks, same
    /// answers.
    ///
    /// ```
    /// use session_crypto::{KeyRing, Purpose};
    ///
    /// let ring = KeyRing::generate();
    /// let sealed = ring.seal(Purpose::Cookie, b"c", b"data");
    /// assert_eq!(*ring.open_vec(Purpose::Cookie, b"c", sealed)?.plaintext, b"data");
    /// # Ok::<(), session_crypto::OpenError>(())
    /// ```
    pub fn open_vec(
        &self,
        purpose: Purpose,
        context: &[u8],
        mut sealed: Vec<u8>,
    ) -> Result<Opened, OpenError> {
        if sealed.len() < SEAL_OVERHEAD || sealed[0] != VERSION {
            return Err(OpenError(()));
        }
        let header = &sealed[..HEADER_LEN];
        let key_id: [u8; 4] = header[1..5].try_into().map_err(|_| OpenError(()))?;
        let nonce: [u8; NONCE_LEN] = header[5..].try_into().map_err(|_| OpenError(()))?;
        let aad = AssociatedData::new(purpose, context, header);
        let mut candidates = self.candidates(key_id).peekable();
        while let Some((index, key)) = candidates.next() {
            let open = |buf: &mut [u8]| {
                key.aead(purpose)
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad.as_slice()),
                        buf,
                    )
                    .map(|plaintext| plaintext.len())
            };
            // A failed open may leave its buffer garbled: while another key
            // (one with a colliding id) remains to try, work on a copy.
            let opened = if candidates.peek().is_some() {
                let mut copy = sealed[HEADER_LEN..].to_vec();
                open(&mut copy).map(|len| {
                    copy.truncate(len);
                    copy
                })
            } else {
                open(&mut sealed[HEADER_LEN..]).map(|len| {
                    sealed.copy_within(HEADER_LEN..HEADER_LEN + len, 0);
                    sealed.truncate(len);
                    std::mem::take(&mut sealed)
                })
            };
            if let Ok(plaintext) = opened {
                return Ok(Opened {
                    plaintext: Zeroizing::new(plaintext),
                    sealed_with_primary: index == 0,
                });
            }
        }
        Err(OpenError(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "secret A secret A secret A secret A";
    const B: &str = "secret B secret B secret B secret B";

    fn ring(secrets: &[&str]) -> KeyRing {
        KeyRing::new(secrets).unwrap()
    }

    #[test]
    fn round_trip_and_overhead() {
        let r = ring(&[A]);
        for len in [0usize, 1, 64, 1024, 3000] {
            let msg = vec![7u8; len];
            let sealed = r.seal(Purpose::Cookie, b"_session", &msg);
            assert_eq!(sealed.len(), len + SEAL_OVERHEAD);
            let opened = r.open(Purpose::Cookie, b"_session", &sealed).unwrap();
            assert_eq!(*opened.plaintext, msg);
            assert!(opened.sealed_with_primary);
        }
    }

    #[test]
    fn nonces_differ() {
        let r = ring(&[A]);
        assert_ne!(
            r.seal(Purpose::Cookie, b"c", b"x"),
            r.seal(Purpose::Cookie, b"c", b"x")
        );
    }

    #[test]
    fn purpose_context_and_key_are_bound() {
        let r = ring(&[A]);
        let sealed = r.seal(Purpose::Cookie, b"_session", b"data");
        assert!(r.open(Purpose::Field, b"_session", &sealed).is_err());
        assert!(r.open(Purpose::Cookie, b"_other", &sealed).is_err());
        assert!(ring(&[B])
            .open(Purpose::Cookie, b"_session", &sealed)
            .is_err());
    }

    #[test]
    fn old_keys_open_and_report_it() {
        let old = ring(&[A]).seal(Purpose::Cookie, b"c", b"v");
        let rotated = ring(&[B, A]);
        let opened = rotated.open(Purpose::Cookie, b"c", &old).unwrap();
        assert_eq!(*opened.plaintext, b"v");
        assert!(!opened.sealed_with_primary);
    }

    #[test]
    fn every_single_bit_flip_and_truncation_fails() {
        let r = ring(&[A]);
        let sealed = r.seal(Purpose::Cookie, b"c", b"some session bytes");
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut bad = sealed.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    r.open(Purpose::Cookie, b"c", &bad).is_err(),
                    "byte {i} bit {bit}"
                );
            }
        }
        for len in 0..sealed.len() {
            assert!(r.open(Purpose::Cookie, b"c", &sealed[..len]).is_err());
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(r.open(Purpose::Cookie, b"c", &longer).is_err());
    }

    #[test]
    fn in_place_forms_agree_with_the_plain_ones() {
        let r = ring(&[A]);
        let long_context = vec![b'x'; 200];
        for context in [&b"_session"[..], &long_context] {
            let sealed = r.seal_with(Purpose::Cookie, context, 0, |p| {
                assert!(p.is_empty());
                p.push(1);
                p.extend_from_slice(b"23");
                assert_eq!(p.len(), 3);
            });
            assert_eq!(sealed.len(), 3 + SEAL_OVERHEAD);
            let opened = r.open(Purpose::Cookie, context, &sealed).unwrap();
            assert_eq!(*opened.plaintext, [1, b'2', b'3']);
            let opened = r
                .open_vec(Purpose::Cookie, context, sealed.clone())
                .unwrap();
            assert_eq!(*opened.plaintext, [1, b'2', b'3']);
            assert!(r.open_vec(Purpose::Cookie, b"other", sealed).is_err());
        }
        assert!(r
            .open_vec(Purpose::Cookie, b"c", vec![VERSION; 10])
            .is_err());
    }

    #[test]
    fn colliding_key_ids_are_all_tried() {
        // Two ring entries with the same key id: the value opens with the
        // second after the first fails (which must not spoil the buffer).
        let sealed = ring(&[A]).seal(Purpose::Cookie, b"c", b"v");
        let both = KeyRing::with_one_id(&[B, A]);
        assert_eq!(both.candidates(ring(&[A]).primary_id().0).count(), 2);
        let opened = both.open_vec(Purpose::Cookie, b"c", sealed).unwrap();
        assert_eq!(*opened.plaintext, b"v");
        assert!(!opened.sealed_with_primary);
    }

    #[test]
    fn debug_shows_no_plaintext() {
        let r = ring(&[A]);
        let secret = b"4111 1111 1111 1111";
        let opened = r
            .open(
                Purpose::Field,
                b"card",
                &r.seal(Purpose::Field, b"card", secret),
            )
            .unwrap();
        let text = format!("{opened:?}");
        assert!(!text.contains("4111"), "{text}");
        // nor as the list of byte values that a derived Debug prints
        assert!(!text.contains("52, 49, 49, 49"), "{text}");
        assert!(text.contains("19 bytes"), "{text}");
        assert!(text.contains("sealed_with_primary: true"), "{text}");
    }

    #[test]
    fn the_plaintext_is_wiped_on_drop() {
        // What can be observed without unsafe code: the type that holds the
        // plaintext zeroizes on drop, and wiping it leaves nothing.
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
        let r = ring(&[A]);
        let opened = r
            .open(Purpose::Field, b"f", &r.seal(Purpose::Field, b"f", b"pin"))
            .unwrap();
        wiped_on_drop(&opened.plaintext);
        let mut copy = opened.plaintext.clone();
        zeroize::Zeroize::zeroize(&mut copy);
        assert!(copy.is_empty());
        assert_eq!(opened.into_plaintext(), b"pin");
    }

    #[test]
    fn swapped_key_id_fails() {
        let both = ring(&[A, B]);
        let mut sealed = both.seal(Purpose::Cookie, b"c", b"v");
        let b_id = ring(&[B]).primary_id();
        sealed[1..5].copy_from_slice(b_id.as_bytes());
        assert!(both.open(Purpose::Cookie, b"c", &sealed).is_err());
    }
}
