//! The redis-rs store of the client measurement (`redis_rs_store.rs`)
//! keeps the part of the store contract that the measured routes reach: the
//! records, the lease checks on two instances (as two processes), and the
//! serialize policy's checks through the manager. Its figures are worth
//! comparing with the fred store's only if it does the same work. On the
//! shared Redis at REDIS_URL, each test under prefixes of its own, cleared
//! when it ends.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::sync::Arc;

use session_bench::redis_rs_store::{LockStep, RedisRsStore};
use session_core::store::SessionStore;
use session_core::SessionId;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn unique_prefix(test: &str) -> String {
    format!(
        "test:redis-rs-store:{test}:{}:",
        &SessionId::random().as_str()[..10]
    )
}

async fn connect(prefix: &str) -> RedisRsStore {
    connect_stepping(prefix, LockStep::Script).await
}

async fn connect_stepping(prefix: &str, step: LockStep) -> RedisRsStore {
    RedisRsStore::connect(&redis_url(), prefix.to_owned())
        .await
        .expect("the shared Redis at REDIS_URL is reachable")
        .lock_step(step)
}

/// Clears `prefixes` on a connection of its own, on a thread of its own:
/// the test's runtime may be the one ending.
fn clear_on_drop(prefixes: Vec<String>) {
    let cleared = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            for prefix in prefixes {
                connect(&prefix).await.clear().await.expect("cleared");
            }
        });
    });
    let _ = cleared.join();
}

/// A test's store and its neighbour, each under its own prefix.
struct Fresh {
    store: RedisRsStore,
    prefixes: [String; 2],
}

#[async_trait::async_trait]
impl session_store_conformance::Fixture for Fresh {
    fn store(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.store.clone())
    }

    async fn neighbour(&self) -> Arc<dyn SessionStore> {
        Arc::new(connect(&self.prefixes[1]).await)
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        clear_on_drop(self.prefixes.to_vec());
    }
}

async fn fresh() -> Fresh {
    fresh_stepping(LockStep::Script).await
}

async fn fresh_stepping(step: LockStep) -> Fresh {
    let prefixes = [unique_prefix("fresh"), unique_prefix("neighbour")];
    Fresh {
        store: connect_stepping(&prefixes[0], step).await,
        prefixes,
    }
}

/// Two instances on one prefix, as two processes would have them.
struct Twins {
    first: RedisRsStore,
    second: RedisRsStore,
    prefix: String,
}

impl session_store_conformance::Twins for Twins {
    fn first(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.first.clone())
    }

    fn second(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.second.clone())
    }
}

impl Drop for Twins {
    fn drop(&mut self) {
        clear_on_drop(vec![self.prefix.clone()]);
    }
}

async fn twins() -> Twins {
    twins_stepping(LockStep::Script).await
}

async fn twins_stepping(step: LockStep) -> Twins {
    let prefix = unique_prefix("twins");
    Twins {
        first: connect_stepping(&prefix, step).await,
        second: connect_stepping(&prefix, step).await,
        prefix,
    }
}

// Left out: what needs owners, listing, counting or a touch in one step,
// none of which this store has (see its module docs).
session_store_conformance::conformance_suite!(@tests fresh();
    create_never_overwrites_and_save_never_creates,
    versioned_save_refuses_stale_versions,
    delete_answers_whether_a_live_record_existed,
    clear_empties_only_this_store,
    manager_round_trip,
    many_sessions_at_once_keep_their_own_counts,
    versioned_saves_serialise_increments,
    serialize_policy_loses_no_increment,
    an_unreleased_lease_is_overtaken_after_it_ends,
    a_waiter_that_times_out_gets_busy,
    unlock_and_extend_need_the_holders_token,
    try_lock_loads_the_live_record,
    save_and_unlock_saves_then_releases_only_its_own_lease,
    a_failed_or_missing_commit_gives_the_lock_back,
);

session_store_conformance::lease_suite!(@tests twins();
    of_two_tokens_one_wins,
    the_wrong_token_changes_nothing,
    an_expired_lease_lets_another_in,
    extend_renews_the_lease,
    the_lock_loads_the_record_and_outlives_it,
    one_holder_at_a_time_and_no_lost_update,
    a_save_under_a_lease_that_ran_out_loses_no_update,
    a_save_without_the_lease_does_not_land_under_it,
);

/// The lock checks again with the lease taken by a pipeline.
mod pipelined {
    use super::{fresh_stepping, twins_stepping, LockStep};

    session_store_conformance::conformance_suite!(@tests fresh_stepping(LockStep::Pipeline);
        serialize_policy_loses_no_increment,
        an_unreleased_lease_is_overtaken_after_it_ends,
        a_waiter_that_times_out_gets_busy,
        try_lock_loads_the_live_record,
        a_failed_or_missing_commit_gives_the_lock_back,
    );

    session_store_conformance::lease_suite!(@tests twins_stepping(LockStep::Pipeline);
        of_two_tokens_one_wins,
        an_expired_lease_lets_another_in,
        the_lock_loads_the_record_and_outlives_it,
        one_holder_at_a_time_and_no_lost_update,
        a_save_under_a_lease_that_ran_out_loses_no_update,
    );
}
