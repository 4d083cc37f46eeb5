//! Format 2's sealing subkeys: per process, per salt, with counter nonces.
//!
//! Each secret and purpose has a 32-byte root (derived with HKDF, held in
//! [`Zeroizing`]). The first seal draws a random salt and derives the
//! AES-256-GCM subkey `HKDF-SHA256(salt, root, label)`; seals under it take
//! disjoint ranges of one atomic counter as nonces, and once the subkey has
//! processed [`BLOCK_BUDGET`] AES blocks the next seal draws a new salt. The
//! crate docs give the argument for the numbers.
//!
//! Opening derives the subkey of the value's salt, except for the current
//! sealing subkey and the [`RECENT`] most recent others (of this process's
//! earlier rotations, or of peers whose values it has opened), which are
//! kept. A salt joins them only once a value sealed under it has opened, so
//! forged values cannot push real ones out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use ring::aead::{self, LessSafeKey, UnboundKey, NONCE_LEN};
use ring::hkdf;
use zeroize::Zeroizing;

use crate::token::random_bytes;

/// Bytes of the random salt that each sealed value of format 2 carries.
pub(crate) const SALT_LEN: usize = 16;

/// Bytes of a nonce's random prefix; the other 8 are the counter.
const PREFIX_LEN: usize = NONCE_LEN - 8;

/// How many AES blocks one subkey may process before it is retired: 2³⁶
/// (1 TiB of plaintext). Each seal counts its plaintext's blocks plus one
/// (the block that encrypts the tag), the quantity that AES-GCM's
/// confidentiality bound depends on: (2³⁶)² / 2¹²⁹ = 2⁻⁵⁷. The crate docs
/// give the whole argument.
pub(crate) const BLOCK_BUDGET: u64 = 1 << 36;

/// How many subkeys besides the sealing one are kept for opening.
pub(crate) const RECENT: usize = 32;

/// The HKDF `info` suffix of a format-2 root (after the purpose label).
const ROOT_INFO: &[u8] = b"/format-2 root";
/// The HKDF `info` suffix of a subkey (after the purpose label).
const SUBKEY_INFO: &[u8] = b"/format-2 subkey";

/// An AES-256-GCM subkey and the salt it was derived for.
pub(crate) struct SaltedKey {
    salt: [u8; SALT_LEN],
    key: LessSafeKey,
}

/// The subkey that seals, and how much of its budget is taken.
struct Sealer {
    key: SaltedKey,
    /// Random per subkey: a second line of defence should two salts ever
    /// coincide.
    prefix: [u8; PREFIX_LEN],
    /// Blocks reserved so far, and the next nonce's counter. Only grows; a
    /// reservation that does not fit leaves it above the budget, which marks
    /// the subkey as spent.
    used: AtomicU64,
}

/// The format-2 keys of one secret and one purpose.
pub(crate) struct Subkeys {
    root: Zeroizing<[u8; 32]>,
    label: &'static [u8],
    budget: u64,
    sealing: RwLock<Option<Sealer>>,
    recent: RwLock<Recent>,
}

/// The subkeys kept for opening, replaced oldest first.
#[derive(Default)]
struct Recent {
    keys: Vec<Arc<SaltedKey>>,
    next: usize,
}

impl Subkeys {
    /// The subkeys of the secret behind `prk`, for the purpose `label`, each
    /// retired after `budget` blocks.
    pub(crate) fn new(prk: &hkdf::Prk, label: &'static [u8], budget: u64) -> Self {
        let mut root = Zeroizing::new([0u8; 32]);
        let info = [label, ROOT_INFO];
        prk.expand(&info, Len32)
            .and_then(|okm| okm.fill(&mut root[..]))
            .expect("HKDF output length is far below the limit");
        Subkeys {
            root,
            label,
            budget: budget.max(1),
            sealing: RwLock::new(None),
            recent: RwLock::new(Recent::default()),
        }
    }

    /// Calls `seal` with the sealing subkey, its salt and a nonce that no
    /// other seal gets, after reserving `blocks` of the subkey's budget
    /// (drawing a new subkey first if this one has not that much left).
    pub(crate) fn seal_with<R>(
        &self,
        blocks: u64,
        seal: impl FnOnce(&LessSafeKey, &[u8; SALT_LEN], [u8; NONCE_LEN]) -> R,
    ) -> R {
        // A value larger than a whole budget (possible only with the small
        // budgets of tests: AES-GCM stops at 2³² blocks) takes a subkey of
        // its own.
        let weight = blocks.clamp(1, self.budget);
        loop {
            {
                let sealing = self.sealing.read().unwrap_or_else(PoisonError::into_inner);
                if let Some(sealer) = sealing.as_ref() {
                    // Relaxed is enough: the counter's own modification order
                    // already hands every caller a distinct range.
                    let start = sealer.used.fetch_add(weight, Ordering::Relaxed);
                    if start
                        .checked_add(weight)
                        .is_some_and(|end| end <= self.budget)
                    {
                        let mut nonce = [0u8; NONCE_LEN];
                        nonce[..PREFIX_LEN].copy_from_slice(&sealer.prefix);
                        nonce[PREFIX_LEN..].copy_from_slice(&start.to_be_bytes());
                        return seal(&sealer.key.key, &sealer.key.salt, nonce);
                    }
                }
            }
            self.rotate();
        }
    }

    /// Replaces a missing or spent sealing subkey with a fresh one; the spent
    /// one stays available for opening the values it sealed.
    fn rotate(&self) {
        let mut sealing = self.sealing.write().unwrap_or_else(PoisonError::into_inner);
        let spent = sealing
            .as_ref()
            .is_none_or(|s| s.used.load(Ordering::Relaxed) >= self.budget);
        if !spent {
            // Another thread rotated first.
            return;
        }
        let random = random_bytes::<{ SALT_LEN + PREFIX_LEN }>();
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&random[..SALT_LEN]);
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&random[SALT_LEN..]);
        let fresh = Sealer {
            key: self.derive(salt),
            prefix,
            used: AtomicU64::new(0),
        };
        if let Some(old) = sealing.replace(fresh) {
            tracing::debug!(
                purpose = %String::from_utf8_lossy(self.label),
                "sealing subkey spent its budget; a new salt seals from now on"
            );
            self.remember(Arc::new(old.key));
        }
    }

    /// Calls `open` with the subkey of `salt`: the sealing one, a recent
    /// one, or else one derived now (and kept if `open` succeeds).
    pub(crate) fn open_with<R>(
        &self,
        salt: &[u8; SALT_LEN],
        open: impl FnOnce(&LessSafeKey) -> Option<R>,
    ) -> Option<R> {
        {
            let sealing = self.sealing.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(sealer) = sealing.as_ref().filter(|s| s.key.salt == *salt) {
                return open(&sealer.key.key);
            }
        }
        let known = {
            let recent = self.recent.read().unwrap_or_else(PoisonError::into_inner);
            recent.keys.iter().find(|k| k.salt == *salt).cloned()
        };
        if let Some(key) = known {
            return open(&key.key);
        }
        let derived = self.derive(*salt);
        let opened = open(&derived.key)?;
        self.remember(Arc::new(derived));
        Some(opened)
    }

    /// Keeps `key` among the recent subkeys, in place of the oldest.
    fn remember(&self, key: Arc<SaltedKey>) {
        let mut recent = self.recent.write().unwrap_or_else(PoisonError::into_inner);
        if recent.keys.iter().any(|k| k.salt == key.salt) {
            return;
        }
        if recent.keys.len() < RECENT {
            recent.keys.push(key);
        } else {
            let at = recent.next;
            recent.keys[at] = key;
            recent.next = (at + 1) % RECENT;
        }
    }

    fn derive(&self, salt: [u8; SALT_LEN]) -> SaltedKey {
        SaltedKey {
            salt,
            key: derive_subkey(&self.root, self.label, &salt),
        }
    }

    /// The subkey of `salt`, for sealing with a salt given by a known-answer
    /// test (never one of the subkeys that seal in running code).
    #[cfg(any(test, feature = "known-answer-tests"))]
    pub(crate) fn derive_for_tests(&self, salt: [u8; SALT_LEN]) -> LessSafeKey {
        derive_subkey(&self.root, self.label, &salt)
    }

    /// The salt of the current sealing subkey, if one was drawn yet.
    #[cfg(test)]
    pub(crate) fn sealing_salt(&self) -> Option<[u8; SALT_LEN]> {
        let sealing = self.sealing.read().unwrap_or_else(PoisonError::into_inner);
        sealing.as_ref().map(|s| s.key.salt)
    }

    /// How many subkeys are kept for opening besides the sealing one.
    #[cfg(test)]
    pub(crate) fn recent_len(&self) -> usize {
        self.recent
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys
            .len()
    }

    /// The root, to pin the derivation in the known-answer tests.
    #[cfg(test)]
    pub(crate) fn root(&self) -> &Zeroizing<[u8; 32]> {
        &self.root
    }
}

/// `HKDF-SHA256(salt, root)` expanded with `label || SUBKEY_INFO` into an
/// AES-256-GCM key.
pub(crate) fn derive_subkey(root: &[u8; 32], label: &[u8], salt: &[u8; SALT_LEN]) -> LessSafeKey {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(root);
    let info = [label, SUBKEY_INFO];
    let okm = prk
        .expand(&info, &aead::AES_256_GCM)
        .expect("HKDF output length is far below the limit");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// 32 bytes of HKDF output.
struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}
