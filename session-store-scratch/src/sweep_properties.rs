//! The sweeper's promise as a property: whatever the order and timing of
//! operations, with sub-second expiries, every expired record is removed
//! by the next sweep after it expired, and the indexes always match the
//! records. Time is a clock moved by hand, so a case runs in microseconds.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use session_core::time::{Duration, OffsetDateTime};
use session_core::{
    store::{Record, SessionStore},
    SessionId,
};

use crate::store::MemoryStore;

#[derive(Debug, Clone)]
enum Op {
    Create {
        idle_ms: i64,
        absolute_ms: i64,
        owner: Option<u8>,
    },
    Touch {
        which: usize,
        idle_ms: i64,
    },
    LoadTouch {
        which: usize,
        idle_ms: i64,
    },
    Save {
        which: usize,
        idle_ms: i64,
        owner: Option<u8>,
    },
    Delete {
        which: usize,
    },
    Rotate {
        which: usize,
    },
    DeleteOwner {
        owner: u8,
    },
    Sweep,
    Advance {
        ms: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let ms = 0..1500i64;
    let owner = proptest::option::of(0..3u8);
    prop_oneof![
        3 => (ms.clone(), 200..4000i64, owner.clone())
            .prop_map(|(idle_ms, absolute_ms, owner)| Op::Create { idle_ms, absolute_ms, owner }),
        2 => (any::<usize>(), ms.clone()).prop_map(|(which, idle_ms)| Op::Touch { which, idle_ms }),
        1 => (any::<usize>(), ms.clone())
            .prop_map(|(which, idle_ms)| Op::LoadTouch { which, idle_ms }),
        2 => (any::<usize>(), ms, owner)
            .prop_map(|(which, idle_ms, owner)| Op::Save { which, idle_ms, owner }),
        1 => any::<usize>().prop_map(|which| Op::Delete { which }),
        1 => any::<usize>().prop_map(|which| Op::Rotate { which }),
        1 => (0..3u8).prop_map(|owner| Op::DeleteOwner { owner }),
        3 => Just(Op::Sweep),
        4 => (1..700i64).prop_map(|ms| Op::Advance { ms }),
    ]
}

fn owner_name(owner: Option<u8>) -> Option<String> {
    owner.map(|o| format!("owner-{o}"))
}

/// Runs `ops` on a store whose clock starts `start_ms` into a second.
async fn run(start_ms: i64, ops: Vec<Op>) {
    let start = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap()
        + Duration::milliseconds(start_ms);
    let clock = Arc::new(Mutex::new(start));
    let now = || *clock.lock().unwrap();
    let store = MemoryStore::builder()
        .no_cleanup()
        .manual_clock(clock.clone())
        .build();
    let mut ids: Vec<SessionId> = Vec::new();
    let pick = |ids: &[SessionId], which: usize| ids.get(which % ids.len().max(1)).cloned();
    for op in ops {
        match op {
            Op::Create {
                idle_ms,
                absolute_ms,
                owner,
            } => {
                let at = now();
                let r = Record::new(
                    SessionId::random(),
                    b"x".to_vec(),
                    at,
                    at + Duration::milliseconds(idle_ms),
                    at + Duration::milliseconds(absolute_ms),
                )
                .with_version(1)
                .with_owner(owner_name(owner));
                store.create(&r).await.unwrap();
                ids.push(r.id);
            }
            Op::Touch { which, idle_ms } => {
                if let Some(id) = pick(&ids, which) {
                    let _ = store
                        .touch(&id, now() + Duration::milliseconds(idle_ms))
                        .await;
                }
            }
            Op::LoadTouch { which, idle_ms } => {
                if let Some(id) = pick(&ids, which) {
                    let at = now() + Duration::milliseconds(idle_ms);
                    let _ = store.load(&id, Some(at)).await;
                }
            }
            Op::Save {
                which,
                idle_ms,
                owner,
            } => {
                if let Some(id) = pick(&ids, which) {
                    if let Some(mut r) = store.load(&id, None).await.unwrap() {
                        let expected = r.version;
                        r.version += 1;
                        r.idle_expires_at = now() + Duration::milliseconds(idle_ms);
                        r.owner = owner_name(owner);
                        store.save(&r, Some(expected)).await.unwrap();
                    }
                }
            }
            Op::Delete { which } => {
                if let Some(id) = pick(&ids, which) {
                    store.delete(&id).await.unwrap();
                }
            }
            Op::Rotate { which } => {
                if let Some(id) = pick(&ids, which) {
                    if let Some(mut r) = store.load(&id, None).await.unwrap() {
                        let expected = r.version;
                        r.id = SessionId::random();
                        r.version += 1;
                        store.rotate(&id, &r, Some(expected)).await.unwrap();
                        ids.push(r.id);
                    }
                }
            }
            Op::DeleteOwner { owner } => {
                store
                    .delete_by_owner(&owner_name(Some(owner)).unwrap())
                    .await
                    .unwrap();
            }
            Op::Sweep => {
                store.remove_expired();
                store.assert_swept_until(now());
            }
            Op::Advance { ms } => *clock.lock().unwrap() += Duration::milliseconds(ms),
        }
        store.assert_consistent();
    }
    // Everything has expired (absolute expiries are at most seconds away).
    *clock.lock().unwrap() += Duration::hours(2);
    store.remove_expired();
    assert_eq!(store.len(), 0, "one sweep after everything expired");
    assert_eq!(store.indexed(), 0, "the index holds nothing");
    store.assert_consistent();
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_expired_record_is_swept(start_ms in 0..1000i64, ops in prop::collection::vec(op(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(run(start_ms, ops));
    }
}
