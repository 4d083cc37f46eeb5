//! The key layout: which Redis key holds what.
//!
//! - `{prefix}{id}`: one string per session (see `layout.rs`), where `id` is
//!   the [`SessionId`] (the SHA-256 of the cookie token, never the token).
//! - `{prefix}owner:{<owner>}`: one set per owner holding the ids of that
//!   owner's sessions. The owner is the key's hash tag, so every write to the
//!   index of one owner goes to one cluster slot.
//!
//! - `{prefix}lock:{<prefix><id>}`: the lease of a session's lock (see
//!   `store/lock.rs`), whose hash tag is the record key, so that the lock
//!   and the record share a cluster slot and one script reaches both. With a
//!   prefix that has a hash tag of its own, `{prefix}lock:{id}` (the
//!   prefix's tag pins both keys to one slot already).
//!
//! Ids are 43 base64url characters, so neither `owner:{` nor `lock:` can be
//! mistaken for an id: a scan tells the kinds apart by the part after the
//! prefix.

use fred::util::redis_keyslot;
use session_core::SessionId;

/// The key names of one store.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
    /// Whether the prefix has a hash tag of its own, decided once: every
    /// lock key asks.
    pinned: bool,
}

impl Keys {
    pub(crate) fn new(prefix: String) -> Self {
        let pinned = hash_tag(&prefix).is_some();
        Keys { prefix, pinned }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key of a session record.
    pub(crate) fn record(&self, id: &SessionId) -> String {
        // Built by hand: `format!` costs ten times as much, on every request.
        let id = id.as_str();
        let mut key = String::with_capacity(self.prefix.len() + id.len());
        key.push_str(&self.prefix);
        key.push_str(id);
        key
    }

    /// The key of the lease on a session's lock: in the record key's slot
    /// whenever [`Self::locks_share_slot`] holds.
    pub(crate) fn lock(&self, id: &SessionId) -> String {
        // Built by hand like `record`: every locking request builds it twice.
        let (id, prefix) = (id.as_str(), self.prefix.as_str());
        let mut key = String::with_capacity(2 * prefix.len() + id.len() + 7);
        key.push_str(prefix);
        key.push_str("lock:");
        if self.pinned {
            key.push_str(id);
        } else {
            key.push('{');
            key.push_str(prefix);
            key.push_str(id);
            key.push('}');
        }
        key
    }

    /// Whether every lock key lives in the slot of its record key. Not for
    /// a prefix with braces that make no hash tag (`{}:`, `a}b:`): its record
    /// keys hash whole, and no key that names them as a tag can exist, so a
    /// clustered store with such a prefix offers no locks.
    pub(crate) fn locks_share_slot(&self) -> bool {
        self.prefix_pins_one_slot() || !self.prefix.contains(['{', '}'])
    }

    /// The key of an owner's index set.
    pub(crate) fn owner(&self, owner: &str) -> String {
        format!("{}owner:{{{}}}", self.prefix, owner)
    }

    /// The `SCAN MATCH` pattern that matches every key of this store and no
    /// other: the prefix with its glob characters escaped, then `*`.
    pub(crate) fn scan_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.prefix.len() + 8);
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }

    /// Whether `key` (returned by a scan) belongs to this store at all: the
    /// escaped pattern already guarantees it, this is a second check so that
    /// nothing outside the prefix is ever deleted.
    pub(crate) fn owns(&self, key: &[u8]) -> bool {
        key.starts_with(self.prefix.as_bytes())
    }

    /// The session id of a record key, or `None` for any other key (an owner
    /// index, or a foreign key that happens to share the prefix).
    pub(crate) fn record_id(&self, key: &[u8]) -> Option<SessionId> {
        let rest = key.strip_prefix(self.prefix.as_bytes())?;
        SessionId::parse(std::str::from_utf8(rest).ok()?).ok()
    }

    /// Whether the prefix carries a Redis Cluster hash tag (`{...}` with
    /// something inside), which pins every key of the store, owner indexes
    /// included, to one slot.
    pub(crate) fn prefix_pins_one_slot(&self) -> bool {
        self.pinned
    }
}

/// The cluster slot of a key.
pub(crate) fn slot(key: &str) -> u16 {
    redis_keyslot(key.as_bytes())
}

/// The hash tag of a key: the text between the first `{` and the next `}`,
/// if not empty (the rule Redis Cluster applies).
fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let close = key[open + 1..].find('}')?;
    let tag = &key[open + 1..open + 1 + close];
    (!tag.is_empty()).then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_owner_indexes_never_collide() {
        let keys = Keys::new("session:".into());
        let id = SessionId::random();
        assert_eq!(keys.record(&id), format!("session:{}", id.as_str()));
        assert_eq!(keys.record_id(keys.record(&id).as_bytes()), Some(id));
        assert_eq!(keys.owner("alice"), "session:owner:{alice}");
        assert_eq!(keys.record_id(keys.owner("alice").as_bytes()), None);
        assert_eq!(keys.record_id(b"other:abc"), None);
    }

    #[test]
    fn the_scan_pattern_escapes_glob_characters() {
        assert_eq!(Keys::new("session:".into()).scan_pattern(), "session:*");
        assert_eq!(
            Keys::new("a*b?[c]\\:".into()).scan_pattern(),
            "a\\*b\\?\\[c\\]\\\\:*"
        );
    }

    #[test]
    fn owner_keys_of_one_owner_share_a_slot_and_tags_are_detected() {
        let keys = Keys::new("session:".into());
        assert_eq!(slot(&keys.owner("alice")), slot("{alice}"));
        assert!(!keys.prefix_pins_one_slot());
        assert!(Keys::new("{app}:session:".into()).prefix_pins_one_slot());
        assert!(!Keys::new("{}:session:".into()).prefix_pins_one_slot());
        let pinned = Keys::new("{app}:s:".into());
        assert_eq!(
            slot(&pinned.record(&SessionId::random())),
            slot(&pinned.owner("bob"))
        );
    }

    #[test]
    fn a_lock_key_shares_its_record_keys_slot() {
        for prefix in [
            "session:",
            "",
            "a:b:",
            "{app}:s:",
            "x{app}y:",
            "{app}{other}:",
        ] {
            let keys = Keys::new(prefix.into());
            assert!(keys.locks_share_slot(), "{prefix:?}");
            for _ in 0..50 {
                let id = SessionId::random();
                let (record, lock) = (keys.record(&id), keys.lock(&id));
                assert_eq!(slot(&record), slot(&lock), "{prefix:?}: {record} / {lock}");
                assert!(lock.starts_with(prefix), "under the prefix: {lock}");
                assert!(keys.owns(lock.as_bytes()));
                assert_eq!(keys.record_id(lock.as_bytes()), None, "never an id");
            }
        }
        let keys = Keys::new("session:".into());
        let id = SessionId::random();
        assert_eq!(
            keys.lock(&id),
            format!("session:lock:{{session:{}}}", id.as_str())
        );
        let pinned = Keys::new("{app}:s:".into());
        assert_eq!(pinned.lock(&id), format!("{{app}}:s:lock:{}", id.as_str()));
        // Braces without a tag: record keys hash whole, no lock key can
        // follow them onto their slot.
        for prefix in ["{}:s:", "a}b:", "a{b:"] {
            assert!(!Keys::new(prefix.into()).locks_share_slot(), "{prefix:?}");
        }
    }

    #[test]
    fn only_keys_under_the_prefix_are_owned() {
        let keys = Keys::new("s:".into());
        assert!(keys.owns(b"s:abc"));
        assert!(!keys.owns(b"t:abc"));
        assert!(!keys.owns(b"s"));
    }
}
