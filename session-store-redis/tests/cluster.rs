//! A real three-node Redis Cluster on loopback ports, started by the test
//! (skipped, with the reason printed, where redis-server or redis-cli is
//! missing).
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_port, have, record, unique_prefix, Raw, RedisServer, Reply, Scratch};
use session_core::{
    store::{Record, SessionStore, StoreError},
    SessionConfig, SessionId, SessionManager,
};
use session_store_redis::RedisStore;

struct Cluster {
    nodes: Vec<RedisServer>,
    _scratch: Scratch,
}

impl Cluster {
    async fn start() -> Option<Cluster> {
        for program in ["redis-server", "redis-cli"] {
            if !have(program) {
                eprintln!("skipped: {program} is not installed");
                return None;
            }
        }
        let scratch = Scratch::new("cluster");
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let bus = free_port().to_string();
            let conf = format!(
                "nodes-{}.conf",
                SessionId::random().as_str().get(..8).unwrap_or("x")
            );
            let args = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &conf,
                "--cluster-port",
                &bus,
                "--cluster-node-timeout",
                "2000",
            ];
            nodes.push(RedisServer::start_with(&scratch, &args).await);
        }
        let mut create = Command::new("redis-cli");
        create.args(["--cluster", "create"]);
        create.args(nodes.iter().map(RedisServer::address));
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        let status = create
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = Cluster {
            nodes,
            _scratch: scratch,
        };
        cluster.wait_until_ok().await;
        Some(cluster)
    }

    async fn wait_until_ok(&self) {
        for _ in 0..200 {
            let mut ok = true;
            for node in &self.nodes {
                let mut raw = Raw::connect(&node.address()).await.expect("node");
                let info = raw
                    .cmd(&["CLUSTER", "INFO"])
                    .await
                    .expect("cluster info")
                    .text();
                ok &= info.contains("cluster_state:ok");
            }
            if ok {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the cluster did not reach cluster_state:ok");
    }

    fn url(&self) -> String {
        let others: Vec<String> = self.nodes[1..]
            .iter()
            .map(|n| format!("node={}", n.address()))
            .collect();
        format!(
            "redis-cluster://{}?{}",
            self.nodes[0].address(),
            others.join("&")
        )
    }

    /// The members of a set, asked of the node that holds it.
    async fn members(&self, key: &str) -> Vec<String> {
        for node in &self.nodes {
            let mut raw = Raw::connect(&node.address()).await.expect("node");
            // The other nodes answer MOVED.
            if let Ok(Reply::Array(Some(items))) = raw.cmd(&["SMEMBERS", key]).await {
                let mut members: Vec<String> = items.iter().map(Reply::text).collect();
                members.sort();
                return members;
            }
        }
        panic!("no node holds {key}");
    }

    /// How many keys each node holds.
    async fn keys_per_node(&self) -> Vec<i64> {
        let mut counts = Vec::new();
        for node in &self.nodes {
            let mut raw = Raw::connect(&node.address()).await.expect("node");
            counts.push(raw.cmd(&["DBSIZE"]).await.expect("dbsize").int());
        }
        counts
    }
}

async fn exercise(store: &RedisStore, cluster: &Cluster, spread: bool) {
    // Records everywhere: create, load, touch, save, delete.
    let mut records: Vec<Record> = (0..120).map(|_| record(60_000)).collect();
    for (i, r) in records.iter_mut().enumerate() {
        r.owner = (i % 3 == 0).then(|| "alice".to_owned());
        store.create(r).await.unwrap();
    }
    let per_node = cluster.keys_per_node().await;
    let used = per_node.iter().filter(|n| **n > 0).count();
    if spread {
        assert_eq!(used, 3, "sessions spread over the cluster: {per_node:?}");
    } else {
        assert_eq!(used, 1, "a hash-tagged prefix pins one slot: {per_node:?}");
    }
    for r in &records {
        assert_eq!(store.load(&r.id, None).await.unwrap().as_ref(), Some(r));
    }
    assert!(matches!(
        store.create(&records[0]).await,
        Err(StoreError::AlreadyExists)
    ));
    let later = Record::from_millis(
        Record::millis(session_core::time::OffsetDateTime::now_utc()) + 120_000,
    );
    assert!(store.touch(&records[1].id, later).await.unwrap());
    assert_eq!(
        store
            .load(&records[1].id, None)
            .await
            .unwrap()
            .unwrap()
            .idle_expires_at,
        later
    );
    let mut changed = records[2].clone();
    changed.version += 1;
    changed.data = b"changed".to_vec();
    store
        .save(&changed, Some(records[2].version))
        .await
        .unwrap();
    assert!(matches!(
        store.save(&changed, Some(records[2].version)).await,
        Err(StoreError::Conflict { .. })
    ));

    // Counting and listing scan every node.
    assert_eq!(store.count().await.unwrap(), 120);
    let mut ids: Vec<SessionId> = records.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    assert_eq!(store.ids().await.unwrap(), ids);

    // The owner index spans slots: one of alice's sessions changes hands,
    // then "log out everywhere" removes the other 39 and nothing else.
    let mut alice: Vec<SessionId> = records
        .iter()
        .filter(|r| r.owner.is_some())
        .map(|r| r.id.clone())
        .collect();
    alice.sort();
    assert_eq!(store.ids_by_owner("alice").await.unwrap(), alice);
    let mut handed = records[0].clone();
    handed.owner = Some("bob".into());
    handed.version += 1;
    store.save(&handed, None).await.unwrap();
    assert_eq!(store.ids_by_owner("alice").await.unwrap().len(), 39);
    assert_eq!(
        store.ids_by_owner("bob").await.unwrap(),
        vec![handed.id.clone()]
    );
    assert_eq!(store.delete_by_owner("alice").await.unwrap(), 39);
    assert_eq!(store.delete_by_owner("alice").await.unwrap(), 0);
    assert_eq!(store.count().await.unwrap(), 81);
    assert!(store.load(&handed.id, None).await.unwrap().is_some());

    let dropped = records[4].id.clone();
    assert_eq!(
        store
            .delete_where(&|r: &Record| r.id == dropped)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.count().await.unwrap(), 80);

    assert!(store.delete(&records[1].id).await.unwrap());
    assert!(!store.delete(&records[1].id).await.unwrap());

    rotations(store, cluster).await;

    // The request cycle on the cluster.
    let manager = SessionManager::<Vec<String>>::new(
        SessionConfig::testing()
            .store(store.clone())
            .build()
            .unwrap(),
    );
    let lazy = manager.start_request();
    lazy.load(None).await.unwrap().data_mut().push("x".into());
    let cookie = manager
        .finish_request(&lazy, 200)
        .await
        .unwrap()
        .unwrap()
        .pair();
    let lazy = manager.start_request();
    let session = lazy.load(Some(cookie.as_str())).await.unwrap();
    assert_eq!(*session.data(), ["x"]);
    session.regenerate();
    session.set_owner(Some("carol"));
    let rotated = manager
        .finish_request(&lazy, 200)
        .await
        .unwrap()
        .unwrap()
        .pair();
    assert_ne!(rotated, cookie);
    assert_eq!(manager.delete_by_owner("carol").await.unwrap(), 1);

    store.clear().await.unwrap();
    assert_eq!(store.count().await.unwrap(), 0);
    assert_eq!(
        cluster.keys_per_node().await,
        vec![0, 0, 0],
        "clear removed owner indexes too"
    );
}

/// Rotation: one script where the keys share a slot, the split rotation
/// across slots otherwise; the same answers either way, and a refused
/// rotation leaves no key behind (the final clear checks every node).
async fn rotations(store: &RedisStore, cluster: &Cluster) {
    let before = store.count().await.unwrap();
    let mut old = record(60_000);
    old.owner = Some("erin".into());
    store.create(&old).await.unwrap();
    let mut moved = record(60_000);
    moved.owner = Some("frank".into());
    moved.version = 2;
    assert!(matches!(
        store.rotate(&old.id, &moved, Some(7)).await,
        Err(StoreError::Conflict { expected: 7 })
    ));
    let taken = records_taken(store).await;
    let mut onto_taken = moved.clone();
    onto_taken.id = taken.id.clone();
    assert!(matches!(
        store.rotate(&old.id, &onto_taken, None).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(store.load(&taken.id, None).await.unwrap(), Some(taken));
    assert_eq!(store.count().await.unwrap(), before + 2, "nothing changed");

    store.rotate(&old.id, &moved, Some(1)).await.unwrap();
    assert!(store.load(&old.id, None).await.unwrap().is_none());
    assert_eq!(
        store.load(&moved.id, None).await.unwrap(),
        Some(moved.clone())
    );
    let index = |owner: &str| format!("{}owner:{{{owner}}}", store.prefix());
    assert_eq!(cluster.members(&index("erin")).await, Vec::<String>::new());
    assert_eq!(
        cluster.members(&index("frank")).await,
        vec![moved.id.to_string()]
    );

    // Deleted meanwhile: nothing is carried over, nothing left behind.
    assert!(store.delete(&moved.id).await.unwrap());
    let mut target = record(60_000);
    target.owner = Some("frank".into());
    assert!(matches!(
        store.rotate(&moved.id, &target, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.load(&target.id, None).await.unwrap().is_none());
    // (A delete by id leaves its index entry, a hint checked when read.)
    let frank = cluster.members(&index("frank")).await;
    assert!(!frank.contains(&target.id.to_string()), "{frank:?}");

    // Of many rotations from one id, exactly one wins.
    let from = record(60_000);
    store.create(&from).await.unwrap();
    let targets: Vec<Record> = (0..16).map(|_| record(60_000)).collect();
    let outcomes =
        futures_util::future::join_all(targets.iter().map(|t| store.rotate(&from.id, t, Some(1))))
            .await;
    let won: Vec<&Record> = targets
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.is_ok())
        .map(|(t, _)| t)
        .collect();
    assert_eq!(won.len(), 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Ok(()) | Err(StoreError::NotFound))));
    assert_eq!(store.count().await.unwrap(), before + 2);
    for id in [&won[0].id, &from.id] {
        store.delete(id).await.unwrap();
    }
    store.delete(&onto_taken.id).await.unwrap();
    assert_eq!(store.count().await.unwrap(), before);
}

/// A record to rotate onto: its id is taken.
async fn records_taken(store: &RedisStore) -> Record {
    let taken = record(60_000);
    store.create(&taken).await.unwrap();
    taken
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_works_on_a_three_node_cluster() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let store = RedisStore::builder()
        .prefix(unique_prefix("cluster"))
        .connect(&cluster.url())
        .await
        .unwrap();
    exercise(&store, &cluster, true).await;

    // A prefix with a hash tag keeps every key on one slot.
    let pinned = RedisStore::builder()
        .prefix(format!("{{{}}}", unique_prefix("pinned")))
        .connect(&cluster.url())
        .await
        .unwrap();
    exercise(&pinned, &cluster, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_near_cache_stays_coherent_on_a_three_node_cluster() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    // No hash tag: the sessions spread over the three nodes, each of which
    // reports its own keys' changes.
    let prefix = unique_prefix("cluster-near");
    let a = common::near_cached_store(&cluster.url(), &prefix).await;
    let b = common::near_cached_store(&cluster.url(), &prefix).await;
    common::near_cache_coherence(&a, &b, 30).await;
    assert!(cluster.keys_per_node().await.len() == 3);
    // The store's contract holds with the cache on.
    exercise(&a, &cluster, true).await;
}

/// Two stores with a prefix on the cluster, as two processes.
async fn pair(cluster: &Cluster, prefix: &str) -> common::Pair {
    let url = cluster.url();
    let connect = || RedisStore::builder().prefix(prefix).connect(&url);
    common::Pair(connect().await.unwrap(), connect().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_locks_work_on_a_three_node_cluster() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    // Sessions spread over the nodes: each lease lives on its record's slot
    // (a script on two keys of different slots would fail with CROSSSLOT).
    let spread = pair(&cluster, &unique_prefix("cluster-locks")).await;
    common::all_lease_checks(&spread).await;
    spread.0.clear().await.unwrap();
    assert_eq!(
        cluster.keys_per_node().await,
        vec![0, 0, 0],
        "clear removed the leases"
    );

    // A hash-tagged prefix: everything on one slot, locks included.
    let pinned = pair(&cluster, &format!("{{{}}}", unique_prefix("pinned-locks"))).await;
    common::all_lease_checks(&pinned).await;
    pinned.0.clear().await.unwrap();
    assert_eq!(
        cluster.keys_per_node().await,
        vec![0, 0, 0],
        "clear removed the leases"
    );

    // Braces that make no hash tag: no key can share a record's slot, so
    // the store offers no locks on a cluster (the policy is then refused
    // when the configuration is built).
    let untagged = RedisStore::builder()
        .prefix("{}:s:")
        .connect(&cluster.url())
        .await
        .unwrap();
    assert!(untagged.locks().is_none());
}

/// A store as the conformance checks take it (the owner checks use no
/// neighbour).
struct On(RedisStore);

#[async_trait::async_trait]
impl session_store_conformance::Fixture for On {
    fn store(&self) -> std::sync::Arc<dyn SessionStore> {
        std::sync::Arc::new(self.0.clone())
    }

    async fn neighbour(&self) -> std::sync::Arc<dyn SessionStore> {
        self.store()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_per_owner_needs_a_hash_tagged_prefix_on_a_cluster() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    // Spread over the nodes, one owner's records sit on slots that no
    // script spans: the cap is refused before any request.
    let spread = RedisStore::builder()
        .prefix(unique_prefix("cluster-cap"))
        .connect(&cluster.url())
        .await
        .unwrap();
    assert!(!spread.limits_owners());
    let built = SessionConfig::testing()
        .store(spread)
        .max_sessions_per_owner(2)
        .build();
    assert!(
        matches!(
            built,
            Err(session_core::ConfigError::OwnerLimitUnsupported { store: "redis" })
        ),
        "{built:?}"
    );

    // A hash-tagged prefix: one script holds the cap under parallel logins.
    let pinned = RedisStore::builder()
        .prefix(format!("{{{}}}", unique_prefix("pinned-cap")))
        .connect(&cluster.url())
        .await
        .unwrap();
    assert!(pinned.limits_owners());
    let fixture = On(pinned.clone());
    session_store_conformance::parallel_logins_never_exceed_the_owner_limit(&fixture).await;
    session_store_conformance::a_login_over_the_limit_ends_the_oldest_session(&fixture).await;
    pinned.clear().await.unwrap();
}
