//! Session locks: the store half of
//! [`Concurrency::Serialize`](crate::Concurrency).
//!
//! Under that policy the requests that load one session run their
//! load-to-commit section one at a time, across every process that shares
//! the store. The lock is a *lease*: it carries a unique [`LockToken`] and
//! ends by itself after the lease time, so a crashed or stuck holder cannot
//! block the session for longer than that; releasing and extending check the
//! token, so a request never releases another request's lock.
//!
//! A store that can hold such leases implements [`SessionLocks`] and returns
//! itself from [`SessionStore::locks`](crate::store::SessionStore::locks). The
//! request cycle does the waiting (bounded, with backoff and jitter); the
//! store only answers attempts and, if it can, wakes waiters early.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::id::SessionId;
use crate::record::Record;
use crate::store::{SessionStore, StoreError};

/// The value that identifies one holder of a session lock.
///
/// 128 bits, rendered as 32 lowercase hex characters for stores that keep
/// strings. Its `Debug` shows only a prefix.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LockToken([u8; 16]);

/// This process's half of every [`LockToken::unique`] token, drawn once.
static PROCESS_PREFIX: OnceLock<[u8; 8]> = OnceLock::new();

/// The other half: how many tokens this process has made.
static TOKENS_MADE: AtomicU64 = AtomicU64::new(0);

impl LockToken {
    /// The byte at index 8 of every token that [`unique`](Self::unique)
    /// makes: its holder gives back a lease that a waiter of another
    /// process marked as waited on (the lock wake-ups of the Redis and
    /// PostgreSQL stores). Tokens of versions before the wake-ups have 0
    /// there (the top byte of their counter; a random byte, 1 in 256 of
    /// them `0xA5`, for versions whose request cycle took random tokens),
    /// and their holders compare
    /// the lease with their token exactly, so a marked lease would stay
    /// until it ran out and their commit would be refused. A store marks
    /// only the leases whose token [`knows_marks`](Self::knows_marks), and
    /// a rolling deploy from such a version loses nothing. Stores that
    /// keep tokens as hex compare characters 16 and 17 with `a5`.
    pub const MARK_AWARE: u8 = 0xA5;

    /// Whether this token's holder gives back a lease marked as waited on
    /// (see [`MARK_AWARE`](Self::MARK_AWARE)).
    ///
    /// ```
    /// use session_core::store::LockToken;
    ///
    /// assert!(LockToken::unique().knows_marks());
    /// assert!(!LockToken::from_bytes([0; 16]).knows_marks());
    /// ```
    pub fn knows_marks(&self) -> bool {
        self.0[8] == Self::MARK_AWARE
    }

    /// A fresh random token: 120 bits from the operating system's random
    /// number generator (a system call each) and
    /// [`MARK_AWARE`](Self::MARK_AWARE) at index 8.
    pub fn random() -> Self {
        let mut bytes: [u8; 16] = session_crypto::token::random_bytes();
        bytes[8] = Self::MARK_AWARE;
        LockToken(bytes)
    }

    /// A token that no other holder has: 64 random bits drawn once per
    /// process, [`MARK_AWARE`](Self::MARK_AWARE), then a per-process
    /// counter of 56 bits. What the request cycle takes a lease with.
    ///
    /// A lease token needs to be unique, not secret: it tells a holder from
    /// the one that took over after its lease ran out, so that neither
    /// releases nor writes under the other's lease. It guards against
    /// mistakes, not an attacker: whoever can write to the store can delete
    /// any lease anyway. Uniqueness holds within a process (the counter
    /// never repeats) and between processes while their random prefixes
    /// differ (two of a million processes share one with odds of about
    /// 3 in 100 million). This saves the random number generator's system
    /// call on every request that locks.
    ///
    /// ```
    /// use session_core::store::LockToken;
    ///
    /// let (a, b) = (LockToken::unique(), LockToken::unique());
    /// assert_ne!(a, b);
    /// assert_eq!(a.as_bytes()[..8], b.as_bytes()[..8]);
    /// ```
    pub fn unique() -> Self {
        let prefix = PROCESS_PREFIX.get_or_init(session_crypto::token::random_bytes);
        // Relaxed: only the values must differ, not their order.
        let count = TOKENS_MADE.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(prefix);
        bytes[8..].copy_from_slice(&count.to_be_bytes());
        // 2^56 tokens would take a process 2 000 years at a million a
        // second: the counter's top byte is free for the mark.
        bytes[8] = Self::MARK_AWARE;
        LockToken(bytes)
    }

    /// A token from its bytes (for stores that read one back).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        LockToken(bytes)
    }

    /// The token's bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The token as 32 lowercase hex characters.
    ///
    /// ```
    /// use session_core::store::LockToken;
    ///
    /// let token = LockToken::from_bytes([0xab; 16]);
    /// assert_eq!(token.to_hex(), "ab".repeat(16));
    /// ```
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(32);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }
}

impl fmt::Debug for LockToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LockToken({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

/// The answer to one attempt at taking a session's lock.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockAttempt {
    /// The lock is ours for the lease; the record was loaded in the same
    /// operation (`None`: no live record under this id).
    Acquired(Option<Record>),
    /// Another holder has it. `expires_in` is how long its lease has left
    /// (as far as the store knows), so a waiter never waits longer than the
    /// lease for a holder that crashed.
    Held {
        /// Time left on the current holder's lease.
        expires_in: Duration,
    },
}

/// What [`SessionLocks::save_and_unlock`] did: the save's outcome and the
/// release's.
#[derive(Debug)]
pub struct SavedAndUnlocked {
    /// The save's outcome, as [`SessionStore::save`] answers it.
    pub saved: Result<(), StoreError>,
    /// Whether the token still held the lease (which is now released);
    /// `None` when the store could not tell, for a backend that failed:
    /// the lease then ends by itself.
    pub released: Option<bool>,
}

/// A store that can lease a lock per session, for
/// [`Concurrency::Serialize`](crate::Concurrency).
///
/// Rules every implementation keeps (checked by the conformance suite):
///
/// - At most one unexpired lease per session id, across every process that
///   shares the backend; the lock lives in the backend, never only in this
///   process's memory (the memory store, which is one process, excepted).
/// - A lease ends by itself `lease` after it was taken or last extended.
/// - [`unlock`](Self::unlock) and [`extend`](Self::extend) act only if the
///   given token holds the lease, and answer whether it did.
/// - The lock is independent of the record: locking an id with no record is
///   allowed (the attempt then answers `Acquired(None)`), and deleting or
///   rotating a record does not release its lock.
#[async_trait]
pub trait SessionLocks: SessionStore {
    /// Tries once, without waiting, to take the lease on `id` for `token`;
    /// if taken, loads the live record in the same operation where the
    /// backend allows (one round trip), moving its idle expiry to `touch`
    /// like [`SessionStore::load`](crate::store::SessionStore::load) does.
    async fn try_lock(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
        touch: Option<OffsetDateTime>,
    ) -> Result<LockAttempt, StoreError>;

    /// Renews the lease of `token` on `id` for another `lease`. Answers
    /// `false` if `token` no longer holds it (the lease ran out and maybe
    /// another request took it).
    async fn extend(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
    ) -> Result<bool, StoreError>;

    /// Releases the lease of `token` on `id`. Answers `false`, and changes
    /// nothing, if `token` does not hold it.
    async fn unlock(&self, id: &SessionId, token: &LockToken) -> Result<bool, StoreError>;

    /// Saves `record` as [`SessionStore::save`] does (with the same
    /// `expected_version` check) and releases the lease of `token` on its
    /// id, in one backend operation where the backend allows: the commit of
    /// a request that modified its locked session, so that it costs one
    /// round trip, as a save does without the lock.
    ///
    /// The lease is released whatever the save answers (a conflict or a
    /// missing record included), and only if `token` holds it. Either of
    /// two ways loses no update (checked by the conformance suite's lease
    /// checks):
    ///
    /// - Check the version whatever the lease, as the default does (it
    ///   saves, then unlocks): a lease that ran out still saves if the
    ///   version matches, and the holder that took it over gets the
    ///   `Conflict`.
    /// - Rely on the lease: under the lease `token` holds, no other save
    ///   happened since the holder loaded the record, so the save needs no
    ///   version check. That holds only if the store refuses (`Conflict`)
    ///   every versioned [`save`](SessionStore::save) made while any token
    ///   holds the id's lease (a lock-free writer's), and answers a save
    ///   whose `token` no longer holds the lease with a `Conflict` that
    ///   writes nothing: its lease may have been taken over by a holder
    ///   that saves after it without the check. The Redis store does this,
    ///   one fewer read per commit.
    async fn save_and_unlock(
        &self,
        record: &Record,
        expected_version: Option<u64>,
        token: &LockToken,
    ) -> SavedAndUnlocked {
        let saved = self.save(record, expected_version).await;
        let released = match self.unlock(&record.id, token).await {
            Ok(held) => Some(held),
            Err(error) => {
                tracing::warn!(id = %record.id, %error, "could not release the session's lock after its save: it ends with its lease");
                None
            }
        };
        SavedAndUnlocked { saved, released }
    }

    /// Waits until the lock on `id` may have been released, at most `max`.
    /// May return early or spuriously: the caller tries again. Stores that
    /// can be told of a release (a notification, a pub/sub message) override
    /// it; the default sleeps `max`, which the caller keeps short (backoff
    /// with jitter).
    async fn wait_for_release(&self, id: &SessionId, max: Duration) -> Result<(), StoreError> {
        let _ = id;
        tokio::time::sleep(max).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_tokens_never_repeat_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| (0..1000).map(|_| LockToken::unique()).collect::<Vec<_>>())
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        for thread in threads {
            for token in thread.join().unwrap() {
                assert!(seen.insert(token), "a token repeated");
            }
        }
        assert_eq!(seen.len(), 4000);
    }
}
