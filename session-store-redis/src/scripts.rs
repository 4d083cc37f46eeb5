//! The Lua scripts: each store operation that must read and write in one
//! round trip runs as one script, so it is atomic and costs one `EVALSHA`.
//!
//! The record is a hash with the fields
//! `f` (layout version, `1`), `d` (data), `c` (created), `i` (idle expiry),
//! `a` (absolute expiry), `v` (version) and `o` (owner, absent if none);
//! times are milliseconds since the Unix epoch. The key's own expiry
//! (`PEXPIREAT`) is always `min(i, a)`, so Redis removes the record by itself.
//!
//! Scripts read and write only the keys they are given, except the owner
//! listings, which run only where every key of the store lives in one slot.
//! An optional second key is the owner index to add the record to.

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

/// Adds an id to an owner index and makes the index live at least as long as
/// the record (`abs`): the set expires with the last session it can name.
const INDEX_FN: &str = r#"
local function index(key, id, abs)
  redis.call('SADD', key, id)
  local ttl = redis.call('PTTL', key)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if ttl < 0 or now + ttl < tonumber(abs) then
    redis.call('PEXPIREAT', key, abs)
  end
end
"#;

/// Writes the record fields from ARGV (shared by create and save).
/// ARGV: 1 expire-at, 2 data, 3 created, 4 idle, 5 absolute, 6 version,
/// 7 id, 8 owner or '' ; create: 9 unused ; save: 9 expected version or ''.
const WRITE_FN: &str = r#"
local function write(key)
  redis.call('HSET', key, 'f', '1', 'd', ARGV[2], 'c', ARGV[3], 'i', ARGV[4], 'a', ARGV[5], 'v', ARGV[6])
  if ARGV[8] ~= '' then redis.call('HSET', key, 'o', ARGV[8]) end
  redis.call('PEXPIREAT', key, ARGV[1])
  if KEYS[2] then index(KEYS[2], ARGV[7], ARGV[5]) end
end
"#;

/// Whether a record's fields are readable: what a load would not return is
/// neither touched nor overwritten. `r` holds the fields `f c i a v`.
const READABLE_FN: &str = r#"
local function int(x, sign)
  return type(x) == 'string' and string.match(x, sign and '^%-?%d+$' or '^%d+$') ~= nil
end
local function readable(key, r)
  return r[1] == '1' and int(r[2], true) and int(r[3], true) and int(r[4], true)
    and int(r[5], false) and redis.call('HEXISTS', key, 'd') == 1
end
"#;

/// Sets the idle expiry field and the key's expiry to `min(want, abs)`.
const EXTEND_FN: &str = r#"
local function extend(key, want, abs)
  local at = want
  if tonumber(abs) < tonumber(want) then at = abs end
  -- HSET first: a PEXPIREAT in the past deletes the key, and an HSET after
  -- it would create a stray hash without expiry.
  redis.call('HSET', key, 'i', at)
  redis.call('PEXPIREAT', key, at)
  return at
end
"#;

/// Loads a record, optionally moving its expiry to `min(ARGV[1], a)` in the
/// same call. Answers the fields `f d c i a v o` (nil if the key is absent)
/// or the string `malformed` for a key of another type.
const LOAD_BODY: &str = r#"
local r = redis.pcall('HMGET', KEYS[1], 'f', 'd', 'c', 'i', 'a', 'v', 'o')
if r['err'] then return 'malformed' end
if ARGV[1] ~= '' and tonumber(ARGV[1]) and readable(KEYS[1], {r[1], r[3], r[4], r[5], r[6]}) then
  r[4] = extend(KEYS[1], ARGV[1], r[5])
end
return r
"#;

/// Creates a record unless its key exists: 1 created, 0 exists.
const CREATE_BODY: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
write(KEYS[1])
return 1
"#;

/// Replaces a live record: 1 saved, 0 missing (or not a readable record of
/// ours), -1 version conflict (ARGV[9] is the expected version, '' for none).
const SAVE_BODY: &str = r#"
local cur = redis.pcall('HMGET', KEYS[1], 'f', 'c', 'i', 'a', 'v')
if cur['err'] or not readable(KEYS[1], cur) then return 0 end
if ARGV[9] ~= '' and cur[5] ~= ARGV[9] then return -1 end
redis.call('DEL', KEYS[1])
write(KEYS[1])
return 1
"#;

/// Moves the expiry of a live record to `min(ARGV[1], a)`: 1 done, 0 missing.
const TOUCH_BODY: &str = r#"
local r = redis.pcall('HMGET', KEYS[1], 'f', 'c', 'i', 'a', 'v')
if r['err'] or not tonumber(ARGV[1]) or not readable(KEYS[1], r) then return 0 end
extend(KEYS[1], ARGV[1], r[4])
return 1
"#;

/// Adds ARGV[1] to the owner index KEYS[1], live until ARGV[2] at least
/// (the separate index write used on a cluster).
const INDEX_BODY: &str = r#"
index(KEYS[1], ARGV[1], ARGV[2])
return 1
"#;

/// Deletes the record KEYS[1] if its owner is ARGV[1]: 1 deleted, 0 absent,
/// -1 present with another owner (its index entry is stale).
const DELETE_IF_OWNER: &str = r#"
local o = redis.pcall('HGET', KEYS[1], 'o')
if o == ARGV[1] then redis.call('UNLINK', KEYS[1]) return 1 end
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
return 0
"#;

/// Deletes the record KEYS[1] if it is still at version ARGV[1]: 1 deleted,
/// 0 absent, -1 changed meanwhile (to be tested again).
const DELETE_IF_VERSION: &str = r#"
local v = redis.pcall('HGET', KEYS[1], 'v')
if v == ARGV[1] then redis.call('UNLINK', KEYS[1]) return 1 end
if v == false then return 0 end
return -1
"#;

/// The live ids of the owner index KEYS[1] (owner ARGV[2], record keys
/// ARGV[1]..id), dropping stale entries; with ARGV[3] = '1' also deletes
/// those records and the index. Every key involved must share one slot.
const OWNER_SWEEP: &str = r#"
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. id
  if redis.pcall('HGET', key, 'o') == ARGV[2] then
    table.insert(out, id)
    if ARGV[3] == '1' then redis.call('UNLINK', key) end
  else
    redis.call('SREM', KEYS[1], id)
  end
end
if ARGV[3] == '1' then redis.call('UNLINK', KEYS[1]) end
return out
"#;

/// Every script of the store, hashed once.
#[derive(Debug)]
pub(crate) struct Scripts {
    pub(crate) load: Script,
    pub(crate) create: Script,
    pub(crate) save: Script,
    pub(crate) touch: Script,
    pub(crate) index: Script,
    pub(crate) delete_if_owner: Script,
    pub(crate) delete_if_version: Script,
    pub(crate) owner_sweep: Script,
}

impl Scripts {
    pub(crate) fn all(&self) -> [&Script; 8] {
        [
            &self.load,
            &self.create,
            &self.save,
            &self.touch,
            &self.index,
            &self.delete_if_owner,
            &self.delete_if_version,
            &self.owner_sweep,
        ]
    }
}

/// The scripts, built and hashed on first use.
pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    load: Script::new("load", &[READABLE_FN, EXTEND_FN, LOAD_BODY]),
    create: Script::new("create", &[INDEX_FN, WRITE_FN, CREATE_BODY]),
    save: Script::new("save", &[READABLE_FN, INDEX_FN, WRITE_FN, SAVE_BODY]),
    touch: Script::new("touch", &[READABLE_FN, EXTEND_FN, TOUCH_BODY]),
    index: Script::new("index", &[INDEX_FN, INDEX_BODY]),
    delete_if_owner: Script::new("delete_if_owner", &[DELETE_IF_OWNER]),
    delete_if_version: Script::new("delete_if_version", &[DELETE_IF_VERSION]),
    owner_sweep: Script::new("owner_sweep", &[OWNER_SWEEP]),
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_what_redis_computes() {
        // SHA1("return 1"), as `SCRIPT LOAD "return 1"` answers.
        let script = Script::new("t", &["return 1"]);
        assert_eq!(script.sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    }
}
