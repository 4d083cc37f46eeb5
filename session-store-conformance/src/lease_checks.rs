//! The store-level rules of [`SessionLocks`], one public async function
//! each, run on two independent instances of one store (their own
//! connections or pools, the same data): what two processes sharing the
//! backend see. The request cycle's use of the locks is checked through the
//! manager elsewhere; these hold the store's half to the trait's rules.
//! One more check needs two processes as well: the cap per owner under
//! parallel logins on both instances (for stores that limit owners).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use session_core::store::{
    LockAttempt, LockToken, OwnerLimitPolicy, Record, SessionLocks, SessionStore, StoreError,
};
use session_core::{SessionError, SessionId};

use crate::owners;
use crate::records::record;

/// Two instances of one store on the same backend and namespace (key
/// prefix, table), each with connections of its own, empty at the start.
#[async_trait::async_trait]
pub trait Twins: Send + Sync {
    /// The first instance.
    fn first(&self) -> Arc<dyn SessionStore>;
    /// The second instance, as another process would have it.
    fn second(&self) -> Arc<dyn SessionStore>;
}

/// A lease long enough never to run out during a check.
const LONG: Duration = Duration::from_secs(30);

fn locks(store: &dyn SessionStore) -> &dyn SessionLocks {
    store
        .locks()
        .unwrap_or_else(|| panic!("the {} store offers no locks", store.name()))
}

async fn attempt(
    store: &dyn SessionStore,
    id: &SessionId,
    token: &LockToken,
    lease: Duration,
) -> LockAttempt {
    locks(store)
        .try_lock(id, token, lease, None)
        .await
        .expect("try_lock")
}

fn assert_held(answer: &LockAttempt, lease: Duration) {
    match answer {
        LockAttempt::Held { expires_in } => {
            assert!(*expires_in <= lease, "{expires_in:?} left of {lease:?}");
        }
        other => panic!("expected the lock to be held, got {other:?}"),
    }
}

/// Of two tokens, the first to try takes the lock (with no record under the
/// id: `Acquired(None)`); the other is told it is held, with at most the
/// lease left, on either instance and again on a second try.
pub async fn of_two_tokens_one_wins(fx: &dyn Twins) {
    let (a, b) = (fx.first(), fx.second());
    let id = SessionId::random();
    let (mine, theirs) = (LockToken::random(), LockToken::random());
    assert!(matches!(
        attempt(&*a, &id, &mine, LONG).await,
        LockAttempt::Acquired(None)
    ));
    assert_held(&attempt(&*b, &id, &theirs, LONG).await, LONG);
    assert_held(&attempt(&*a, &id, &theirs, LONG).await, LONG);
    // The holder itself is refused too: a lease is not re-entrant.
    assert_held(&attempt(&*b, &id, &mine, LONG).await, LONG);
    // Another id is free.
    assert!(matches!(
        attempt(&*b, &SessionId::random(), &theirs, LONG).await,
        LockAttempt::Acquired(None)
    ));
}

/// `unlock` and `extend` with a token that does not hold the lease answer
/// `false` and change nothing; the holder's unlock frees it for the next.
pub async fn the_wrong_token_changes_nothing(fx: &dyn Twins) {
    let (a, b) = (fx.first(), fx.second());
    let id = SessionId::random();
    let (mine, theirs) = (LockToken::random(), LockToken::random());
    assert!(matches!(
        attempt(&*a, &id, &mine, LONG).await,
        LockAttempt::Acquired(None)
    ));
    assert!(!locks(&*b).unlock(&id, &theirs).await.unwrap());
    assert!(!locks(&*b).extend(&id, &theirs, LONG).await.unwrap());
    assert_held(&attempt(&*b, &id, &theirs, LONG).await, LONG);
    assert!(locks(&*a).unlock(&id, &mine).await.unwrap());
    assert!(
        !locks(&*a).unlock(&id, &mine).await.unwrap(),
        "released once"
    );
    assert!(!locks(&*a).extend(&id, &mine, LONG).await.unwrap());
    assert!(matches!(
        attempt(&*b, &id, &theirs, LONG).await,
        LockAttempt::Acquired(None)
    ));
    // The old holder cannot release the new holder's lock.
    assert!(!locks(&*a).unlock(&id, &mine).await.unwrap());
    assert_held(&attempt(&*a, &id, &mine, LONG).await, LONG);
}

/// A lease that runs out (its holder crashed) lets another token in; the
/// old holder can then neither extend nor release it.
pub async fn an_expired_lease_lets_another_in(fx: &dyn Twins) {
    let (a, b) = (fx.first(), fx.second());
    let id = SessionId::random();
    let (crashed, next) = (LockToken::random(), LockToken::random());
    let short = Duration::from_millis(300);
    assert!(matches!(
        attempt(&*a, &id, &crashed, short).await,
        LockAttempt::Acquired(None)
    ));
    assert_held(&attempt(&*b, &id, &next, LONG).await, short);
    tokio::time::sleep(short + Duration::from_millis(200)).await;
    assert!(matches!(
        attempt(&*b, &id, &next, LONG).await,
        LockAttempt::Acquired(None)
    ));
    assert!(!locks(&*a).extend(&id, &crashed, LONG).await.unwrap());
    assert!(!locks(&*a).unlock(&id, &crashed).await.unwrap());
    assert!(locks(&*b).unlock(&id, &next).await.unwrap());
}

/// `extend` renews the holder's lease: it outlives its first term.
pub async fn extend_renews_the_lease(fx: &dyn Twins) {
    let (a, b) = (fx.first(), fx.second());
    let id = SessionId::random();
    let (holder, waiter) = (LockToken::random(), LockToken::random());
    let short = Duration::from_millis(300);
    assert!(matches!(
        attempt(&*a, &id, &holder, short).await,
        LockAttempt::Acquired(None)
    ));
    assert!(locks(&*a).extend(&id, &holder, LONG).await.unwrap());
    tokio::time::sleep(short + Duration::from_millis(200)).await;
    assert_held(&attempt(&*b, &id, &waiter, LONG).await, LONG);
    assert!(locks(&*a).unlock(&id, &holder).await.unwrap());
}

/// Taking the lock loads the live record in the same step (with a touch,
/// moving its idle expiry like `load` does); deleting or rotating the
/// record leaves the lock in place.
pub async fn the_lock_loads_the_record_and_outlives_it(fx: &dyn Twins) {
    let (a, b) = (fx.first(), fx.second());
    let r = record(60_000);
    a.create(&r).await.unwrap();
    let token = LockToken::random();
    let touch = Record::from_millis(Record::millis(r.idle_expires_at) + 30_000);
    let answer = locks(&*b)
        .try_lock(&r.id, &token, LONG, Some(touch))
        .await
        .unwrap();
    let LockAttempt::Acquired(Some(loaded)) = answer else {
        panic!("expected the record with the lock, got {answer:?}");
    };
    let mut touched = r.clone();
    touched.idle_expires_at = touch;
    assert_eq!(loaded, touched);
    // Asked of the instance that touched: the other may report the expiry
    // it last saw, a lower bound (as the Redis store does).
    assert_eq!(b.load(&r.id, None).await.unwrap(), Some(touched.clone()));
    assert!(locks(&*b).unlock(&r.id, &token).await.unwrap());

    // Without a touch, the record as it is.
    let answer = attempt(&*b, &r.id, &token, LONG).await;
    let LockAttempt::Acquired(Some(loaded)) = answer else {
        panic!("expected the record with the lock, got {answer:?}");
    };
    assert_eq!(loaded, touched);

    // Deleted while locked: still locked.
    assert!(b.delete(&r.id).await.unwrap());
    assert_held(&attempt(&*b, &r.id, &LockToken::random(), LONG).await, LONG);
    assert!(locks(&*a).unlock(&r.id, &token).await.unwrap());

    // Rotated away while locked: the old id stays locked, the new one is
    // free.
    let old = record(60_000);
    a.create(&old).await.unwrap();
    assert!(matches!(
        attempt(&*a, &old.id, &token, LONG).await,
        LockAttempt::Acquired(Some(_))
    ));
    let mut moved = record(60_000);
    moved.version = 2;
    a.rotate(&old.id, &moved, Some(1)).await.unwrap();
    assert_held(
        &attempt(&*b, &old.id, &LockToken::random(), LONG).await,
        LONG,
    );
    let other = LockToken::random();
    let answer = attempt(&*b, &moved.id, &other, LONG).await;
    assert!(
        matches!(&answer, LockAttempt::Acquired(Some(m)) if *m == moved),
        "{answer:?}"
    );
    assert!(locks(&*a).unlock(&old.id, &token).await.unwrap());
    assert!(locks(&*b).unlock(&moved.id, &other).await.unwrap());

    // An expired record is no record.
    let gone = record(-1_000);
    a.create(&gone).await.unwrap();
    assert!(matches!(
        attempt(&*b, &gone.id, &token, LONG).await,
        LockAttempt::Acquired(None)
    ));
}

/// Many tasks on both instances take turns on one session: never two
/// holders at once (counted with an atomic), and each holder's
/// read-modify-write of the record (a counter, saved without a version
/// check) loses nothing, so the count ends exact.
pub async fn one_holder_at_a_time_and_no_lost_update(fx: &dyn Twins) {
    const TASKS: usize = 12;
    const ROUNDS: usize = 5;
    let (a, b) = (fx.first(), fx.second());
    let mut start = record(600_000);
    start.data = 0u64.to_be_bytes().to_vec();
    a.create(&start).await.unwrap();
    let holders = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (id, holders, most) = (start.id.clone(), holders.clone(), most.clone());
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    increment_under_lock(&*store, &id, &holders, &most, i * ROUNDS + round).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a contending task");
    }
    assert_eq!(most.load(Ordering::SeqCst), 1, "never two holders at once");
    let end = a.load(&start.id, None).await.unwrap().expect("the record");
    let count = u64::from_be_bytes(end.data.try_into().expect("8 bytes"));
    assert_eq!(count, (TASKS * ROUNDS) as u64, "no update lost");
}

async fn increment_under_lock(
    store: &dyn SessionStore,
    id: &SessionId,
    holders: &AtomicUsize,
    most: &AtomicUsize,
    seed: usize,
) {
    let token = LockToken::random();
    let mut wait = 1 + (seed % 5) as u64;
    let mut record = loop {
        match locks(store).try_lock(id, &token, LONG, None).await.unwrap() {
            LockAttempt::Acquired(record) => break record.expect("the record"),
            LockAttempt::Held { .. } => {
                // Backoff with a spread, so that the tasks interleave.
                tokio::time::sleep(Duration::from_millis(wait)).await;
                wait = (wait * 2).min(20);
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
    most.fetch_max(now, Ordering::SeqCst);
    let count = u64::from_be_bytes(record.data.clone().try_into().expect("8 bytes"));
    // Yield while holding, so that an overlap would show.
    tokio::time::sleep(Duration::from_millis(2)).await;
    record.data = (count + 1).to_be_bytes().to_vec();
    record.version += 1;
    store.save(&record, None).await.unwrap();
    holders.fetch_sub(1, Ordering::SeqCst);
    assert!(locks(store).unlock(id, &token).await.unwrap());
}

/// Two saves that both build on version `v` of `start`, one on each
/// instance, answered `first` and `second`: at most one is applied, and
/// the stored record is the one that was (a store may refuse either: the
/// version check refuses the later one, a store that relies on the lease
/// refuses the one without it). Both refused would be a spurious error.
async fn at_most_one_applied(
    store: &dyn SessionStore,
    (first, first_record): (Result<(), StoreError>, &Record),
    (second, second_record): (Result<(), StoreError>, &Record),
) {
    let stored = store.load(&first_record.id, None).await.unwrap();
    match (first, second) {
        (Ok(()), Ok(())) => panic!(
            "both saves of version {} applied: an update is lost",
            first_record.version - 1
        ),
        (Ok(()), Err(StoreError::Conflict { .. })) => {
            assert_eq!(stored.as_ref(), Some(first_record))
        }
        (Err(StoreError::Conflict { .. }), Ok(())) => {
            assert_eq!(stored.as_ref(), Some(second_record))
        }
        other => panic!("expected one save applied and one conflict, got {other:?}"),
    }
}

/// `start` at version 1 with its two successors, as two requests that
/// loaded it would save them.
fn two_successors(start: &Record) -> (Record, Record) {
    let mut one = start.clone();
    one.data = b"one".to_vec();
    one.version += 1;
    let mut two = start.clone();
    two.data = b"two".to_vec();
    two.version += 1;
    (one, two)
}

/// A holder whose lease ran out, and was taken over on the other instance,
/// saves after the new holder loaded the record: of the two saves (each
/// from the version it loaded, through `save_and_unlock`), at most one is
/// applied, and only the new holder's lease is released, by the new
/// holder. A store may check the version, or refuse every save whose token
/// no longer holds the lease (as the Redis store does, which saves under a
/// held lease without a version check).
pub async fn a_save_under_a_lease_that_ran_out_loses_no_update(fx: &dyn Twins) {
    let (a, b) = (fx.first(), fx.second());
    let start = record(60_000);
    a.create(&start).await.unwrap();
    let (late, current) = (LockToken::random(), LockToken::random());
    let short = Duration::from_millis(300);
    assert!(matches!(
        attempt(&*a, &start.id, &late, short).await,
        LockAttempt::Acquired(Some(_))
    ));
    tokio::time::sleep(short + Duration::from_millis(200)).await;
    let answer = attempt(&*b, &start.id, &current, LONG).await;
    assert!(
        matches!(&answer, LockAttempt::Acquired(Some(r)) if *r == start),
        "{answer:?}"
    );
    let (mine, theirs) = two_successors(&start);
    let old = locks(&*a).save_and_unlock(&mine, Some(1), &late).await;
    assert_eq!(
        old.released,
        Some(false),
        "the late holder released a lease"
    );
    assert_held(
        &attempt(&*a, &start.id, &LockToken::random(), LONG).await,
        LONG,
    );
    let new = locks(&*b).save_and_unlock(&theirs, Some(1), &current).await;
    assert_eq!(new.released, Some(true));
    at_most_one_applied(&*a, (old.saved, &mine), (new.saved, &theirs)).await;
}

/// A versioned save that holds no lease (a lock-free writer under
/// `Serialize`), made on one instance while a request holds the lease on
/// the other, and the holder's `save_and_unlock` from the same version: at
/// most one is applied. A store that saves under a held lease without a
/// version check must refuse the lock-free one (`Conflict`) while the
/// lease is held; one that checks versions refuses the later one.
pub async fn a_save_without_the_lease_does_not_land_under_it(fx: &dyn Twins) {
    let (a, b) = (fx.first(), fx.second());
    let start = record(60_000);
    a.create(&start).await.unwrap();
    let holder = LockToken::random();
    assert!(matches!(
        attempt(&*a, &start.id, &holder, LONG).await,
        LockAttempt::Acquired(Some(_))
    ));
    let (unleased, held) = two_successors(&start);
    let free = b.save(&unleased, Some(1)).await;
    let done = locks(&*a).save_and_unlock(&held, Some(1), &holder).await;
    assert_eq!(done.released, Some(true));
    at_most_one_applied(&*a, (free, &unleased), (done.saved, &held)).await;
    // Once the lease is given back, a lock-free save lands again.
    let mut after = a.load(&start.id, None).await.unwrap().expect("the record");
    after.data = b"after".to_vec();
    after.version += 1;
    b.save(&after, Some(after.version - 1)).await.unwrap();
    assert_eq!(a.load(&start.id, None).await.unwrap(), Some(after));
}

/// Twelve simultaneous logins of one owner, alternating between the two
/// instances (two processes), under a cap of three leave exactly three
/// sessions: with evict-oldest all succeed, with refuse exactly three. What
/// makes the cap atomic (a script, a locking transaction, an owner lease)
/// must hold across processes, not only within one. A store that does not
/// limit owners passes without running it.
pub async fn parallel_logins_on_two_instances_never_exceed_the_owner_limit(fx: &dyn Twins) {
    let (a, b) = (fx.first(), fx.second());
    if !a.limits_owners() {
        return;
    }
    for policy in [OwnerLimitPolicy::EvictOldest, OwnerLimitPolicy::Refuse] {
        a.clear().await.unwrap();
        let managers = [
            owners::manager(Arc::clone(&a), Some((3, policy))),
            owners::manager(Arc::clone(&b), Some((3, policy))),
        ];
        let logins: Vec<_> = (0..12)
            .map(|i| {
                let manager = managers[i % 2].clone();
                tokio::spawn(async move { owners::login(&manager, "two-processes").await })
            })
            .collect();
        let mut succeeded = 0;
        for login in logins {
            match login.await.unwrap() {
                Ok(()) => succeeded += 1,
                Err(SessionError::OwnerLimitReached { max: 3 }) => {
                    assert_eq!(policy, OwnerLimitPolicy::Refuse)
                }
                Err(other) => panic!("{policy:?}: {other}"),
            }
        }
        assert_eq!(
            b.ids_by_owner("two-processes").await.unwrap().len(),
            3,
            "{policy:?}"
        );
        let expected = if policy == OwnerLimitPolicy::Refuse {
            3
        } else {
            12
        };
        assert_eq!(succeeded, expected, "{policy:?}");
    }
}

/// Generates one `#[tokio::test]` per lease check of
/// [`LEASE_CHECKS`](crate::LEASE_CHECKS), each on the twins that `$twins`
/// (an expression, awaited once per test) makes.
#[macro_export]
macro_rules! lease_suite {
    ($twins:expr) => {
        $crate::__with_lease_checks!(lease_suite, @tests $twins);
    };
    (@tests $twins:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let twins = $twins.await;
                $crate::lease_checks::$check(&twins).await;
            }
        )*
    };
}

/// The one list of the checks of [`lease_suite!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __with_lease_checks {
    ($callback:ident, $($args:tt)*) => {
        $crate::$callback! { $($args)*;
            of_two_tokens_one_wins,
            the_wrong_token_changes_nothing,
            an_expired_lease_lets_another_in,
            extend_renews_the_lease,
            the_lock_loads_the_record_and_outlives_it,
            one_holder_at_a_time_and_no_lost_update,
            a_save_under_a_lease_that_ran_out_loses_no_update,
            a_save_without_the_lease_does_not_land_under_it,
            parallel_logins_on_two_instances_never_exceed_the_owner_limit,
        }
    };
}
