//! Benchmarks of typed sessions against the peers (tower-sessions,
//! actix-session, axum_session), measured side by side in one run.
//!
//! - [`apps`]: the equivalent demo apps (`GET /counter` and
//!   `GET /counter/peek`) built with every library, framework and store,
//!   plus the same app without sessions as the ceiling. [`apps::Variant`]
//!   names one of them; [`apps::serve`] runs it.
//! - [`child`]: apps in child processes (a benchmark binary starts itself
//!   as `serve APP`), one or several on one store.
//! - [`cpu`]: CPU time of the server and Redis processes, for the cost per
//!   request whatever limits the throughput.
//! - [`inproc`]: requests to an axum or actix-web app in process, without
//!   sockets, for profiling and the `http_cycle` micro benchmarks.
//! - [`loadgen`]: the HTTP load generator: virtual users, each with its own
//!   keep-alive connection and cookie jar, bounded in requests and time,
//!   loopback only.
//! - [`redis`]: a private `redis-server` on a free loopback port for the
//!   Redis variants, and the few admin commands the benchmark needs
//!   (`INFO commandstats`, the reads of `INFO stats` for round trips,
//!   `SCAN` + `DEL` of a key prefix).
//! - [`redis_rs_store`]: a session store on redis-rs instead of fred, for
//!   measuring the serialize policy's cost with another client (the
//!   `redis-rs` apps; not a product store).
//! - [`soak`]: for the `soak` binary, store servers of the run's own that
//!   are killed and restarted without losing what they acknowledged, the
//!   demo processes, and their memory and file descriptors from `/proc`.
//! - [`stats`]: percentiles and medians.
//! - [`report`]: the JSON file and the markdown tables, the ratios and the
//!   project's targets.
//! - [`typical`]: the typical ~200-byte typed session of the micro
//!   benchmarks.
//!
//! The `loadbench` binary ties them together; `cargo bench -p session-bench`
//! runs the criterion micro benchmarks. See BENCHMARKS.md at the root.

pub mod apps;
pub mod child;
pub mod cpu;
pub mod delay;
pub mod inproc;
pub mod loadgen;
pub mod redis;
pub mod redis_rs_store;
pub mod report;
pub mod soak;
pub mod stats;
pub mod typical;

/// The error type of this crate: a benchmark either runs or explains why it
/// cannot, in one line.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
