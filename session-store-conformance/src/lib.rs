//! The behaviour every server-side [`SessionStore`] promises, written once.
//!
//! Each store's own tests run these checks against a fresh, empty store of
//! theirs through [`conformance_suite!`], one line for every check of
//! [`CHECKS`], so the memory, Redis, SQL and MongoDB stores (and any store
//! outside this workspace) keep one contract instead of copies of it. The
//! list is written once; this crate's test fails if a check is written but
//! not listed, so adding one cannot silently skip a store. What only one store
//! does (a sweeper, key layouts, SQL cleanup, outages) stays in that store's
//! tests.
//!
//! The store half of the session locks (a store's
//! [`SessionLocks`](session_core::store::SessionLocks)) has checks of its own in
//! [`lease_checks`], run on two instances of one store through
//! [`lease_suite!`]; stores that wake the waiters of other processes at a
//! release run [`wakeup_checks`] too, through [`wakeup_suite!`].
//! The checks of session locks and of `Concurrency::Serialize` run for
//! every store whose `SessionStore::locks()` answers; a store without locks
//! passes them without running them (it cannot serialize, and a
//! configuration that asks it to is refused at build time).
//!
//! ```
//! use std::sync::Arc;
//!
//! use session_core::store::SessionStore;
//! use session_store_memory::MemoryStore;
//!
//! /// A test's store, and another beside it.
//! struct Fresh(MemoryStore);
//!
//! #[async_trait::async_trait]
//! impl session_store_conformance::Fixture for Fresh {
//!     fn store(&self) -> Arc<dyn SessionStore> {
//!         Arc::new(self.0.clone())
//!     }
//!     async fn neighbour(&self) -> Arc<dyn SessionStore> {
//!         Arc::new(MemoryStore::new())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // One check by hand:
//! session_store_conformance::records_round_trip_exactly(&Fresh(MemoryStore::new())).await;
//! # }
//! // In a store's `tests/conformance.rs`, one line makes a test of every
//! // check, each on a fresh fixture:
//! // session_store_conformance::conformance_suite!(async { Fresh(MemoryStore::new()) });
//! ```
// A check's unwrap is its assertion: a failure must stop the test.
#![allow(clippy::unwrap_used)]

mod checks;
mod expiry;
pub mod lease_checks;
mod locks;
mod owners;
mod recorder;
mod records;
pub mod wakeup_checks;

use std::sync::Arc;

use session_core::store::SessionStore;

pub use checks::*;
pub use expiry::*;
pub use lease_checks::Twins;
pub use locks::*;
pub use owners::*;
pub use recorder::{Expired, ExpiredRecorder};
pub use records::{expired, now_ms, record, Counter};

/// What the checks need from a store's tests.
#[async_trait::async_trait]
pub trait Fixture: Send + Sync {
    /// The store under test: empty at the start, and this test's alone.
    /// Every call answers the same store.
    fn store(&self) -> Arc<dyn SessionStore>;

    /// A second store on the same backend beside the first (another key
    /// prefix, table or instance), empty too: what the first one's
    /// [`clear`](SessionStore::clear) must leave alone.
    async fn neighbour(&self) -> Arc<dyn SessionStore>;

    /// Runs the store's own cleanup once (its `remove_expired()`) and
    /// answers how many records it removed; `None` (the default) for a
    /// store without one. A store with an
    /// [`expiry_sink`](SessionStore::expiry_sink) must implement it: its
    /// reports are checked through it.
    async fn remove_expired(&self) -> Option<u64> {
        None
    }
}

/// The listing half of [`owner_suite!`], for a store that serves
/// [`records_by_owner`](SessionStore::records_by_owner) but not yet
/// [`limit_owner`](SessionStore::limit_owner).
#[macro_export]
macro_rules! owner_listing_suite {
    ($fresh:expr) => {
        $crate::conformance_suite!(@tests $fresh;
            records_by_owner_lists_the_owners_live_records,
            listing_and_revoking_through_the_manager,
            remembered_sessions_keep_their_timeouts_across_rotation,
        );
    };
}

/// Generates one `#[tokio::test]` per check of [`CHECKS`], each on the
/// fixture that `$fresh` (an expression, awaited once per test) makes.
///
/// The list of checks is written once, in this crate: a store's tests name
/// none of them, so a check added here runs for every store at once.
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread`
/// features among its dev-dependencies.
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:expr) => {
        $crate::__with_checks!(conformance_suite, @tests $fresh);
    };
    (@tests $fresh:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let fixture = $fresh.await;
                $crate::$check(&fixture).await;
            }
        )*
    };
}

/// The one list of the checks of [`conformance_suite!`]: calls
/// `$crate::$callback!($args; check, check, ...)`.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_checks {
    ($callback:ident, $($args:tt)*) => {
        $crate::$callback! { $($args)*;
            create_never_overwrites_and_save_never_creates,
            records_round_trip_exactly,
            versioned_save_refuses_stale_versions,
            load_with_touch_moves_the_idle_expiry_capped_at_absolute,
            touch_writes_only_the_expiry,
            expired_records_are_invisible_and_replaceable,
            delete_answers_whether_a_live_record_existed,
            clear_empties_only_this_store,
            count_and_listing,
            owners_are_exact_and_ids_are_case_sensitive,
            delete_where_removes_what_the_predicate_selects,
            manager_round_trip,
            many_sessions_at_once_keep_their_own_counts,
            reject_policy_loses_no_acknowledged_write,
            versioned_saves_serialise_increments,
            rotation_moves_the_record_atomically,
            rotation_after_delete_creates_nothing,
            manager_rotation_never_resurrects_or_loses_a_save,
            a_read_that_raced_a_rotation_or_delete_sends_no_cookie,
            // src/expiry.rs: skipped by stores without `expiry_sink()`
            expired_records_are_reported_once,
            // src/locks.rs: skipped by stores without `locks()`
            serialize_policy_loses_no_increment,
            an_unreleased_lease_is_overtaken_after_it_ends,
            a_waiter_that_times_out_gets_busy,
            unlock_and_extend_need_the_holders_token,
            try_lock_loads_the_live_record,
            save_and_unlock_saves_then_releases_only_its_own_lease,
            rotation_and_delete_under_serialize,
            a_failed_or_missing_commit_gives_the_lock_back,
        }
    };
}

/// The checks of a user's sessions (listing by owner, the cap per owner
/// under parallel logins, revoking, remember-me), one `#[tokio::test]`
/// each for every check of [`OWNER_CHECKS`], for the stores that serve
/// [`records_by_owner`](SessionStore::records_by_owner) and
/// [`limit_owner`](SessionStore::limit_owner).
#[macro_export]
macro_rules! owner_suite {
    ($fresh:expr) => {
        $crate::__with_owner_checks!(conformance_suite, @tests $fresh);
    };
}

/// The one list of the checks of [`owner_suite!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __with_owner_checks {
    ($callback:ident, $($args:tt)*) => {
        $crate::$callback! { $($args)*;
            records_by_owner_lists_the_owners_live_records,
            parallel_logins_never_exceed_the_owner_limit,
            a_login_over_the_limit_ends_the_oldest_session,
            listing_and_revoking_through_the_manager,
            remembered_sessions_keep_their_timeouts_across_rotation,
        }
    };
}

/// The names of a list of checks, as a slice.
#[doc(hidden)]
#[macro_export]
macro_rules! __names {
    (; $($check:ident),* $(,)?) => {
        &[$(stringify!($check)),*]
    };
}

/// Every check that [`owner_suite!`] runs, by name (those of `owners.rs`).
pub const OWNER_CHECKS: &[&str] = __with_owner_checks!(__names,);

/// Every check that [`conformance_suite!`] runs, by name: the checks of
/// `checks.rs`, `locks.rs` and `expiry.rs` (each a public `async fn(&dyn Fixture)` of
/// this crate).
pub const CHECKS: &[&str] = __with_checks!(__names,);

/// Every check that [`lease_suite!`] runs, by name (the functions of
/// [`lease_checks`]).
pub const LEASE_CHECKS: &[&str] = __with_lease_checks!(__names,);

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The public `async fn name(fx: &dyn <fixture>)` of a source file.
    fn checks_in(source: &str, fixture: &str) -> BTreeSet<String> {
        let signature = format!("(fx: &dyn {fixture})");
        source
            .lines()
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .filter_map(|rest| rest.split_once('('))
            .filter(|(_, tail)| format!("({tail}").starts_with(&signature))
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    fn listed(names: &[&str]) -> BTreeSet<String> {
        let set: BTreeSet<String> = names.iter().map(|n| (*n).to_owned()).collect();
        assert_eq!(set.len(), names.len(), "a check is listed twice");
        set
    }

    /// A check written but not listed would silently run for no store.
    #[test]
    fn every_check_in_the_code_is_in_the_one_list() {
        let mut written = checks_in(include_str!("checks.rs"), "Fixture");
        written.extend(checks_in(include_str!("locks.rs"), "Fixture"));
        written.extend(checks_in(include_str!("expiry.rs"), "Fixture"));
        assert!(written.len() > 20, "the scan finds the checks: {written:?}");
        assert_eq!(written, listed(super::CHECKS));
    }

    #[test]
    fn every_owner_check_in_the_code_is_in_the_one_list() {
        let written = checks_in(include_str!("owners.rs"), "Fixture");
        assert!(written.len() > 4, "the scan finds the checks: {written:?}");
        assert_eq!(written, listed(super::OWNER_CHECKS));
    }

    #[test]
    fn every_lease_check_in_the_code_is_in_the_one_list() {
        let written = checks_in(include_str!("lease_checks.rs"), "Twins");
        assert!(written.len() > 4, "the scan finds the checks: {written:?}");
        assert_eq!(written, listed(super::LEASE_CHECKS));
    }
}
