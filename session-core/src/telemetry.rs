//! What the session layer tells an operator: counters and a histogram
//! through the [`metrics`](https://docs.rs/metrics) facade (the default-on
//! `metrics` feature; nothing is recorded until the application installs a
//! recorder, such as a Prometheus exporter), and one `tracing` span per
//! store call.
//!
//! Every store call of the request cycle and of the provider goes through
//! [`store_call`], so the histogram, the error counter and the span are
//! written in one place. Label values are fixed words (an operation, an
//! outcome), never a session id or a token.
//!
//! The names, labels and what each counts are documented in one table,
//! the metrics table of RELIABILITY.md at the repository's root; [`name`]
//! holds the names, [`Operation::as_str`] and [`LoadOutcome`] the label
//! values.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::id::SessionId;
use crate::store::StoreError;

#[cfg(feature = "metrics")]
#[macro_use]
mod keys;

/// The metric names, as [`telemetry`](self) documents them.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) mod name {
    pub(crate) const CREATED: &str = "session_created_total";
    pub(crate) const LOADED: &str = "session_loaded_total";
    pub(crate) const SAVED: &str = "session_saved_total";
    pub(crate) const TOUCHED: &str = "session_touched_total";
    pub(crate) const DELETED: &str = "session_deleted_total";
    pub(crate) const ROTATED: &str = "session_rotated_total";
    pub(crate) const EXPIRED: &str = "session_expired_total";
    pub(crate) const DEGRADED: &str = "session_degraded_total";
    pub(crate) const STORE_ERRORS: &str = "session_store_errors_total";
    pub(crate) const STORE_DURATION: &str = "session_store_duration_seconds";
    pub(crate) const CSRF_REFUSED: &str = "session_csrf_refused_total";
}

/// Declares an enum whose variants are the values of one label of one
/// metric, each variant with its word: `as_str` answers the word and, with
/// the `metrics` feature, `key` the metric's static key for that value
/// (built at compile time, `keys.rs` says why). The list of variants is
/// written once, here, for both.
macro_rules! label_values {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: $metric:expr, $label:literal {
            $($(#[$variant_meta:meta])* $variant:ident => $value:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant,)*
        }

        impl $name {
            /// The label's value for this variant.
            $vis const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value,)*
                }
            }

            /// The static key of the metric with this variant's label.
            #[cfg(feature = "metrics")]
            fn key(self) -> &'static metrics::Key {
                match self {
                    $($name::$variant => static_key!($metric, $label, $name::$variant.as_str()),)*
                }
            }
        }
    };
}

label_values! {
    /// One kind of store call: the `operation` label and the span's field.
    pub(crate) enum Operation: name::STORE_DURATION, "operation" {
        Load => "load",
        Create => "create",
        Save => "save",
        Touch => "touch",
        Rotate => "rotate",
        Delete => "delete",
        /// Taking a session's lease under `Concurrency::Serialize` (which
        /// loads the record in the same call).
        Lock => "lock",
        Unlock => "unlock",
        /// A save that releases the session's lease in the same call.
        SaveAndUnlock => "save_and_unlock",
        WaitForRelease => "wait_for_release",
        /// Opening a sealed cookie (a client-side store).
        Open => "open",
        /// Sealing a record into a cookie (a client-side store).
        Seal => "seal",
        Clear => "clear",
        Count => "count",
        DeleteByOwner => "delete_by_owner",
        DeleteWhere => "delete_where",
        IdsByOwner => "ids_by_owner",
        RecordsByOwner => "records_by_owner",
        LimitOwner => "limit_owner",
    }
}

label_values! {
    /// What a request's load found: the `outcome` label of
    /// `session_loaded_total`.
    pub(crate) enum LoadOutcome: name::LOADED, "outcome" {
        /// A live record, decoded.
        Found => "found",
        /// The cookie names no record (unknown, deleted, or swept after it
        /// expired).
        Absent => "absent",
        /// The record is there but past its expiry.
        Expired => "expired",
        /// The record's bytes do not decode as this release's session type.
        Undecodable => "undecodable",
        /// A sealed cookie that does not open (forged, altered, or sealed with a
        /// key no longer in the ring).
        Tampered => "tampered",
    }
}

/// Counts one request refused by a CSRF layer, by its reason.
pub(crate) fn csrf_refused(reason: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(name::CSRF_REFUSED, "reason" => reason).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = reason;
}

/// Counts one event of a label-less counter (`name::*`).
pub(crate) fn count(name: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(name).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = name;
}

/// Counts one request's load, by what it found. An expired record is also
/// counted in `session_expired_total`, where every source of expiries
/// counts (`Callbacks::expired`).
pub(crate) fn loaded(outcome: LoadOutcome) {
    #[cfg(feature = "metrics")]
    metrics::with_recorder(|r| r.register_counter(outcome.key(), &keys::METADATA)).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = outcome.as_str();
}

/// Counts one expiry in `session_expired_total`, by where it was found.
pub(crate) fn expired(source: crate::expiry::ExpirySource) {
    #[cfg(feature = "metrics")]
    metrics::counter!(name::EXPIRED, "source" => source.as_str()).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = source.as_str();
}

/// The short word for how a store call ended, for its span.
fn outcome<R>(result: &Result<R, StoreError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(StoreError::NotFound) => "not_found",
        Err(StoreError::Conflict { .. }) => "conflict",
        Err(StoreError::AlreadyExists) => "already_exists",
        Err(error) if error.is_unavailable() => "unavailable",
        Err(_) => "error",
    }
}

/// Whether a store call's error is a failure of the store, for
/// `session_store_errors_total`. `NotFound`, `Conflict` and `AlreadyExists`
/// are answers about the record, which the request cycle expects.
fn is_failure(error: &StoreError) -> bool {
    !matches!(
        error,
        StoreError::NotFound | StoreError::Conflict { .. } | StoreError::AlreadyExists
    )
}

/// Runs one store call inside its span (`session_store`: the operation, the
/// store's name, the outcome; the session id only when debug is enabled),
/// timing it into `session_store_duration_seconds` and counting a failure
/// into `session_store_errors_total`.
pub(crate) async fn store_call<R>(
    store: &'static str,
    operation: Operation,
    id: Option<&SessionId>,
    call: impl Future<Output = Result<R, StoreError>>,
) -> Result<R, StoreError> {
    let span = tracing::info_span!(
        "session_store",
        operation = operation.as_str(),
        store,
        outcome = tracing::field::Empty,
        id = tracing::field::Empty,
    );
    // The id is the hash of the token, not a secret; still, it is kept out of
    // what an info-level log shows.
    if let Some(id) = id {
        if tracing::enabled!(tracing::Level::DEBUG) {
            span.record("id", tracing::field::display(id));
        }
    }
    // A span that no subscriber takes, and whose fields `log` would not
    // print either (tracing's `log` feature turns them into log records at
    // the span's level while no subscriber is set), shows nowhere: it is
    // neither entered around the call nor given its outcome, which on a
    // disabled span cost more than the rest of this function.
    let quiet = span.is_disabled() && log::max_level() < log::LevelFilter::Info;
    let started = Instant::now();
    let result = if quiet {
        call.await
    } else {
        call.instrument(span.clone()).await
    };
    let elapsed = started.elapsed();
    if !quiet {
        span.record("outcome", outcome(&result));
    }
    record_call(operation, elapsed, result.as_ref().err());
    result
}

fn record_call(operation: Operation, elapsed: Duration, error: Option<&StoreError>) {
    #[cfg(feature = "metrics")]
    {
        let key = operation.key();
        metrics::with_recorder(|r| r.register_histogram(key, &keys::METADATA))
            .record(elapsed.as_secs_f64());
        if error.is_some_and(is_failure) {
            let operation = operation.as_str();
            metrics::counter!(name::STORE_ERRORS, "operation" => operation).increment(1);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (operation, elapsed, error.map(is_failure));
}

/// The shortest time between two log lines about degraded requests: an
/// outage under load would otherwise log once per request.
const DEGRADED_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Records one request served degraded: counted always, logged at most once
/// per [`DEGRADED_LOG_INTERVAL`] with the number of such requests since the
/// last line.
pub(crate) fn degraded(error: &StoreError) {
    count(name::DEGRADED);
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    static LIMITER: LogLimiter = LogLimiter::new(DEGRADED_LOG_INTERVAL);
    let epoch = *EPOCH.get_or_init(Instant::now);
    if let Some(requests) = LIMITER.due(epoch.elapsed()) {
        tracing::warn!(%error, requests, "session store unavailable: serving requests with fresh sessions that are not saved (OutagePolicy::Degrade)");
    }
}

/// Lets one log line through per interval and counts the events between
/// two lines; shared by every thread without a lock.
#[derive(Debug)]
struct LogLimiter {
    interval_ms: u64,
    /// Milliseconds (since the caller's epoch) of the last line, plus one
    /// (0: never).
    last_line: AtomicU64,
    /// Events since the last line, this one included.
    since_line: AtomicU64,
}

impl LogLimiter {
    const fn new(interval: Duration) -> Self {
        LogLimiter {
            // An interval beyond u64 milliseconds is never reached anyway.
            interval_ms: interval.as_millis() as u64,
            last_line: AtomicU64::new(0),
            since_line: AtomicU64::new(0),
        }
    }

    /// Counts one event at `now` (since the caller's epoch); `Some(events
    /// since the last line)` when this one is to be logged.
    fn due(&self, now: Duration) -> Option<u64> {
        let now = u64::try_from(now.as_millis()).unwrap_or(u64::MAX - 1) + 1;
        self.since_line.fetch_add(1, Ordering::Relaxed);
        let last = self.last_line.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= self.interval_ms;
        // One thread wins the line; the others only counted.
        let won = due
            && self
                .last_line
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        won.then(|| self.since_line.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_store_failures_are_errors() {
        assert!(!is_failure(&StoreError::NotFound));
        assert!(!is_failure(&StoreError::Conflict { expected: 1 }));
        assert!(is_failure(&StoreError::Timeout(Duration::from_secs(1))));
        assert!(is_failure(&StoreError::Malformed("x".into())));
    }

    #[test]
    fn the_degraded_line_is_logged_once_per_interval_with_its_count() {
        let limiter = LogLimiter::new(Duration::from_secs(10));
        let at = Duration::from_millis;
        // The first event is logged at once, even at the epoch itself.
        assert_eq!(limiter.due(at(0)), Some(1));
        for ms in [1, 500, 9_999] {
            assert_eq!(limiter.due(at(ms)), None, "{ms} ms");
        }
        // Ten seconds after the last line: logged, with the three quiet
        // events and this one.
        assert_eq!(limiter.due(at(10_000)), Some(4));
        assert_eq!(limiter.due(at(19_999)), None);
        assert_eq!(limiter.due(at(25_000)), Some(2));
    }
}
