//! The Lua scripts: the operations that must read a value before writing
//! it in one round trip run as one script, atomically, sent by SHA-1
//! (`EVALSHA`). The common paths do without them (plain `GET`, `SET`,
//! `PEXPIREAT`, see `store/read.rs` and `store/write.rs`); scripts serve
//! Reject-policy saves, the serialize policy's saves (which release the
//! lease too, and need no version check under it) and releases, writes that maintain an owner index on one
//! slot, the first touch of a session this process does not know yet,
//! rotation, the owner and predicate deletions, and the cap per owner.
//!
//! They read the value layout of `layout.rs` (1-based offsets in Lua): byte
//! 1 format (`1`), bytes 2-9 version, 10-17 created, 18-25 absolute expiry,
//! 26-29 owner length (`0xFFFFFFFF`: none), then owner and data. A value of
//! another format, or a key of another type, is neither touched nor
//! overwritten nor deleted.
//!
//! Scripts read and write only the keys they are given, except the owner
//! sweep, the cap per owner and the rotation's removal of the old id from
//! its owner's index, which run only where every key of the store lives in
//! one slot.

use std::fmt::Write as _;
use std::sync::LazyLock;

use ring::digest;

/// A script and its SHA-1, the name `EVALSHA` knows it by.
#[derive(Debug)]
pub(crate) struct Script {
    pub(crate) name: &'static str,
    pub(crate) text: String,
    pub(crate) sha: String,
}

impl Script {
    fn new(name: &'static str, parts: &[&str]) -> Self {
        let text = parts.concat();
        let hash = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
        let mut sha = String::with_capacity(40);
        for byte in hash.as_ref() {
            // Writing to a String cannot fail.
            let _ = write!(sha, "{byte:02x}");
        }
        Script { name, text, sha }
    }
}

/// Reading the value layout, shared by every script.
const LAYOUT_FN: &str = r#"
local HEADER = 29
local NO_OWNER = 4294967295
local function num(v, i, n)
  local x = 0
  for k = i, i + n - 1 do x = x * 256 + string.byte(v, k) end
  return x
end
-- Whether v (a GET reply, false or an error table included) is a value of
-- this format: a string with the format byte and a whole header and owner.
local function ours(v)
  if type(v) ~= 'string' or #v < HEADER or string.byte(v, 1) ~= 1 then return false end
  local n = num(v, 26, 4)
  return n == NO_OWNER or HEADER + n <= #v
end
-- The absolute expiry in ms; a negative one counts as long past.
local function absolute(v)
  if string.byte(v, 18) >= 128 then return 1 end
  return num(v, 18, 8)
end
local function owner(v)
  local n = num(v, 26, 4)
  if n == NO_OWNER then return false end
  return string.sub(v, HEADER + 1, HEADER + n)
end
-- A touch's new expiry: the wanted one, never past the absolute expiry.
local function capped(want, v)
  local at = math.min(tonumber(want), absolute(v))
  if at < 1 then at = 1 end
  return at
end
"#;

/// Adds an id to an owner index and makes the index live at least until
/// `abs`, the record's absolute expiry: `NX` sets the expiry of a new set,
/// `GT` extends that of an existing one, so the set expires with the last
/// session it can name.
const INDEX_FN: &str = r#"
local function index(key, id, abs)
  redis.call('SADD', key, id)
  redis.call('PEXPIREAT', key, abs, 'NX')
  redis.call('PEXPIREAT', key, abs, 'GT')
end
"#;

/// Loads a value and moves the key's expiry to `min(ARGV[1], absolute)`:
/// `{1, value, new expiry}`, `{0}` if the key is absent, `{2}` if it holds
/// something else (left as it is).
const LOAD_BODY: &str = r#"
local v = redis.pcall('GET', KEYS[1])
if not v then return {0} end
if not ours(v) then return {2} end
local at = capped(ARGV[1], v)
redis.call('PEXPIREAT', KEYS[1], at)
return {1, v, at}
"#;

/// Moves the expiry of a record to `min(ARGV[1], absolute)`: 1 done, 0
/// absent or not a record of this format.
const TOUCH_BODY: &str = r#"
local v = redis.pcall('GET', KEYS[1])
if not ours(v) then return 0 end
redis.call('PEXPIREAT', KEYS[1], capped(ARGV[1], v))
return 1
"#;

/// Creates a record and indexes it under its owner (KEYS[2], same slot):
/// 1 created, 0 the key exists. ARGV: value, expire-at, id.
const CREATE_BODY: &str = r#"
if not redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'NX') then return 0 end
index(KEYS[2], ARGV[3], absolute(ARGV[1]))
return 1
"#;

/// Replaces the live record of this format at `key`. ARGV: value,
/// expire-at, expected version (its 8 bytes, '' for none), id. Answers 1
/// saved, 0 absent (or not a record of this format), -1 version conflict, 2
/// saved with a new owner that the caller indexes (no index key given:
/// another slot). With `idx`, a new owner is indexed here.
const SAVE_FN: &str = r#"
local function save(key, idx)
  local old = redis.pcall('GET', key)
  if not ours(old) then return 0 end
  if ARGV[3] ~= '' and string.sub(old, 2, 9) ~= ARGV[3] then return -1 end
  redis.call('SET', key, ARGV[1], 'PXAT', ARGV[2])
  local new = owner(ARGV[1])
  if new and new ~= owner(old) then
    if not idx then return 2 end
    index(idx, ARGV[4], absolute(ARGV[1]))
  end
  return 1
end
"#;

/// A save (see `SAVE_FN`) of KEYS[1], indexing a new owner in KEYS[2] if
/// given.
const SAVE_BODY: &str = r#"
return save(KEYS[1], KEYS[2])
"#;

/// A versioned save that holds no lease (see `SAVE_FN`) of KEYS[1],
/// indexing a new owner in KEYS[3] if given, refused (-1, a conflict, as a
/// stale version) while any request holds the lease KEYS[2] (same slot): a
/// lease holder saves without a version check (see `SAVE_HELD_BODY`), so a
/// lock-free write must not land under its lease.
const SAVE_UNLEASED_BODY: &str = r#"
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
return save(KEYS[1], KEYS[3])
"#;

/// The lease's value: its holder's token, with `:w` appended once a
/// request of another process waits for it (`WAITING_FN`). `holds(v, t)`:
/// whether the lease value `v` is the token `t`'s (the unmarked case, the
/// uncontended one, is one string comparison). `released(lease, v, t)`,
/// after the lease `lease` of value `v` was given back by the token `t`:
/// when it was marked, publishes the lease key for the waiters of other
/// processes (see `wakeups.rs`). `pcall`: a server that forbids the
/// channel (an ACL) costs the wake-up, never the release.
const LEASE_FN: &str = r#"
local function holds(v, t)
  return v == t or v == t .. ':w'
end
local function released(lease, v, t)
  if v ~= t then
    redis.pcall('PUBLISH', 'typed-sessions:lease-released', lease)
  end
end
"#;

/// The commit of a locked modification in one round trip, for a record
/// whose owner needs no new index entry: if the token ARGV[3] holds the
/// lease KEYS[2] (same slot), `SET KEYS[1] ARGV[1] PXAT ARGV[2] XX` and
/// the lease's release; otherwise nothing. No version check: the lease,
/// held since the load, is the check (every versioned save that holds no
/// lease is refused under it, `SAVE_UNLEASED_BODY`), and `XX` never
/// resurrects a record deleted meanwhile. Answers `{1, 1}` saved, `{0, 1}`
/// no record (released all the same), `{-1, 0}` the lease is not this
/// token's (ran out, maybe taken over): nothing written, nothing released.
const SAVE_HELD_BODY: &str = r#"
local held = redis.call('GET', KEYS[2])
if not holds(held, ARGV[3]) then return {-1, 0} end
local set = redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'XX')
redis.call('DEL', KEYS[2])
released(KEYS[2], held, ARGV[3])
return {set and 1 or 0, 1}
"#;

/// As `SAVE_HELD_BODY`, for a record whose owner may need indexing: the
/// `save` (see `SAVE_FN`) of KEYS[1], indexing a new owner in KEYS[3] if
/// given, if the token ARGV[5] holds the lease KEYS[2], then its release.
/// Answers `{save's answer, 1}`, or `{-1, 0}` when the lease is not this
/// token's (nothing written, nothing released).
const SAVE_UNLOCK_BODY: &str = r#"
local held = redis.call('GET', KEYS[2])
if not holds(held, ARGV[5]) then return {-1, 0} end
local saved = save(KEYS[1], KEYS[3])
redis.call('DEL', KEYS[2])
released(KEYS[2], held, ARGV[5])
return {saved, 1}
"#;

/// Whether the value `v` (ours) is past its absolute expiry by the server's
/// clock: a key written without an expiry (by hand) can outlive it, and a
/// rotation must not carry such a record over to a new id.
const PAST_FN: &str = r#"
local function past(v)
  local t = redis.call('TIME')
  return absolute(v) <= tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"#;

/// Rotation where both record keys and the owner indexes share one slot:
/// moves the live record KEYS[1] to KEYS[2] as the value ARGV[1] expiring
/// at ARGV[2], in one atomic step. ARGV: value, expire-at, expected version
/// (its 8 bytes, '' for none), old id, new id, key prefix. KEYS[3], if
/// given, is the index of the new record's owner. Answers 1 moved, 0 no
/// live record of this format at KEYS[1], -1 version conflict, -2 KEYS[2]
/// exists; on anything but 1 nothing was changed. The old id leaves the
/// index of the old record's owner (built from the prefix, same slot), the
/// new id joins that of the new owner.
const ROTATE_BODY: &str = r#"
local old = redis.pcall('GET', KEYS[1])
if not ours(old) or past(old) then return 0 end
if ARGV[3] ~= '' and string.sub(old, 2, 9) ~= ARGV[3] then return -1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -2 end
redis.call('SET', KEYS[2], ARGV[1], 'PXAT', ARGV[2])
redis.call('UNLINK', KEYS[1])
local was = owner(old)
if was then redis.call('SREM', ARGV[6] .. 'owner:{' .. was .. '}', ARGV[4]) end
if KEYS[3] then index(KEYS[3], ARGV[5], absolute(ARGV[1])) end
return 1
"#;

/// The old half of a rotation across slots (a cluster without a hash-tagged
/// prefix; the new record is already written, on its own slot): deletes the
/// live record KEYS[1] if it is at version ARGV[1] (8 bytes, '' for any).
/// Answers `{1, owner}` deleted (owner `false` for none), `{0}` no live
/// record of this format, `{-1}` version conflict; nothing changed unless 1.
const ROTATE_AWAY_BODY: &str = r#"
local old = redis.pcall('GET', KEYS[1])
if not ours(old) or past(old) then return {0} end
if ARGV[1] ~= '' and string.sub(old, 2, 9) ~= ARGV[1] then return {-1} end
redis.call('UNLINK', KEYS[1])
return {1, owner(old)}
"#;

/// Deletes the record KEYS[1] if its owner is ARGV[1]: 1 deleted, 0 absent,
/// -1 present with another owner (its index entry is stale) or not ours.
const DELETE_IF_OWNER: &str = r#"
local v = redis.pcall('GET', KEYS[1])
if not v then return 0 end
if ours(v) and owner(v) == ARGV[1] then redis.call('UNLINK', KEYS[1]) return 1 end
return -1
"#;

/// Deletes the record KEYS[1] if it is still at version ARGV[1] (8 bytes):
/// 1 deleted, 0 absent or not ours, -1 changed meanwhile (to test again).
const DELETE_IF_VERSION: &str = r#"
local v = redis.pcall('GET', KEYS[1])
if not ours(v) then return 0 end
if string.sub(v, 2, 9) == ARGV[1] then redis.call('UNLINK', KEYS[1]) return 1 end
return -1
"#;

/// The live ids of the owner index KEYS[1] (owner ARGV[2], record keys
/// ARGV[1]..id), dropping stale entries; with ARGV[3] = '1' also deletes
/// those records and the index. Every key involved must share one slot.
const OWNER_SWEEP: &str = r#"
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. id
  local v = redis.pcall('GET', key)
  if ours(v) and owner(v) == ARGV[2] then
    table.insert(out, id)
    if ARGV[3] == '1' then redis.call('UNLINK', key) end
  else
    redis.call('SREM', KEYS[1], id)
  end
end
if ARGV[3] == '1' then redis.call('UNLINK', KEYS[1]) end
return out
"#;

/// The cap per owner, `OwnerLimited::decide` in one atomic step over the
/// owner index KEYS[1] (every key of the store in one slot). ARGV: key
/// prefix, owner, the newest id, the maximum, `'refuse'` or `'evict'`. The
/// owner's live sessions are the index's entries whose record (of this
/// format, not past its absolute expiry) names that owner; stale entries
/// leave the index. Under evict, the others go, oldest first by creation
/// (then id, compared byte by byte as Rust compares them), until the
/// maximum is left with the newest; under refuse, the newest goes if the
/// maximum others are live. Answers `{refused (0 or 1), evicted ids...}`.
const LIMIT_OWNER_BODY: &str = r#"
local function created(v)
  if string.byte(v, 10) >= 128 then return -1 end
  return num(v, 10, 8)
end
local function newer(a, b)
  if a[2] ~= b[2] then return a[2] > b[2] end
  local x, y = a[1], b[1]
  for k = 1, math.min(#x, #y) do
    local p, q = string.byte(x, k), string.byte(y, k)
    if p ~= q then return p > q end
  end
  return #x > #y
end
local others, present = {}, false
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.pcall('GET', ARGV[1] .. id)
  if ours(v) and owner(v) == ARGV[2] and not past(v) then
    if id == ARGV[3] then present = true else table.insert(others, {id, created(v)}) end
  else
    redis.call('SREM', KEYS[1], id)
  end
end
local max = tonumber(ARGV[4])
local function remove(id)
  redis.call('UNLINK', ARGV[1] .. id)
  redis.call('SREM', KEYS[1], id)
end
if ARGV[5] == 'refuse' then
  if present and #others >= max then remove(ARGV[3]) return {1} end
  return {0}
end
local keep = max
if present then keep = max - 1 end
table.sort(others, newer)
local out = {0}
for i = keep + 1, #others do
  remove(others[i][1])
  table.insert(out, others[i][1])
end
return out
"#;

/// Takes the lease KEYS[1] for the token ARGV[1] for ARGV[2] ms if nobody
/// holds it, and in the same step loads the record KEYS[2] (same slot), as
/// the `load` script does when ARGV[3] (a touch, ms) is not '' and with its
/// `PEXPIRETIME` otherwise. Answers `{0, ms left on the holder's lease}`
/// when held; when taken `{1, 0}` no record, `{1, 2}` not a record of this
/// format (left as it is), `{1, 1, value, key expiry}`. With ARGV[4] '1'
/// (the lock wake-ups on), a refusal marks the lease as waited on
/// (`WAITING_FN`).
const LOCK_BODY: &str = r#"
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  if ARGV[4] == '1' then return {0, waiting(KEYS[1], ARGV[1])} end
  return {0, redis.call('PTTL', KEYS[1])}
end
local v = redis.pcall('GET', KEYS[2])
if not v then return {1, 0} end
if not ours(v) then return {1, 2} end
local at
if ARGV[3] ~= '' then
  at = capped(ARGV[3], v)
  redis.call('PEXPIREAT', KEYS[2], at)
else
  at = redis.call('PEXPIRETIME', KEYS[2])
end
return {1, 1, v, at}
"#;

/// Deletes the lease KEYS[1] if the token ARGV[1] holds it: 1 done, 0 not
/// held by this token (left as it is).
const UNLOCK: &str = r#"
local held = redis.pcall('GET', KEYS[1])
if not holds(held, ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
released(KEYS[1], held, ARGV[1])
return 1
"#;

/// `waiting(lease, token)`, for a request of token `token` refused the
/// lease `lease`: marks it as waited on (`:w` appended to its value, its
/// expiry kept, so the mark lives exactly as long as the lease, renewals
/// included), so that its release publishes (`LEASE_FN`), and answers the ms left on it, as
/// `PTTL` (-2 none, -1 no expiry). Not when its holder's token starts as
/// `token` does (16 hex characters: the tokens of one process share their
/// first 8 bytes, `LockToken::unique`): the request cycle of that process
/// hands the lease on itself. Nor when the holder's token does not know
/// the mark (`a5` at characters 17 and 18, `LockToken::MARK_AWARE`): a
/// holder of an older version would not recognise its marked lease.
const WAITING_FN: &str = r#"
local function waiting(lease, token)
  local holder = redis.call('GET', lease)
  local left = redis.call('PTTL', lease)
  if holder and left > 0 and string.sub(holder, -2) ~= ':w'
      and string.sub(holder, 17, 18) == 'a5'
      and string.sub(holder, 1, 16) ~= string.sub(token, 1, 16) then
    redis.call('SET', lease, holder .. ':w', 'KEEPTTL')
  end
  return left
end
"#;

/// `waiting` (`WAITING_FN`) for the lease KEYS[1] and the token ARGV[1],
/// after a refused attempt of the plain commands.
const MARK_WAITING_BODY: &str = "return waiting(KEYS[1], ARGV[1])";

/// Renews the lease KEYS[1] for ARGV[2] ms if the token ARGV[1] holds it
/// (marked or not, `LEASE_FN`): 1 done, 0 not held by this token.
const EXTEND: &str = r#"
if not holds(redis.pcall('GET', KEYS[1]), ARGV[1]) then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"#;

/// Every script of the store, hashed once.
#[derive(Debug)]
pub(crate) struct Scripts {
    pub(crate) load: Script,
    pub(crate) touch: Script,
    pub(crate) create: Script,
    pub(crate) save: Script,
    pub(crate) save_unleased: Script,
    pub(crate) save_held: Script,
    pub(crate) save_unlock: Script,
    pub(crate) delete_if_owner: Script,
    pub(crate) delete_if_version: Script,
    pub(crate) owner_sweep: Script,
    pub(crate) limit_owner: Script,
    pub(crate) rotate: Script,
    pub(crate) rotate_away: Script,
    pub(crate) lock: Script,
    pub(crate) unlock: Script,
    pub(crate) extend: Script,
    pub(crate) mark_waiting: Script,
}

impl Scripts {
    pub(crate) fn all(&self) -> [&Script; 17] {
        [
            &self.load,
            &self.touch,
            &self.create,
            &self.save,
            &self.save_unleased,
            &self.save_held,
            &self.save_unlock,
            &self.delete_if_owner,
            &self.delete_if_version,
            &self.owner_sweep,
            &self.limit_owner,
            &self.rotate,
            &self.rotate_away,
            &self.lock,
            &self.unlock,
            &self.extend,
            &self.mark_waiting,
        ]
    }
}

/// The scripts, built and hashed on first use.
pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    load: Script::new("load", &[LAYOUT_FN, LOAD_BODY]),
    touch: Script::new("touch", &[LAYOUT_FN, TOUCH_BODY]),
    create: Script::new("create", &[LAYOUT_FN, INDEX_FN, CREATE_BODY]),
    save: Script::new("save", &[LAYOUT_FN, INDEX_FN, SAVE_FN, SAVE_BODY]),
    save_unleased: Script::new(
        "save_unleased",
        &[LAYOUT_FN, INDEX_FN, SAVE_FN, SAVE_UNLEASED_BODY],
    ),
    save_held: Script::new("save_held", &[LEASE_FN, SAVE_HELD_BODY]),
    save_unlock: Script::new(
        "save_unlock",
        &[LAYOUT_FN, INDEX_FN, SAVE_FN, LEASE_FN, SAVE_UNLOCK_BODY],
    ),
    delete_if_owner: Script::new("delete_if_owner", &[LAYOUT_FN, DELETE_IF_OWNER]),
    delete_if_version: Script::new("delete_if_version", &[LAYOUT_FN, DELETE_IF_VERSION]),
    owner_sweep: Script::new("owner_sweep", &[LAYOUT_FN, OWNER_SWEEP]),
    limit_owner: Script::new("limit_owner", &[LAYOUT_FN, PAST_FN, LIMIT_OWNER_BODY]),
    rotate: Script::new("rotate", &[LAYOUT_FN, INDEX_FN, PAST_FN, ROTATE_BODY]),
    rotate_away: Script::new("rotate_away", &[LAYOUT_FN, PAST_FN, ROTATE_AWAY_BODY]),
    lock: Script::new("lock", &[LAYOUT_FN, WAITING_FN, LOCK_BODY]),
    unlock: Script::new("unlock", &[LEASE_FN, UNLOCK]),
    extend: Script::new("extend", &[LEASE_FN, EXTEND]),
    mark_waiting: Script::new("mark_waiting", &[WAITING_FN, MARK_WAITING_BODY]),
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_marked_only_if_its_holder_knows_the_mark() {
        let token = session_core::store::LockToken::unique().to_hex();
        let aware = format!("string.sub(holder, 17, 18) == '{}'", &token[16..18]);
        assert!(WAITING_FN.contains(&aware), "{aware}");
    }

    #[test]
    fn sha1_matches_what_redis_computes() {
        // SHA1("return 1"), as `SCRIPT LOAD "return 1"` answers.
        let script = Script::new("t", &["return 1"]);
        assert_eq!(script.sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    }

    #[test]
    fn releases_publish_on_the_channel_the_wake_ups_subscribe_to() {
        let channel = format!("'{}'", crate::wakeups::CHANNEL);
        assert!(LEASE_FN.contains(&channel));
        for script in [&SCRIPTS.save_held, &SCRIPTS.save_unlock, &SCRIPTS.unlock] {
            assert!(script.text.contains("released(KEYS["), "{}", script.name);
        }
    }
}
