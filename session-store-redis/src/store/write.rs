//! Creates and saves.
//!
//! - Create: `SET key value PXAT at NX` (fred's typed command, which shares
//!   writes with other requests' commands under load). With an owner, the owner index is
//!   written too: by the `create` script where both keys share a slot (one
//!   atomic step), else by `SADD` + `PEXPIREAT NX` + `PEXPIREAT GT` on the
//!   index's slot, sent alongside.
//! - Save under last-write-wins, of a session this process knows (it read
//!   or wrote it, so the key held a value of this format):
//!   `SET key value PXAT at XX`, which refuses a key that expired or was
//!   deleted meanwhile (`NotFound`, never a resurrection). With an owner the
//!   store believes unchanged, `SET ... XX GET`, whose reply shows the owner
//!   it replaced; an owner that changed after all is indexed next.
//! - Any other save (an expected version under `Concurrency::Reject`, an
//!   owner that changes or is unknown, a session not known here): the
//!   `save` script, which checks format, version and owner before writing.
//! - The save of a locked session under `Concurrency::Serialize`, one
//!   round trip: if the token still holds the lease, the write and the
//!   lease's release, and nothing at all otherwise (a lease that ran out
//!   may have been taken over: its new holder saves after us without a
//!   version check). With no owner, or one this process knows unchanged,
//!   the `save_held` script (`SET ... XX` between the token check and the
//!   `DEL`; the held lease stands for the version check); else the
//!   `save_unlock` script, the `save` script's checks under the same token
//!   check.
//! - A versioned save that holds no lease, on a store that can lock: the
//!   `save_unleased` script, the `save` script refused while any request
//!   holds the session's lease, which is what lets a holder skip the
//!   version check.

use std::future::Future;
use std::pin::Pin;

use fred::types::{SetOptions, Value};
use futures_util::future::try_join;
use session_core::store::{LockToken, Record, StoreError};

use super::{unexpected, RedisStore};
use crate::known::Facts;
use crate::layout;
use crate::scripts::SCRIPTS;

/// A boxed store future: the joined writes stay small to move around.
type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A record ready to send: its key, value and key expiry.
struct Write<'a> {
    record: &'a Record,
    key: String,
    value: Vec<u8>,
    at: i64,
}

impl RedisStore {
    fn prepare<'a>(&self, record: &'a Record) -> Result<Write<'a>, StoreError> {
        Ok(Write {
            record,
            key: self.inner.keys.record(&record.id),
            value: layout::encode(record)?,
            at: layout::expire_at(record),
        })
    }

    /// Remembers the facts of `record`, whose key expires at `expiry` (ms),
    /// unless `known` already holds them.
    pub(super) fn remember(&self, record: &Record, expiry: i64, known: Option<Facts>) {
        let absolute = Record::millis(record.absolute_expires_at);
        let owner = record.owner.as_deref().map(str::as_bytes);
        let facts = self.inner.known.facts(absolute, owner, expiry);
        if known != Some(facts) {
            self.inner.known.remember(&record.id, facts);
        }
    }

    pub(super) async fn create_record(&self, record: &Record) -> Result<(), StoreError> {
        let write = self.prepare(record)?;
        let created = match record.owner.as_deref() {
            Some(owner) if self.inner.one_slot => self.create_by_script(write, owner).await?,
            Some(owner) => {
                // On a cluster the index lives on another slot: written
                // alongside, not after (one round trip of latency). An index
                // entry without its record is harmless: entries are checked
                // against the record's owner when read.
                let set = Box::pin(self.set(write, SetOptions::NX)) as Boxed<'_, bool>;
                let index = Box::pin(self.index(owner, record)) as Boxed<'_, bool>;
                try_join(set, index).await?.0
            }
            None => self.set(write, SetOptions::NX).await?,
        };
        if !created {
            return Err(StoreError::AlreadyExists);
        }
        self.remember(record, layout::expire_at(record), None);
        Ok(())
    }

    pub(super) async fn save_record(
        &self,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let write = self.prepare(record)?;
        let owner = record.owner.as_deref().map(str::as_bytes);
        let known = self.inner.known.get(&record.id);
        let saved = match known {
            Some(_) if expected.is_none() && owner.is_none() => {
                self.set(write, SetOptions::XX).await?
            }
            Some(facts)
                if expected.is_none() && facts.owner == self.inner.known.owner_hash(owner) =>
            {
                self.set_checking_owner(write).await?
            }
            _ => {
                let lock = expected
                    .filter(|_| self.can_lock())
                    .map(|_| self.inner.keys.lock(&record.id));
                let lease = lock.as_deref().map_or(Lease::None, Lease::Unleased);
                self.save_by_script(write, expected, lease).await?.0?
            }
        };
        if !saved {
            self.inner.known.forget(&record.id);
            return Err(StoreError::NotFound);
        }
        self.remember(record, layout::expire_at(record), known);
        Ok(())
    }

    /// `SET key value PXAT at NX|XX`: whether it was set.
    async fn set(&self, write: Write<'_>, condition: SetOptions) -> Result<bool, StoreError> {
        let reply = self
            .inner
            .redis
            .set(&write.key, write.value, write.at, condition, false)
            .await?;
        Ok(reply.is_some_and(|reply| !reply.is_null()))
    }

    /// `SET key value PXAT at XX GET`, for a record with an owner believed
    /// unchanged: the replaced value tells whether it was, and a new owner
    /// is indexed now (a second round trip, only after a change made by
    /// another process).
    async fn set_checking_owner(&self, write: Write<'_>) -> Result<bool, StoreError> {
        let record = write.record;
        let (key, value, at) = (write.key, write.value, write.at);
        let old = match self
            .inner
            .redis
            .set(&key, value, at, SetOptions::XX, true)
            .await?
        {
            // A key of another type is not ours to overwrite, and SET GET
            // left it as it was.
            None => {
                tracing::warn!(id = %record.id, "redis holds an unreadable session record; not saving over it");
                return Ok(false);
            }
            Some(Value::Null) => return Ok(false),
            Some(old) => old,
        };
        let new_owner = record.owner.as_deref().map(str::as_bytes);
        match layout::bytes(&old).map(layout::owner_of) {
            Some(Ok(old_owner)) if old_owner == new_owner => return Ok(true),
            Some(Ok(_)) => {}
            _ => tracing::warn!(id = %record.id, "a save replaced a value of another format"),
        }
        if let Some(owner) = record.owner.as_deref() {
            self.index(owner, record).await?;
        }
        Ok(true)
    }

    async fn create_by_script(&self, write: Write<'_>, owner: &str) -> Result<bool, StoreError> {
        let index = self.inner.keys.owner(owner);
        let args = vec![
            Value::Bytes(write.value.into()),
            write.at.into(),
            write.record.id.as_str().into(),
        ];
        let keys = [write.key.as_str(), index.as_str()];
        let reply = self.inner.redis.eval(&SCRIPTS.create, &keys, args).await?;
        match layout::integer(&reply) {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(unexpected("create", &reply)),
        }
    }

    /// The commit of a locked modification (`save_held` or `save_unlock`,
    /// see the module docs): the save's outcome (as [`Self::save_record`]
    /// answers it; a `Conflict` when the token no longer held the lease)
    /// and whether `token` held the lease, now released. The outer error is
    /// a failed call: nothing is known.
    pub(super) async fn save_releasing(
        &self,
        record: &Record,
        expected: Option<u64>,
        token: &LockToken,
    ) -> Result<(Result<(), StoreError>, bool), StoreError> {
        let write = self.prepare(record)?;
        let known = self.inner.known.get(&record.id);
        let lock = self.inner.keys.lock(&record.id);
        let owner = record.owner.as_deref().map(str::as_bytes);
        let unchanged_owner = owner.is_none()
            || known.is_some_and(|facts| facts.owner == self.inner.known.owner_hash(owner));
        let (saved, held) = if unchanged_owner {
            self.set_holding(write, &lock, token, expected).await?
        } else {
            let lease = Lease::Held(&lock, token);
            self.save_by_script(write, expected, lease).await?
        };
        let saved = match saved {
            Ok(true) => {
                self.remember(record, layout::expire_at(record), known);
                Ok(())
            }
            Ok(false) => {
                self.inner.known.forget(&record.id);
                Err(StoreError::NotFound)
            }
            Err(conflict) => Err(conflict),
        };
        Ok((saved, held))
    }

    /// The `save_held` script: whether the record was saved (`Conflict`
    /// when the lease is not `token`'s, and then nothing was written;
    /// `expected` only names the version in that error) and whether
    /// `token` held the lease.
    async fn set_holding(
        &self,
        write: Write<'_>,
        lock: &str,
        token: &LockToken,
        expected: Option<u64>,
    ) -> Result<(Result<bool, StoreError>, bool), StoreError> {
        let keys = [write.key.as_str(), lock];
        let args = vec![
            Value::Bytes(write.value.into()),
            write.at.into(),
            token.to_hex().into(),
        ];
        let reply = self
            .inner
            .redis
            .eval(&SCRIPTS.save_held, &keys, args)
            .await?;
        let answer = match &reply {
            Value::Array(items) if items.len() == 2 => {
                (layout::integer(&items[0]), layout::integer(&items[1]))
            }
            _ => (None, None),
        };
        match answer {
            (Some(1), Some(1)) => Ok((Ok(true), true)),
            (Some(0), Some(1)) => Ok((Ok(false), true)),
            (Some(-1), Some(0)) => {
                let expected = expected.unwrap_or_default();
                Ok((Err(StoreError::Conflict { expected }), false))
            }
            _ => Err(unexpected(SCRIPTS.save_held.name, &reply)),
        }
    }

    /// The `save` script, or with a lease to consider the `save_unleased`
    /// or `save_unlock` script: whether the record was saved (a version
    /// conflict, or a lease not held, is the inner error), and whether the
    /// token held the lease.
    async fn save_by_script(
        &self,
        write: Write<'_>,
        expected: Option<u64>,
        lease: Lease<'_>,
    ) -> Result<(Result<bool, StoreError>, bool), StoreError> {
        let record = write.record;
        let owner = record.owner.as_deref();
        let index = owner
            .filter(|_| self.inner.one_slot)
            .map(|owner| self.inner.keys.owner(owner));
        let mut keys = vec![write.key.as_str()];
        keys.extend(lease.key());
        keys.extend(index.as_deref());
        let mut args = vec![
            Value::Bytes(write.value.into()),
            write.at.into(),
            expected.map_or_else(|| "".into(), layout::version_bytes),
            record.id.as_str().into(),
        ];
        if let Lease::Held(_, token) = lease {
            args.push(Value::from(token.to_hex()));
        }
        let script = lease.script();
        let call = Box::pin(self.inner.redis.eval(script, &keys, args));
        let reply = match owner.filter(|_| !self.inner.one_slot) {
            // Another slot: the index is written alongside (see create).
            Some(owner) => {
                let index = Box::pin(self.index(owner, record)) as Boxed<'_, bool>;
                try_join(call as Boxed<'_, Value>, index).await?.0
            }
            None => call.await?,
        };
        let (answer, held) = match (&reply, lease) {
            (_, Lease::None | Lease::Unleased(_)) => (layout::integer(&reply), false),
            (Value::Array(items), Lease::Held(..)) if items.len() == 2 => (
                layout::integer(&items[0]),
                layout::integer(&items[1]) == Some(1),
            ),
            _ => return Err(unexpected(script.name, &reply)),
        };
        let saved = match answer {
            Some(1 | 2) => Ok(true),
            Some(0) => Ok(false),
            Some(-1) => Err(StoreError::Conflict {
                expected: expected.unwrap_or_default(),
            }),
            _ => return Err(unexpected(script.name, &reply)),
        };
        Ok((saved, held))
    }

    /// Adds `record` to the index of `owner` and makes the index live at
    /// least as long as the record: `NX` gives a new set its expiry, `GT`
    /// extends an existing one. One pipeline on the index's slot. Answers
    /// whether the entry is new.
    pub(super) async fn index(&self, owner: &str, record: &Record) -> Result<bool, StoreError> {
        let key = self.inner.keys.owner(owner);
        let absolute = Record::millis(record.absolute_expires_at).max(1);
        let expire = |flag: &'static str| {
            let args: Vec<Value> = vec![key.as_str().into(), absolute.into(), flag.into()];
            ("PEXPIREAT", args)
        };
        let commands = vec![
            ("SADD", vec![key.as_str().into(), record.id.as_str().into()]),
            expire("NX"),
            expire("GT"),
        ];
        let replies = self.inner.redis.pipeline(&key, commands).await?;
        Ok(replies
            .first()
            .and_then(Option::as_ref)
            .and_then(layout::integer)
            == Some(1))
    }
}

/// The lease a scripted save takes into account.
#[derive(Clone, Copy)]
enum Lease<'a> {
    /// None: the `save` script.
    None,
    /// A versioned save that holds no lease, refused while the lease (this
    /// key) is held: the `save_unleased` script.
    Unleased(&'a str),
    /// The holder's commit, with the lease's key and token: the
    /// `save_unlock` script.
    Held(&'a str, &'a LockToken),
}

impl<'a> Lease<'a> {
    fn key(self) -> Option<&'a str> {
        match self {
            Lease::None => None,
            Lease::Unleased(key) | Lease::Held(key, _) => Some(key),
        }
    }

    fn script(self) -> &'static crate::scripts::Script {
        match self {
            Lease::None => &SCRIPTS.save,
            Lease::Unleased(_) => &SCRIPTS.save_unleased,
            Lease::Held(..) => &SCRIPTS.save_unlock,
        }
    }
}
