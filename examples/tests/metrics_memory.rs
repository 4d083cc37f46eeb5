//! The demo's metrics recorder holds a small, fixed amount of memory for
//! `session_store_duration_seconds`, however widely the store calls'
//! durations spread (a store outage adds timeouts to sub-millisecond
//! calls). Measured as this process's resident memory (`VmRSS`) around
//! recording: the file holds one test, so no other test allocates beside it.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::time::Duration;

/// Store operations that a soak's demos time (every label they record).
const OPERATIONS: [&str; 10] = [
    "load",
    "create",
    "save",
    "touch",
    "rotate",
    "delete",
    "lock",
    "unlock",
    "save_and_unlock",
    "wait_for_release",
];
/// Rounds of samples, each followed by the exporter's upkeep (as the demo's
/// upkeep thread runs it), and samples per operation and round.
const ROUNDS: u64 = 200;
const PER_ROUND: u64 = 100;
/// The shortest and longest duration recorded.
const SHORTEST: Duration = Duration::from_micros(10);
const LONGEST: Duration = Duration::from_secs(10);
/// What the recorder may hold after all samples: a histogram holds one
/// count per bucket and label (well under a KiB each); a summary of these
/// samples holds its sketch of up to 256 KiB per label.
const MAY_GROW_KIB: u64 = 1024;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The `n`th of `total` durations, spread evenly on a log scale between
/// [`SHORTEST`] and [`LONGEST`] in a scrambled order (a multiplier prime to
/// `total`), so that every round covers the whole range.
fn duration(n: u64, total: u64) -> f64 {
    let x = (n.wrapping_mul(7919) % total) as f64 / total as f64;
    let (low, high) = (SHORTEST.as_secs_f64(), LONGEST.as_secs_f64());
    low * (high / low).powf(x)
}

fn count_of(rendered: &str, operation: &str) -> Option<u64> {
    let prefix = format!("session_store_duration_seconds_count{{operation=\"{operation}\"}} ");
    rendered
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn store_durations_take_a_fixed_amount_of_memory() {
    let recorder = examples::metrics::recorder().unwrap();
    let handle = recorder.handle();
    let before = rss_kib();
    metrics::with_local_recorder(&recorder, || {
        for round in 0..ROUNDS {
            for operation in OPERATIONS {
                let histogram =
                    metrics::histogram!("session_store_duration_seconds", "operation" => operation);
                for i in 0..PER_ROUND {
                    histogram.record(duration(round * PER_ROUND + i, ROUNDS * PER_ROUND));
                }
            }
            handle.run_upkeep();
        }
    });
    let rendered = handle.render();
    let grown = rss_kib().saturating_sub(before);
    for operation in OPERATIONS {
        assert_eq!(
            count_of(&rendered, operation),
            Some(ROUNDS * PER_ROUND),
            "{operation}: {rendered}"
        );
    }
    assert!(
        grown < MAY_GROW_KIB,
        "the recorder grew the process by {grown} KiB for {} labels",
        OPERATIONS.len()
    );
}
