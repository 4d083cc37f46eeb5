//! What only the Redis store does, against the shared Redis at REDIS_URL,
//! each test under its own prefix, which it clears at the end: the key
//! layout and expiries, other processes' writes, undecodable values, the
//! owner index, prefixes with glob characters, connecting. The contract it
//! shares with the other stores is checked in `conformance.rs`.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod common;
use std::time::{Duration, Instant};

use common::{
    address, encode, record, redis_url, shared_store, unique_prefix, Raw, Reply, DATA_OFFSET,
};
use session_core::time::{self, OffsetDateTime};
use session_core::{
    store::{Record, SessionStore, StoreError},
    IdleRefresh, SessionConfig, SessionId, SessionManager,
};
use session_store_redis::fred::clients::Pool;
use session_store_redis::fred::interfaces::ClientLike;
use session_store_redis::fred::types::config::Config;
use session_store_redis::fred::types::Builder;
use session_store_redis::ConfigError;
use session_store_redis::{ConnectError, RedisStore};

async fn raw() -> Raw {
    Raw::connect(&address(&redis_url()))
        .await
        .expect("shared redis")
}

#[tokio::test]
async fn a_plain_save_of_a_deleted_session_is_not_found_and_recreates_nothing() {
    // The store knows these sessions, so their saves are plain `SET ... XX`
    // (without owner) and `SET ... XX GET` (with one).
    let store = shared_store("plain-save").await;
    let mut redis = raw().await;
    for owner in [None, Some("alice".to_owned())] {
        let mut r = record(60_000);
        r.owner = owner.clone();
        store.create(&r).await.unwrap();
        r.version = 2;
        store.save(&r, None).await.unwrap();
        let key = store.record_key(&r.id);
        assert_eq!(
            redis.cmd(&["GET", &key]).await.unwrap(),
            Reply::Bulk(Some(encode(&r))),
            "{owner:?}"
        );
        let pttl = redis.cmd(&["PTTL", &key]).await.unwrap().int();
        assert!((55_000..=60_000).contains(&pttl), "{owner:?}: {pttl}");
        // Deleted behind the store's back ("log out everywhere" elsewhere).
        redis.cmd(&["DEL", &key]).await.unwrap();
        r.version = 3;
        assert!(
            matches!(store.save(&r, None).await, Err(StoreError::NotFound)),
            "{owner:?}"
        );
        assert_eq!(redis.cmd(&["EXISTS", &key]).await.unwrap().int(), 0);
    }
    store.clear().await.unwrap();
}

#[tokio::test]
async fn an_owner_changed_by_another_process_is_indexed_again_on_save() {
    let store = shared_store("owner-race").await;
    let other = RedisStore::builder()
        .prefix(store.prefix())
        .connect(&redis_url())
        .await
        .unwrap();
    let mut r = record(60_000);
    r.owner = Some("alice".into());
    store.create(&r).await.unwrap();
    // Another process hands the session to bob, and a "log out everywhere"
    // listing of alice drops her stale index entry.
    let mut bob = r.clone();
    bob.owner = Some("bob".into());
    bob.version = 2;
    other.save(&bob, None).await.unwrap();
    assert_eq!(store.ids_by_owner("alice").await.unwrap(), vec![]);
    // This process, still believing alice owns it, saves with alice: the
    // replaced value shows bob, so alice's index gets the entry back.
    r.version = 3;
    store.save(&r, None).await.unwrap();
    assert_eq!(
        store.ids_by_owner("alice").await.unwrap(),
        vec![r.id.clone()]
    );
    assert_eq!(store.delete_by_owner("alice").await.unwrap(), 1);
    store.clear().await.unwrap();
}

#[tokio::test]
async fn every_field_of_a_record_survives_the_round_trip() {
    let store = shared_store("fields").await;
    let mut r = record(60_000);
    r.data = (0..=255u8).collect();
    r.version = u64::MAX - 1;
    r.owner = Some("ünïcode owner".into());
    r.created_at -= time::Duration::minutes(3);
    store.create(&r).await.unwrap();
    assert_eq!(store.load(&r.id, None).await.unwrap().unwrap(), r);
    store.clear().await.unwrap();
}

#[tokio::test]
async fn the_key_is_the_prefix_and_the_id_and_redis_carries_the_expiry() {
    let store = shared_store("layout").await;
    let token = session_core::crypto::token::random_token();
    let mut r = record(90_000);
    r.id = SessionId::from_token(&token);
    store.create(&r).await.unwrap();
    let key = store.record_key(&r.id);
    assert_eq!(key, format!("{}{}", store.prefix(), r.id));
    let mut redis = raw().await;
    assert_eq!(
        redis.cmd(&["TYPE", &key]).await.unwrap(),
        Reply::Status("string".into())
    );
    // One value, laid out as the README documents it.
    assert_eq!(
        redis.cmd(&["GET", &key]).await.unwrap(),
        Reply::Bulk(Some(encode(&r)))
    );
    let pttl = redis.cmd(&["PTTL", &key]).await.unwrap().int();
    assert!(
        (85_000..=90_000).contains(&pttl),
        "expiry follows the idle timeout: {pttl}"
    );
    // The token appears nowhere: not in a key, not in a value.
    let keys = redis
        .cmd(&["KEYS", &format!("{}*", store.prefix())])
        .await
        .unwrap()
        .text();
    let values = redis.cmd(&["GET", &key]).await.unwrap().text();
    assert!(!keys.contains(&token) && !values.contains(&token));
    store.clear().await.unwrap();
}

#[tokio::test]
async fn a_touch_never_takes_the_expiry_past_the_absolute_expiry() {
    let store = shared_store("absolute").await;
    // Another process with the same prefix: it has not seen the sessions,
    // so its first touches read the absolute expiry in a script.
    let stranger = RedisStore::builder()
        .prefix(store.prefix())
        .connect(&redis_url())
        .await
        .unwrap();
    for (who, touching) in [("knows", &store), ("stranger", &stranger)] {
        let mut r = record(1_000);
        r.absolute_expires_at = r.created_at + time::Duration::seconds(20);
        store.create(&r).await.unwrap();
        let mut redis = raw().await;
        let key = store.record_key(&r.id);
        let far = OffsetDateTime::now_utc() + time::Duration::hours(5);

        let loaded = touching.load(&r.id, Some(far)).await.unwrap().unwrap();
        assert_eq!(
            loaded.idle_expires_at, r.absolute_expires_at,
            "{who}: load with touch is capped"
        );
        let pttl = redis.cmd(&["PTTL", &key]).await.unwrap().int();
        assert!(
            (15_000..=20_000).contains(&pttl),
            "{who}: the TTL is capped too: {pttl}"
        );

        let near = OffsetDateTime::now_utc() + time::Duration::seconds(10);
        assert!(touching.touch(&r.id, near).await.unwrap());
        let pttl = redis.cmd(&["PTTL", &key]).await.unwrap().int();
        assert!(
            (5_000..=10_000).contains(&pttl),
            "{who}: a touch sets the idle expiry: {pttl}"
        );
        let stranger_touch = RedisStore::builder()
            .prefix(store.prefix())
            .connect(&redis_url())
            .await
            .unwrap();
        for touch in [touching, &stranger_touch] {
            assert!(touch.touch(&r.id, far).await.unwrap());
            let pttl = redis.cmd(&["PTTL", &key]).await.unwrap().int();
            assert!((0..=20_000).contains(&pttl), "{who}: {pttl}");
        }
        assert_eq!(
            touching
                .load(&r.id, None)
                .await
                .unwrap()
                .unwrap()
                .idle_expires_at,
            r.absolute_expires_at
        );
    }
    store.clear().await.unwrap();
}

#[tokio::test]
async fn a_session_recreated_elsewhere_with_an_earlier_absolute_expiry_is_corrected() {
    // Facts this process remembers could only go stale if another process
    // wrote the same id with another absolute expiry; the load notices and
    // puts the key's expiry right in the same call.
    let store = shared_store("stale-facts").await;
    let r = record(60_000);
    store.create(&r).await.unwrap();
    let mut other = r.clone();
    other.absolute_expires_at = r.created_at + time::Duration::seconds(30);
    let key = store.record_key(&r.id);
    let mut redis = raw().await;
    redis
        .cmd_bytes(&[b"SET", key.as_bytes(), &encode(&other), b"PX", b"60000"])
        .await
        .unwrap();
    let far = OffsetDateTime::now_utc() + time::Duration::hours(5);
    let loaded = store.load(&r.id, Some(far)).await.unwrap().unwrap();
    assert_eq!(loaded.absolute_expires_at, other.absolute_expires_at);
    assert_eq!(loaded.idle_expires_at, other.absolute_expires_at);
    let pttl = redis.cmd(&["PTTL", &key]).await.unwrap().int();
    assert!((25_000..=30_000).contains(&pttl), "{pttl}");
    // And from then on the new facts are used.
    assert!(store.touch(&r.id, far).await.unwrap());
    let pttl = redis.cmd(&["PTTL", &key]).await.unwrap().int();
    assert!((25_000..=30_000).contains(&pttl), "{pttl}");
    // A record of this format without any expiry (written by hand): the
    // first read gives it its absolute expiry.
    let mut persistent = record(60_000);
    persistent.absolute_expires_at = persistent.created_at + time::Duration::seconds(40);
    let key = store.record_key(&persistent.id);
    redis
        .cmd_bytes(&[b"SET", key.as_bytes(), &encode(&persistent)])
        .await
        .unwrap();
    let loaded = store.load(&persistent.id, None).await.unwrap().unwrap();
    assert_eq!(loaded.idle_expires_at, persistent.absolute_expires_at);
    let pttl = redis.cmd(&["PTTL", &key]).await.unwrap().int();
    assert!((35_000..=40_000).contains(&pttl), "{pttl}");
    store.clear().await.unwrap();
}

#[tokio::test]
async fn a_touch_rewrites_no_data() {
    let store = shared_store("touch-no-rewrite").await;
    let r = record(60_000);
    store.create(&r).await.unwrap();
    // Another writer changes the data behind our back: a touch must keep it.
    let mut redis = raw().await;
    let key = store.record_key(&r.id);
    let offset = DATA_OFFSET.to_string();
    redis
        .cmd(&["SETRANGE", &key, &offset, "DATA"])
        .await
        .unwrap();
    let later = OffsetDateTime::now_utc() + time::Duration::minutes(10);
    assert!(store.touch(&r.id, later).await.unwrap());
    let loaded = store.load(&r.id, Some(later)).await.unwrap().unwrap();
    assert_eq!(loaded.data, b"DATA");
    let mut changed = r.clone();
    changed.data = b"DATA".to_vec();
    assert_eq!(
        redis.cmd(&["GET", &key]).await.unwrap(),
        Reply::Bulk(Some(encode(&changed)))
    );
    store.clear().await.unwrap();
}

/// A value of this format with an edited header.
fn edited(record: &Record, at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut value = encode(record);
    value[at..at + bytes.len()].copy_from_slice(bytes);
    value
}

#[tokio::test]
async fn undecodable_values_are_no_session_and_harm_no_other_session() {
    let store = shared_store("malformed").await;
    let good = record(60_000);
    store.create(&good).await.unwrap();
    let mut redis = raw().await;
    let later = OffsetDateTime::now_utc() + time::Duration::minutes(5);

    let template = record(60_000);
    let mut owned = template.clone();
    owned.owner = Some("alice".into());
    let strings: Vec<(&str, Vec<u8>)> = vec![
        ("another format byte", b"\x00\x01garbage".to_vec()),
        ("a newer format", edited(&template, 0, &[2])),
        ("a truncated header", encode(&template)[..20].to_vec()),
        (
            "an owner longer than the value",
            edited(&owned, 25, &100u32.to_be_bytes()),
        ),
        ("JSON", br#"{"data":"x"}"#.to_vec()),
        ("empty", Vec::new()),
    ];
    let mut cases: Vec<(String, Vec<Vec<Vec<u8>>>)> = strings
        .into_iter()
        .map(|(what, value)| {
            (
                what.to_owned(),
                vec![vec![b"SET".to_vec(), b"{key}".to_vec(), value]],
            )
        })
        .collect();
    // Other types: the hash layout of earlier versions, an unrelated set.
    let hash: Vec<&[u8]> = vec![b"HSET", b"{key}", b"f", b"1", b"d", b"x", b"v", b"1"];
    cases.push((
        "a hash".into(),
        vec![hash.into_iter().map(<[u8]>::to_vec).collect()],
    ));
    cases.push((
        "a set".into(),
        vec![vec![b"SADD".to_vec(), b"{key}".to_vec(), b"x".to_vec()]],
    ));
    for (what, commands) in &cases {
        let id = SessionId::random();
        let key = store.record_key(&id);
        for command in commands {
            let args: Vec<&[u8]> = command
                .iter()
                .map(|a| {
                    if a == b"{key}" {
                        key.as_bytes()
                    } else {
                        a.as_slice()
                    }
                })
                .collect();
            redis.cmd_bytes(&args).await.unwrap();
        }
        redis.cmd(&["PEXPIRE", &key, "60000"]).await.unwrap();
        let before = redis.cmd(&["DUMP", &key]).await.unwrap();
        assert!(store.load(&id, None).await.unwrap().is_none(), "{what}");
        assert!(
            store.load(&id, Some(later)).await.unwrap().is_none(),
            "{what}"
        );
        assert!(!store.touch(&id, later).await.unwrap(), "{what}");
        let mut over = record(60_000);
        over.id = id.clone();
        assert!(
            matches!(store.save(&over, None).await, Err(StoreError::NotFound)),
            "{what}"
        );
        assert!(
            matches!(store.save(&over, Some(1)).await, Err(StoreError::NotFound)),
            "{what}"
        );
        assert!(
            matches!(store.create(&over).await, Err(StoreError::AlreadyExists)),
            "{what}"
        );
        assert_eq!(
            redis.cmd(&["DUMP", &key]).await.unwrap(),
            before,
            "{what}: not changed: another version may own it"
        );
        let pttl = redis.cmd(&["PTTL", &key]).await.unwrap().int();
        assert!(
            (50_000..=60_000).contains(&pttl),
            "{what}: expiry kept: {pttl}"
        );
    }
    assert_eq!(store.load(&good.id, None).await.unwrap().unwrap(), good);

    // A record whose own absolute expiry has passed (a clock jump, a
    // hand-edited value): a touching load lets Redis drop it, and leaves no
    // stray key behind.
    let mut stale = record(60_000);
    stale.absolute_expires_at = Record::from_millis(1);
    let key = store.record_key(&stale.id);
    redis
        .cmd_bytes(&[b"SET", key.as_bytes(), &encode(&stale), b"PX", b"60000"])
        .await
        .unwrap();
    assert!(store.load(&stale.id, Some(later)).await.unwrap().is_none());
    assert_eq!(redis.cmd(&["EXISTS", &key]).await.unwrap().int(), 0);

    let ids = store.ids().await.unwrap();
    assert!(ids.contains(&good.id));

    // Through the request cycle: a cookie naming a record whose data the
    // codec cannot read gets a fresh session with a fresh token.
    let manager = SessionManager::<Vec<String>>::new(
        SessionConfig::testing()
            .store(store.clone())
            .build()
            .unwrap(),
    );
    let token = session_core::crypto::token::random_token();
    let mut corrupt = record(60_000);
    corrupt.id = SessionId::from_token(&token);
    corrupt.data = b"not json at all".to_vec();
    store.create(&corrupt).await.unwrap();
    let lazy = manager.start_request();
    let cookie = format!("{}={token}", manager.config().cookie_name());
    let session = lazy.load(Some(cookie.as_str())).await.unwrap();
    assert!(session.is_new());
    assert_ne!(session.id(), SessionId::from_token(&token));
    store.clear().await.unwrap();
}

#[tokio::test]
async fn a_known_session_replaced_by_another_type_is_no_session_not_an_outage() {
    // This process has seen the session (plain commands from then on), then
    // another version writes the key as a hash: WRONGTYPE is no session.
    let store = shared_store("wrongtype").await;
    let mut r = record(60_000);
    r.owner = Some("alice".into());
    store.create(&r).await.unwrap();
    let key = store.record_key(&r.id);
    let mut redis = raw().await;
    redis.cmd(&["DEL", &key]).await.unwrap();
    redis.cmd(&["HSET", &key, "f", "1"]).await.unwrap();
    redis.cmd(&["PEXPIRE", &key, "60000"]).await.unwrap();
    let later = OffsetDateTime::now_utc() + time::Duration::minutes(5);
    assert!(store.load(&r.id, Some(later)).await.unwrap().is_none());
    store.create(&r).await.unwrap_err();
    let mut known = record(60_000);
    known.owner = Some("bob".into());
    store.create(&known).await.unwrap();
    let key = store.record_key(&known.id);
    redis.cmd(&["DEL", &key]).await.unwrap();
    redis.cmd(&["HSET", &key, "f", "1"]).await.unwrap();
    known.version += 1;
    assert!(matches!(
        store.save(&known, None).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        redis.cmd(&["TYPE", &key]).await.unwrap(),
        Reply::Status("hash".into())
    );
    store.clear().await.unwrap();
}

#[tokio::test]
async fn clear_count_and_ids_stay_inside_the_prefix() {
    // Glob characters in the prefix must not widen the match.
    let base = unique_prefix("scan");
    let prefix = format!("{base}[ab]*?:");
    let store = RedisStore::builder()
        .prefix(&prefix)
        .connect(&redis_url())
        .await
        .unwrap();
    let neighbour = RedisStore::builder()
        .prefix(format!("{base}a:"))
        .connect(&redis_url())
        .await
        .unwrap();
    let mut mine = Vec::new();
    for i in 0..1_200 {
        let mut r = record(60_000);
        r.owner = (i % 100 == 0).then(|| format!("owner-{i}"));
        store.create(&r).await.unwrap();
        mine.push(r.id);
    }
    let theirs = record(60_000);
    neighbour.create(&theirs).await.unwrap();
    let mut redis = raw().await;
    let strays = [
        format!("{base}[ab]*?"),
        format!("{base}b-x:"),
        format!("{base}[ab]*?x"),
    ];
    for stray in &strays {
        redis
            .cmd(&["SET", stray, "keep me", "PX", "60000"])
            .await
            .unwrap();
    }

    assert_eq!(store.count().await.unwrap(), 1_200);
    mine.sort();
    assert_eq!(store.ids().await.unwrap(), mine);
    assert_eq!(neighbour.count().await.unwrap(), 1);

    store.clear().await.unwrap();
    assert_eq!(store.count().await.unwrap(), 0);
    let left = redis.cmd(&["KEYS", &format!("{base}*")]).await.unwrap();
    let Reply::Array(Some(left)) = left else {
        panic!("{left:?}")
    };
    assert_eq!(left.len(), strays.len() + 1, "only our keys went: {left:?}");
    assert!(neighbour.load(&theirs.id, None).await.unwrap().is_some());
    neighbour.clear().await.unwrap();
    for stray in &strays {
        redis.cmd(&["DEL", stray]).await.unwrap();
    }
}

#[tokio::test]
async fn the_owner_index_lists_and_deletes_every_session_of_an_owner() {
    let store = shared_store("owners").await;
    let mut a = record(60_000);
    a.owner = Some("alice".into());
    let mut b = record(60_000);
    b.owner = Some("alice".into());
    let mut c = record(60_000);
    c.owner = Some("bob".into());
    let anonymous = record(60_000);
    for r in [&a, &b, &c, &anonymous] {
        store.create(r).await.unwrap();
    }
    let mut alice = vec![a.id.clone(), b.id.clone()];
    alice.sort();
    assert_eq!(store.ids_by_owner("alice").await.unwrap(), alice);

    // The index lives as long as its longest session, no longer.
    let mut redis = raw().await;
    let index = format!("{}owner:{{alice}}", store.prefix());
    let pttl = redis.cmd(&["PTTL", &index]).await.unwrap().int();
    assert!((3_500_000..=3_600_000).contains(&pttl), "{pttl}");

    // b changes hands: alice's index entry goes stale and is not listed.
    b.owner = Some("bob".into());
    b.version = 2;
    store.save(&b, Some(1)).await.unwrap();
    assert_eq!(
        store.ids_by_owner("alice").await.unwrap(),
        vec![a.id.clone()]
    );
    let mut bob = vec![b.id.clone(), c.id.clone()];
    bob.sort();
    assert_eq!(store.ids_by_owner("bob").await.unwrap(), bob);

    assert_eq!(store.delete_by_owner("bob").await.unwrap(), 2);
    assert_eq!(store.delete_by_owner("bob").await.unwrap(), 0);
    assert!(store.load(&b.id, None).await.unwrap().is_none());
    assert!(
        store.load(&a.id, None).await.unwrap().is_some(),
        "alice keeps hers"
    );
    assert!(store.load(&anonymous.id, None).await.unwrap().is_some());
    assert_eq!(
        store.ids_by_owner("nobody").await.unwrap(),
        Vec::<SessionId>::new()
    );
    store.clear().await.unwrap();
}

#[tokio::test]
async fn log_out_everywhere_through_the_manager() {
    let store = shared_store("logout-everywhere").await;
    let manager = SessionManager::<Vec<String>>::new(
        SessionConfig::testing()
            .store(store.clone())
            .build()
            .unwrap(),
    );
    let mut ids = Vec::new();
    for _ in 0..3 {
        let session = manager.create();
        session.data_mut().push("x".into());
        session.set_owner(Some("7"));
        manager.commit(&session).await.unwrap();
        ids.push(session.id());
    }
    assert_eq!(manager.delete_by_owner("7").await.unwrap(), 3);
    for id in &ids {
        assert!(manager.find(id).await.unwrap().is_none());
    }
    store.clear().await.unwrap();
}

/// A blocking command on the shared Redis, for use inside a predicate: what
/// another process would do while `delete_where` runs.
fn blocking_cmd(args: &[&[u8]]) -> String {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::net::TcpStream::connect(address(&redis_url())).unwrap();
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend(format!("${}\r\n", arg.len()).bytes());
        out.extend(*arg);
        out.extend(b"\r\n");
    }
    (&stream).write_all(&out).unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    line
}

#[tokio::test]
async fn delete_where_deletes_what_matches_and_tests_the_version_it_deletes() {
    let store = shared_store("delete-where").await;
    let mut records = Vec::new();
    for i in 0..30 {
        let mut r = record(60_000);
        r.data = if i % 3 == 0 {
            b"drop".to_vec()
        } else {
            b"keep".to_vec()
        };
        store.create(&r).await.unwrap();
        records.push(r);
    }
    assert_eq!(
        store
            .delete_where(&|r: &Record| r.data == b"drop")
            .await
            .unwrap(),
        10
    );
    assert_eq!(store.count().await.unwrap(), 20);
    assert_eq!(
        store
            .delete_where(&|r: &Record| r.data == b"drop")
            .await
            .unwrap(),
        0
    );

    // Another process saves a record between its test and its deletion:
    // the new version is tested again. Still matching: deleted.
    let target = records[1].clone();
    let key = store.record_key(&target.id);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let deleted = store
        .delete_where(&|r: &Record| {
            if r.id != target.id {
                return false;
            }
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                // Bumps the version in place, as a save by another process.
                let version = 2u64.to_be_bytes();
                let reply = blocking_cmd(&[b"SETRANGE", key.as_bytes(), b"1", &version]);
                assert!(reply.starts_with(':'), "{reply}");
            }
            true
        })
        .await
        .unwrap();
    assert_eq!(
        (deleted, calls.into_inner()),
        (1, 2),
        "tested twice, deleted once"
    );

    // No longer matching after the concurrent save: kept.
    let target = records[2].clone();
    let key = store.record_key(&target.id);
    let deleted = store
        .delete_where(&|r: &Record| {
            if r.id != target.id || r.data != b"keep" {
                return false;
            }
            let mut saved = r.clone();
            saved.data = b"saved meanwhile".to_vec();
            saved.version = 9;
            let value = encode(&saved);
            blocking_cmd(&[b"SET", key.as_bytes(), &value, b"KEEPTTL"]);
            true
        })
        .await
        .unwrap();
    assert_eq!(deleted, 0);
    assert_eq!(
        store.load(&target.id, None).await.unwrap().unwrap().data,
        b"saved meanwhile"
    );

    // Typed, through the manager.
    #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
    struct Tenant {
        name: String,
    }
    let manager = SessionManager::<Tenant>::new(
        SessionConfig::testing()
            .store(store.clone())
            .build()
            .unwrap(),
    );
    for name in ["acme", "acme", "initech"] {
        let session = manager.create();
        session.data_mut().name = name.into();
        manager.commit(&session).await.unwrap();
    }
    let before = store.count().await.unwrap();
    assert_eq!(
        manager
            .delete_where(|s| s.data.name == "acme")
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.count().await.unwrap(), before - 2);
    store.clear().await.unwrap();
}

#[tokio::test]
async fn connect_fails_fast_and_clearly_when_nothing_listens() {
    let started = Instant::now();
    let error = RedisStore::connect("redis://127.0.0.1:1")
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(error.is_unavailable());
    let StoreError::Unavailable(source) = &error else {
        panic!("{error:?}")
    };
    let connect = source
        .downcast_ref::<ConnectError>()
        .expect("a ConnectError");
    assert!(
        matches!(connect, ConnectError::Unreachable { .. }),
        "{connect:?}"
    );
    assert!(error.to_string().contains("127.0.0.1:1"), "{error}");

    // A URL that is no Redis URL is a configuration error, not a `503`.
    let error = RedisStore::connect("not a url").await.unwrap_err();
    assert!(error.to_string().contains("invalid redis url"), "{error}");
    assert!(!error.is_unavailable(), "{error:?}");
    let StoreError::Config(source) = &error else {
        panic!("not StoreError::Config: {error:?}")
    };
    assert!(
        matches!(
            source.downcast_ref::<ConfigError>(),
            Some(ConfigError::InvalidUrl(_))
        ),
        "{source:?}"
    );
}

#[tokio::test]
async fn a_pool_built_by_the_application_works() {
    let config = Config::from_url(&redis_url()).unwrap();
    let pool: Pool = Builder::from_config(config).build_pool(3).unwrap();
    pool.init().await.unwrap();
    let store = RedisStore::builder()
        .prefix(unique_prefix("pool"))
        .command_timeout(Duration::from_millis(300))
        .build_with_pool(pool.clone());
    assert_eq!(store.command_timeout(), Duration::from_millis(300));
    store.ping().await.unwrap();
    // Without verify() the scripts are not preloaded: the first calls fall
    // back to EVAL, transparently.
    let records: Vec<Record> = (0..10).map(|_| record(60_000)).collect();
    for r in &records {
        store.create(r).await.unwrap();
    }
    for r in &records {
        assert_eq!(store.load(&r.id, None).await.unwrap().as_ref(), Some(r));
    }
    store.verify().await.unwrap();
    store.clear().await.unwrap();
    pool.quit().await.unwrap();

    // A pool opened by the store itself.
    let store = RedisStore::builder()
        .prefix(unique_prefix("own-pool"))
        .pool_size(3)
        .connect(&redis_url())
        .await
        .unwrap();
    let r = record(60_000);
    store.create(&r).await.unwrap();
    assert!(store.delete(&r.id).await.unwrap());
}

#[tokio::test]
async fn an_expiry_another_process_extended_is_read_from_redis_not_from_memory() {
    // This process remembers the 1 s expiry it wrote; another process then
    // extends the sessions to a minute. Past the remembered expiry they are
    // alive in Redis, and every read path must say so.
    let a = shared_store("extended-elsewhere").await;
    let b = RedisStore::builder()
        .prefix(a.prefix())
        .connect(&redis_url())
        .await
        .unwrap();
    let (read, swept) = (record(1_000), record(1_000));
    let extended = Record::from_millis(Record::millis(OffsetDateTime::now_utc()) + 60_000);
    for r in [&read, &swept] {
        a.create(r).await.unwrap();
        assert!(b.touch(&r.id, extended).await.unwrap());
    }
    // Users of this process, under both refresh modes that load without
    // touching, whose sessions another process's requests kept alive.
    let mut users = Vec::new();
    for refresh in [IdleRefresh::Always, IdleRefresh::OnWrite] {
        let config = SessionConfig::testing()
            .store(a.clone())
            .idle_timeout(Duration::from_secs(1))
            .idle_refresh(refresh)
            .build()
            .unwrap();
        let manager = SessionManager::<Vec<String>>::new(config);
        let session = manager.create();
        session.data_mut().push("logged in".into());
        let cookie = manager.commit(&session).await.unwrap().unwrap().pair();
        let value = cookie.split_once('=').unwrap().1.to_owned();
        assert!(b.touch(&session.id(), extended).await.unwrap());
        users.push((refresh, manager, value));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    for (refresh, manager, value) in &users {
        let session = manager.load(Some(value.as_str())).await.unwrap();
        assert!(!session.is_new(), "{refresh:?}: the user was logged out");
        assert_eq!(*session.data(), ["logged in"], "{refresh:?}");
    }

    // An administrator's sweep sees a live session.
    let deleted = a.delete_where(&|r: &Record| r.id == swept.id).await;
    assert_eq!(deleted.unwrap(), 1, "delete_where skipped a live session");
    assert!(b.load(&swept.id, None).await.unwrap().is_none());

    // A plain load (find, get, OnWrite, and the manager's default) too, with
    // the key's real expiry.
    let loaded = a.load(&read.id, None).await.unwrap();
    let loaded = loaded.expect("alive in Redis: extended by the other process");
    assert_eq!(loaded.idle_expires_at, extended, "the key's real expiry");
    // Read again: the store now remembers the real expiry.
    let again = a.load(&read.id, None).await.unwrap().unwrap();
    assert_eq!(again.idle_expires_at, extended);
    assert_eq!(a.delete_where(&|_: &Record| true).await.unwrap(), 3);
    a.clear().await.unwrap();
}

/// The raw members of an owner's index set (entries, stale ones included).
async fn index_members(redis: &mut Raw, store: &RedisStore, owner: &str) -> Vec<String> {
    let index = format!("{}owner:{{{owner}}}", store.prefix());
    let mut members: Vec<String> = match redis.cmd(&["SMEMBERS", &index]).await.unwrap() {
        Reply::Array(Some(items)) => items.iter().map(Reply::text).collect(),
        other => panic!("{other:?}"),
    };
    members.sort();
    members
}

#[tokio::test]
async fn of_many_rotations_from_one_id_exactly_one_wins() {
    let store = shared_store("rotation-race").await;
    let mut redis = raw().await;
    for round in 0..5 {
        let mut old = record(60_000);
        old.owner = Some("alice".into());
        store.create(&old).await.unwrap();
        let targets: Vec<Record> = (0..24)
            .map(|i| {
                let mut target = record(60_000);
                target.owner = old.owner.clone();
                target.version = 2 + i;
                target
            })
            .collect();
        let rotations = targets.iter().enumerate().map(|(i, target)| {
            let (store, from) = (store.clone(), old.id.clone());
            let expected = (i % 2 == 0).then_some(1);
            let target = target.clone();
            tokio::spawn(async move { store.rotate(&from, &target, expected).await })
        });
        let outcomes: Vec<_> = futures_util::future::join_all(rotations)
            .await
            .into_iter()
            .map(|joined| joined.unwrap())
            .collect();
        let winners: Vec<&Record> = targets
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| outcome.is_ok())
            .map(|(target, _)| target)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        for outcome in &outcomes {
            assert!(
                matches!(outcome, Ok(()) | Err(StoreError::NotFound)),
                "round {round}: {outcome:?}"
            );
        }
        assert_eq!(store.count().await.unwrap(), 1, "round {round}");
        assert!(store.load(&old.id, None).await.unwrap().is_none());
        let winner = winners[0];
        assert_eq!(
            store.load(&winner.id, None).await.unwrap().as_ref(),
            Some(winner)
        );
        assert_eq!(
            index_members(&mut redis, &store, "alice").await,
            vec![winner.id.to_string()],
            "round {round}: the index names the winner alone"
        );
        store.clear().await.unwrap();
    }
}

#[tokio::test]
async fn a_rotation_racing_a_delete_never_resurrects() {
    let store = shared_store("rotation-delete-race").await;
    let other = RedisStore::builder()
        .prefix(store.prefix())
        .connect(&redis_url())
        .await
        .unwrap();
    for round in 0..40 {
        let old = record(60_000);
        store.create(&old).await.unwrap();
        let target = record(60_000);
        let (rotated, deleted) =
            tokio::join!(store.rotate(&old.id, &target, None), other.delete(&old.id));
        let deleted = deleted.unwrap();
        match rotated {
            // The rotation went first: the delete found nothing.
            Ok(()) => {
                assert!(!deleted, "round {round}: deleted, yet carried over");
                assert_eq!(store.count().await.unwrap(), 1, "round {round}");
            }
            Err(StoreError::NotFound) => {
                assert!(deleted, "round {round}");
                assert_eq!(store.count().await.unwrap(), 0, "round {round}");
            }
            Err(error) => panic!("round {round}: {error:?}"),
        }
        store.clear().await.unwrap();
    }
}

#[tokio::test]
async fn a_rotation_moves_the_index_entry_and_carries_the_expiries() {
    let store = shared_store("rotation-index").await;
    let mut redis = raw().await;
    // A login as another user: the new record has another owner.
    let mut old = record(60_000);
    old.owner = Some("alice".into());
    store.create(&old).await.unwrap();
    let mut kept = record(60_000);
    kept.owner = Some("alice".into());
    store.create(&kept).await.unwrap();
    let mut new = record(90_000);
    new.owner = Some("bob".into());
    store.rotate(&old.id, &new, None).await.unwrap();
    assert_eq!(
        index_members(&mut redis, &store, "alice").await,
        vec![kept.id.to_string()],
        "the old id left its owner's index"
    );
    assert_eq!(
        index_members(&mut redis, &store, "bob").await,
        vec![new.id.to_string()]
    );
    let key = store.record_key(&new.id);
    let at = redis.cmd(&["PEXPIRETIME", &key]).await.unwrap().int();
    assert_eq!(at, Record::millis(new.idle_expires_at), "the idle expiry");
    let index = format!("{}owner:{{bob}}", store.prefix());
    let index_at = redis.cmd(&["PEXPIRETIME", &index]).await.unwrap().int();
    assert_eq!(index_at, Record::millis(new.absolute_expires_at));

    // An idle expiry past the absolute one is capped.
    let mut capped = record(60_000);
    capped.idle_expires_at = capped.absolute_expires_at + time::Duration::hours(1);
    store.rotate(&new.id, &capped, None).await.unwrap();
    let key = store.record_key(&capped.id);
    let at = redis.cmd(&["PEXPIRETIME", &key]).await.unwrap().int();
    assert_eq!(at, Record::millis(capped.absolute_expires_at));
    assert_eq!(
        index_members(&mut redis, &store, "bob").await,
        Vec::<String>::new(),
        "an owner-less record joins no index"
    );

    // A record of another format, or past its absolute expiry with no key
    // expiry (written by hand), is not carried over.
    let foreign = SessionId::random();
    let foreign_key = store.record_key(&foreign);
    redis
        .cmd(&["SET", &foreign_key, "not a session", "PX", "60000"])
        .await
        .unwrap();
    let mut stale = record(60_000);
    stale.absolute_expires_at = Record::from_millis(Record::millis(OffsetDateTime::now_utc()) - 1);
    let stale_key = store.record_key(&stale.id);
    redis
        .cmd_bytes(&[b"SET", stale_key.as_bytes(), &encode(&stale)])
        .await
        .unwrap();
    for from in [&foreign, &stale.id] {
        let target = record(60_000);
        assert!(matches!(
            store.rotate(from, &target, None).await,
            Err(StoreError::NotFound)
        ));
        assert!(store.load(&target.id, None).await.unwrap().is_none());
    }
    assert_eq!(
        redis.cmd(&["GET", &foreign_key]).await.unwrap().text(),
        "not a session",
        "left as it was"
    );
    store.clear().await.unwrap();
}
