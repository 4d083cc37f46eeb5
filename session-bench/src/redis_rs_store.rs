//! A session store on redis-rs (the `redis` crate), for one measurement
//! only: what the serialize policy costs against last-write-wins when the
//! client is not fred. It is not a product store and no app outside this
//! crate uses it.
//!
//! Why it exists: on fred, the policy's commit has to be a script (Redis
//! 7.0 has no write conditional on another key's value), and one command
//! more than last-write-wins' two already sets a floor under 0.85 of its
//! throughput (BENCHMARKS.md, "What one more command costs"). The same
//! arithmetic on redis-rs's cost per command projected 0.86 to 0.90 for a
//! design with no third command: the lease and the load as one script, the
//! commit and the release as another. This store is that design, so the
//! projection becomes a measurement.
//!
//! What it does the same as session-store-redis, so that only the client
//! differs: one multiplexed connection; a record is one string key whose
//! Redis expiry is its idle expiry, written with `SET … PXAT`; a
//! last-write-wins load is one `GET`, its save one `SET … XX`; the lease is
//! a key of its own holding the holder's token with the lease as its
//! expiry; the commit writes only while its token holds the lease, with no
//! version check, and a versioned save that holds no lease is refused while
//! one is held.
//!
//! What it leaves out (nothing the measured routes reach): owners and their
//! index (a record with an owner is refused), the cross-process wake-ups
//! (waiters back off, the trait's default), a touch in one step (a load
//! that touches reads, then writes), listing by owner, cluster and sentinel. Counting, listing and `clear`
//! are a `SCAN` of the prefix. The
//! idle expiry is kept in the value beside the key's own expiry, so a load
//! needs no `PEXPIRETIME` and no memory of earlier loads.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::Value;
use session_core::store::{
    LockAttempt, LockToken, Record, SavedAndUnlocked, SessionLocks, SessionStore, StoreError,
};
use session_core::time::OffsetDateTime;
use session_core::SessionId;

use crate::BoxError;

/// Format, version, created, absolute expiry, idle expiry.
const HEADER: usize = 1 + 8 * 4;
const FORMAT: u8 = 0xB1;

/// Takes the lease KEYS[1] for the token ARGV[1] for ARGV[2] ms if free,
/// and then reads the record KEYS[2]: `{1, value or false}` taken,
/// `{0, ms left}` held.
const LOCK: &str = r#"
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  return {0, redis.call('PTTL', KEYS[1])}
end
return {1, redis.call('GET', KEYS[2])}
"#;

/// If the token ARGV[3] holds the lease KEYS[2], `SET KEYS[1] ARGV[1] PXAT
/// ARGV[2] XX` and releases the lease: `{1 or 0 (no record), 1}`; else
/// `{-1, 0}`, nothing written.
const SAVE_HELD: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return {-1, 0} end
local set = redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'XX')
redis.call('DEL', KEYS[2])
return {set and 1 or 0, 1}
"#;

/// A versioned save of KEYS[1] that holds no lease, refused while the
/// lease KEYS[2] is held: 1 saved, 0 no record, -1 conflict. ARGV: value,
/// expire-at, expected version (its 8 bytes).
const SAVE_UNLEASED: &str = r#"
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local old = redis.call('GET', KEYS[1])
if not old then return 0 end
if string.sub(old, 2, 9) ~= ARGV[3] then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
return 1
"#;

/// If the token ARGV[1] holds the lease KEYS[1]: with ARGV[2], extends it
/// by ARGV[2] ms, else deletes it; 1. Otherwise 0.
const IF_HOLDER: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) else redis.call('DEL', KEYS[1]) end
return 1
"#;

/// The SHA1s of the scripts, loaded once at connect.
#[derive(Debug)]
struct Shas {
    lock: String,
    save_held: String,
    save_unleased: String,
    if_holder: String,
}

/// How a lock attempt takes the lease and loads the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockStep {
    /// One script, the `LOCK` one: two commands for Redis to run, one for
    /// the client to send.
    Script,
    /// `SET lease token PX lease NX` and the record's `GET` written
    /// together (a redis-rs pipeline, no script), as session-store-redis
    /// does on fred; a refused attempt asks the lease's `PTTL` after.
    Pipeline,
}

/// What one lock attempt found: the lease taken, with the record's value
/// (`None`: no record), or held, with the holder's time left.
enum Attempt {
    Taken(Option<Vec<u8>>),
    Held(Duration),
}

/// The store: one multiplexed redis-rs connection and a key prefix.
#[derive(Debug, Clone)]
pub struct RedisRsStore {
    connection: MultiplexedConnection,
    prefix: String,
    shas: std::sync::Arc<Shas>,
    lock_step: LockStep,
}

impl RedisRsStore {
    /// Connects to `url` and loads the scripts. An empty `prefix` is
    /// refused: `clear` would then delete every key of the server.
    pub async fn connect(url: &str, prefix: String) -> Result<Self, BoxError> {
        if prefix.is_empty() {
            return Err("the redis-rs store needs a key prefix".into());
        }
        let client = redis::Client::open(url)?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let mut load = async |body: &str| -> Result<String, BoxError> {
            let sha = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(body)
                .query_async(&mut connection)
                .await?;
            Ok(sha)
        };
        let shas = Shas {
            lock: load(LOCK).await?,
            save_held: load(SAVE_HELD).await?,
            save_unleased: load(SAVE_UNLEASED).await?,
            if_holder: load(IF_HOLDER).await?,
        };
        Ok(RedisRsStore {
            connection,
            prefix,
            shas: std::sync::Arc::new(shas),
            lock_step: LockStep::Script,
        })
    }

    /// The same store, taking its leases by `step`.
    #[must_use]
    pub fn lock_step(mut self, step: LockStep) -> Self {
        self.lock_step = step;
        self
    }

    /// A lock attempt as one script.
    async fn lock_by_script(
        &self,
        lease_key: &str,
        key: &str,
        token: &LockToken,
        lease: Duration,
    ) -> Result<Attempt, StoreError> {
        let mut cmd = Self::script(&self.shas.lock, &[lease_key, key]);
        cmd.arg(token.to_hex()).arg(lease_ms(lease));
        let mut reply: Vec<Value> = self.query(&cmd).await?;
        let (second, first) = (reply.pop(), reply.pop());
        match (first.as_ref().and_then(integer), second) {
            (Some(0), Some(Value::Int(ms))) => Ok(Attempt::Held(time_left(ms))),
            (Some(1), Some(Value::Nil)) => Ok(Attempt::Taken(None)),
            (Some(1), Some(Value::BulkString(value))) => Ok(Attempt::Taken(Some(value))),
            _ => Err(malformed("unexpected reply to lock")),
        }
    }

    /// A lock attempt as two commands written together (and a `PTTL` after
    /// a refusal).
    async fn lock_by_pipeline(
        &self,
        lease_key: &str,
        key: &str,
        token: &LockToken,
        lease: Duration,
    ) -> Result<Attempt, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(lease_key)
            .arg(token.to_hex())
            .arg("PX")
            .arg(lease_ms(lease))
            .arg("NX")
            .cmd("GET")
            .arg(key);
        let mut connection = self.connection.clone();
        let (taken, value): (Option<String>, Option<Vec<u8>>) = pipe
            .query_async(&mut connection)
            .await
            .map_err(StoreError::unavailable)?;
        if taken.is_some() {
            return Ok(Attempt::Taken(value));
        }
        let pttl: i64 = self.query(redis::cmd("PTTL").arg(lease_key)).await?;
        Ok(Attempt::Held(time_left(pttl)))
    }

    fn key(&self, id: &SessionId) -> String {
        format!("{}{}", self.prefix, id.as_str())
    }

    fn lease_key(&self, id: &SessionId) -> String {
        format!("{}lock:{}", self.prefix, id.as_str())
    }

    /// Every key under the prefix, by `SCAN` (the prefix's glob characters
    /// escaped, as the admin connection's `delete_prefix` does).
    async fn keys(&self) -> Result<Vec<String>, StoreError> {
        let pattern = format!("{}*", crate::redis::escape_glob(&self.prefix));
        let (mut cursor, mut keys) = (0_u64, Vec::new());
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            let (next, page): (u64, Vec<String>) = self.query(&scan).await?;
            keys.extend(page);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        cmd.query_async(&mut connection)
            .await
            .map_err(StoreError::unavailable)
    }

    /// `EVALSHA sha` on `keys` with `args`.
    fn script(sha: &str, keys: &[&str]) -> redis::Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(sha).arg(keys.len());
        for key in keys {
            cmd.arg(*key);
        }
        cmd
    }
}

fn malformed(what: &str) -> StoreError {
    StoreError::Malformed(format!("redis-rs store: {what}"))
}

/// The value stored for `record`; a record with an owner is refused.
fn encode(record: &Record) -> Result<Vec<u8>, StoreError> {
    if record.owner.is_some() {
        return Err(StoreError::unsupported("redis-rs", "owners"));
    }
    let mut value = Vec::with_capacity(HEADER + record.data.len());
    value.push(FORMAT);
    value.extend_from_slice(&record.version.to_be_bytes());
    for at in [
        record.created_at,
        record.absolute_expires_at,
        record.idle_expires_at,
    ] {
        value.extend_from_slice(&Record::millis(at).to_be_bytes());
    }
    value.extend_from_slice(&record.data);
    Ok(value)
}

/// The record of `id` stored as `value`, `None` once expired.
fn decode(id: &SessionId, value: &[u8]) -> Result<Option<Record>, StoreError> {
    if value.len() < HEADER || value[0] != FORMAT {
        return Err(malformed("not a record of this format"));
    }
    let field = |n: usize| -> [u8; 8] {
        let start = 1 + 8 * n;
        value[start..start + 8].try_into().unwrap_or_default()
    };
    let at = |n| Record::from_millis(i64::from_be_bytes(field(n)));
    let record = Record::new(id.clone(), value[HEADER..].to_vec(), at(1), at(3), at(2))
        .with_version(u64::from_be_bytes(field(0)));
    Ok((!record.is_expired(OffsetDateTime::now_utc())).then_some(record))
}

/// When the key of `record` expires: its idle expiry, capped at the
/// absolute one.
fn expire_at(record: &Record) -> i64 {
    Record::millis(record.idle_expires_at.min(record.absolute_expires_at))
}

fn lease_ms(lease: Duration) -> u64 {
    u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The time left on a lease from its `PTTL`: none for a key that vanished
/// (-2) or has no expiry (-1).
fn time_left(pttl: i64) -> Duration {
    Duration::from_millis(u64::try_from(pttl).unwrap_or(0))
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisRsStore {
    fn name(&self) -> &'static str {
        "redis-rs"
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(&record.id))
            .arg(encode(record)?)
            .arg("PXAT")
            .arg(expire_at(record))
            .arg("NX");
        let created: Option<String> = self.query(&cmd).await?;
        created.map(drop).ok_or(StoreError::AlreadyExists)
    }

    async fn save(&self, record: &Record, expected_version: Option<u64>) -> Result<(), StoreError> {
        let key = self.key(&record.id);
        let value = encode(record)?;
        let Some(expected) = expected_version else {
            let mut cmd = redis::cmd("SET");
            cmd.arg(&key)
                .arg(value)
                .arg("PXAT")
                .arg(expire_at(record))
                .arg("XX");
            let saved: Option<String> = self.query(&cmd).await?;
            return saved.map(drop).ok_or(StoreError::NotFound);
        };
        let lease = self.lease_key(&record.id);
        let mut cmd = Self::script(&self.shas.save_unleased, &[&key, &lease]);
        cmd.arg(value)
            .arg(expire_at(record))
            .arg(&expected.to_be_bytes()[..]);
        match self.query::<i64>(&cmd).await? {
            1 => Ok(()),
            0 => Err(StoreError::NotFound),
            _ => Err(StoreError::Conflict { expected }),
        }
    }

    async fn load(
        &self,
        id: &SessionId,
        touch: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError> {
        let value: Option<Vec<u8>> = self.query(redis::cmd("GET").arg(self.key(id))).await?;
        let Some(mut record) = value.map(|v| decode(id, &v)).transpose()?.flatten() else {
            return Ok(None);
        };
        if let Some(at) = touch {
            record.idle_expires_at = at.min(record.absolute_expires_at);
            self.save(&record, None).await?;
        }
        Ok(Some(record))
    }

    async fn touch(
        &self,
        id: &SessionId,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(self.load(id, Some(idle_expires_at)).await?.is_some())
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let deleted: i64 = self.query(redis::cmd("DEL").arg(self.key(id))).await?;
        Ok(deleted > 0)
    }

    /// Every key under the prefix (records and leases).
    async fn clear(&self) -> Result<(), StoreError> {
        let keys = self.keys().await?;
        if !keys.is_empty() {
            let _: i64 = self.query(redis::cmd("DEL").arg(keys)).await?;
        }
        Ok(())
    }

    /// The record keys under the prefix: a key lives as long as its record
    /// (its expiry is the record's).
    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.ids().await?.len() as u64)
    }

    async fn ids(&self) -> Result<Vec<SessionId>, StoreError> {
        let leases = format!("{}lock:", self.prefix);
        let keys = self.keys().await?;
        let ids = keys.iter().filter(|key| !key.starts_with(&leases));
        Ok(ids
            .filter_map(|key| key[self.prefix.len()..].parse().ok())
            .collect())
    }

    fn locks(&self) -> Option<&dyn SessionLocks> {
        Some(self)
    }
}

#[async_trait::async_trait]
impl SessionLocks for RedisRsStore {
    async fn try_lock(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
        touch: Option<OffsetDateTime>,
    ) -> Result<LockAttempt, StoreError> {
        let (lease_key, key) = (self.lease_key(id), self.key(id));
        let attempt = match self.lock_step {
            LockStep::Script => self.lock_by_script(&lease_key, &key, token, lease).await?,
            LockStep::Pipeline => {
                self.lock_by_pipeline(&lease_key, &key, token, lease)
                    .await?
            }
        };
        let mut record = match attempt {
            Attempt::Held(expires_in) => return Ok(LockAttempt::Held { expires_in }),
            Attempt::Taken(value) => value.map(|v| decode(id, &v)).transpose()?.flatten(),
        };
        if let (Some(record), Some(at)) = (record.as_mut(), touch) {
            record.idle_expires_at = at.min(record.absolute_expires_at);
            self.save(record, None).await?;
        }
        Ok(LockAttempt::Acquired(record))
    }

    async fn extend(
        &self,
        id: &SessionId,
        token: &LockToken,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let mut cmd = Self::script(&self.shas.if_holder, &[&self.lease_key(id)]);
        cmd.arg(token.to_hex()).arg(lease_ms(lease));
        Ok(self.query::<i64>(&cmd).await? == 1)
    }

    async fn unlock(&self, id: &SessionId, token: &LockToken) -> Result<bool, StoreError> {
        let mut cmd = Self::script(&self.shas.if_holder, &[&self.lease_key(id)]);
        cmd.arg(token.to_hex());
        Ok(self.query::<i64>(&cmd).await? == 1)
    }

    async fn save_and_unlock(
        &self,
        record: &Record,
        _expected_version: Option<u64>,
        token: &LockToken,
    ) -> SavedAndUnlocked {
        let value = match encode(record) {
            Ok(value) => value,
            Err(error) => {
                return SavedAndUnlocked {
                    saved: Err(error),
                    released: self.unlock(&record.id, token).await.ok(),
                }
            }
        };
        let (key, lease) = (self.key(&record.id), self.lease_key(&record.id));
        let mut cmd = Self::script(&self.shas.save_held, &[&key, &lease]);
        cmd.arg(value).arg(expire_at(record)).arg(token.to_hex());
        let (saved, released) = match self.query::<(i64, i64)>(&cmd).await {
            Ok((1, _)) => (Ok(()), Some(true)),
            Ok((0, _)) => (Err(StoreError::NotFound), Some(true)),
            Ok(_) => (
                Err(StoreError::Conflict {
                    expected: record.version.saturating_sub(1),
                }),
                Some(false),
            ),
            Err(error) => (Err(error), None),
        };
        SavedAndUnlocked { saved, released }
    }
}
