//! The lock wake-ups of stores that can announce a lease's release to the
//! waiters of other processes (Redis pub/sub, PostgreSQL `NOTIFY`): run on
//! two instances of one store through [`wakeup_suite!`](crate::wakeup_suite).
//! Stores without them wait with backoff, which the lease checks cover.

use std::time::{Duration, Instant};

use session_core::store::{LockAttempt, LockToken};
use session_core::SessionId;

use crate::lease_checks::Twins;

/// A waiter of the second instance, refused a lease the first holds,
/// waits for the release with a maximum of 10 s; the release 200 ms later
/// ends the wait long before its maximum. A first wait that nothing ends
/// lets the second instance start listening (stores do at their first
/// wait).
pub async fn a_waiter_of_another_process_is_woken_by_the_release(fx: &dyn Twins) {
    let (holder, waiter) = (fx.first(), fx.second());
    let (holder, waiter) = (
        holder.locks().expect("the holder's locks"),
        waiter.locks().expect("the waiter's locks"),
    );
    let id = SessionId::random();
    let (held, wanted) = (LockToken::random(), LockToken::random());
    let lease = Duration::from_secs(20);
    let taken = holder.try_lock(&id, &held, lease, None).await.unwrap();
    assert!(matches!(taken, LockAttempt::Acquired(None)), "{taken:?}");
    let refused = waiter.try_lock(&id, &wanted, lease, None).await.unwrap();
    assert!(matches!(refused, LockAttempt::Held { .. }), "{refused:?}");
    waiter
        .wait_for_release(&id, Duration::from_secs(1))
        .await
        .unwrap();

    let started = Instant::now();
    let waiting = waiter.wait_for_release(&id, Duration::from_secs(10));
    let releasing = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(holder.unlock(&id, &held).await.unwrap(), "released");
    };
    let (waited, ()) = tokio::join!(waiting, releasing);
    waited.unwrap();
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "the waiter's wait of 10 s ended {waited:?} after it began; the release came at 200 ms"
    );
}

/// Runs the wake-up checks on two instances of a store, one test each:
/// `$twins` is an expression (a future) that makes a fresh [`Twins`].
///
/// ```ignore
/// session_store_conformance::wakeup_suite!(twins());
/// ```
#[macro_export]
macro_rules! wakeup_suite {
    ($twins:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_waiter_of_another_process_is_woken_by_the_release() {
            let twins = $twins.await;
            $crate::wakeup_checks::a_waiter_of_another_process_is_woken_by_the_release(&twins)
                .await;
        }
    };
}
