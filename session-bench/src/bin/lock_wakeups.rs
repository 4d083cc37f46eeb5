//! What the lock wake-ups of the Redis and PostgreSQL stores buy: requests
//! of one session spread over several processes, under
//! `Concurrency::Serialize`, with the wake-ups on (a release that someone
//! of another process waits for is published or notified to it) and off
//! (that waiter notices at its next retry, after a backoff of 2 to 100 ms
//! with jitter), in one run, by turns.
//!
//! ```text
//! cargo run --release -p session-bench --bin lock_wakeups -- [--store redis|postgres] [--postgres URL] [--processes 2] [--users 16] [--duration 3] [--runs 3] [--handler-ms 0]
//! ```
//!
//! `--store postgres` runs the processes on the PostgreSQL at `--postgres`
//! (default `POSTGRES_URL`, else `postgres://postgres@127.0.0.1:5432/test`),
//! on a table of their own per row, dropped after it; the Redis columns are
//! `-` there.
//!
//! `--handler-ms` makes the handler work that long (a sleep) between its
//! load and its commit, as a handler that queries something does: the
//! longer the holder runs, the further a waiter's backoff has grown when
//! the release comes.
//!
//! Each process is `axum/ours-serialize/redis` (or `.../postgres`) in a
//! child of its own, on one private `redis-server` (or the PostgreSQL) and
//! one key ring; the users are spread over
//! them by turns and all send `GET /counter` on one session. A row tells
//! the throughput and latency, how many acknowledged increments the
//! session kept (all of them, or the policy is broken), the Redis commands
//! per request (those run inside scripts included: the retries of waiters
//! show here) and the wake-up messages published per request.
// A command-line benchmark: its report goes to stdout.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::time::Duration;

use session_bench::apps::{CountBody, Framework, Library, ServeOptions, Store, Variant};
use session_bench::child::{self, AppProcess};
use session_bench::loadgen::Users;
use session_bench::redis::{RedisAdmin, RedisServer};
use session_bench::{cpu, BoxError};
use session_core::store::LockToken;

const USAGE: &str = "usage: lock_wakeups [--store redis|postgres] [--postgres URL] \
     [--processes N] [--users N] [--duration SECS] [--runs N] [--handler-ms MS]";

/// The app every process runs, on `store`.
fn variant(store: Store) -> Variant {
    Variant {
        framework: Framework::Axum,
        library: Library::OursSerialize,
        store,
    }
}

/// Where the processes keep the session.
enum Backend {
    /// A private `redis-server`.
    Redis(RedisServer),
    /// A PostgreSQL at this URL.
    Postgres(String),
}

#[derive(Debug)]
struct Options {
    store: Store,
    postgres_url: String,
    processes: usize,
    users: usize,
    duration: Duration,
    runs: usize,
    handler_delay: Option<Duration>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("serve") => child::serve_main(&args[1..]),
        _ => parse(&args).and_then(run),
    };
    if let Err(error) = outcome {
        eprintln!("lock_wakeups: {error}");
        std::process::exit(1);
    }
}

fn parse(args: &[String]) -> Result<Options, BoxError> {
    let mut options = Options {
        store: Store::Redis,
        postgres_url: std::env::var("POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
        processes: 2,
        users: 16,
        duration: Duration::from_secs(3),
        runs: 3,
        handler_delay: None,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--store" => {
                options.store = match value.as_str() {
                    "redis" => Store::Redis,
                    "postgres" => Store::Postgres,
                    _ => return Err(format!("--store takes redis or postgres\n{USAGE}").into()),
                }
            }
            "--postgres" => options.postgres_url = value.clone(),
            "--processes" => options.processes = value.parse()?,
            "--users" => options.users = value.parse()?,
            "--duration" => options.duration = Duration::from_secs_f64(value.parse()?),
            "--runs" => options.runs = value.parse()?,
            "--handler-ms" => {
                let ms: f64 = value.parse()?;
                options.handler_delay = (ms > 0.0).then(|| Duration::from_secs_f64(ms / 1e3));
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}").into()),
        }
    }
    if options.processes == 0 || options.users == 0 || options.runs == 0 {
        return Err(format!("--processes, --users and --runs must be at least 1\n{USAGE}").into());
    }
    Ok(options)
}

fn run(options: Options) -> Result<(), BoxError> {
    let backend = match options.store {
        Store::Postgres => Backend::Postgres(options.postgres_url.clone()),
        _ => Backend::Redis(RedisServer::start()?),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut out = String::from(
        "| wake-ups | processes | users | handler ms | req/s | p50 ms | p99 ms | errors | kept/acknowledged | Redis commands/request | PUBLISH/request | app CPU us/request |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n",
    );
    // By turns, so that a slow moment of the machine does not fall on one
    // setting only.
    for _ in 0..options.runs {
        for wakeups in [true, false] {
            let row = measure(&runtime, &backend, &options, wakeups)?;
            eprintln!("{row}");
            out.push_str(&row);
            out.push('\n');
        }
    }
    print!("{out}");
    Ok(())
}

/// Starts the processes on a prefix (or table) of their own, runs the
/// shared counter, answers its row.
fn measure(
    runtime: &tokio::runtime::Runtime,
    backend: &Backend,
    options: &Options,
    wakeups: bool,
) -> Result<String, BoxError> {
    let random = session_core::crypto::token::random_token();
    let table = format!("bench_{}", &LockToken::random().to_hex()[..12]);
    let serve = ServeOptions {
        redis_url: match backend {
            Backend::Redis(redis) => Some(redis.url()),
            Backend::Postgres(_) => None,
        },
        redis_prefix: format!("bench:{}:", &random[..12]),
        postgres: match backend {
            Backend::Postgres(url) => Some((url.clone(), table.clone())),
            Backend::Redis(_) => None,
        },
        secret: Some(random),
        lock_wakeups: Some(wakeups),
        handler_delay: options.handler_delay,
    };
    let apps = (0..options.processes)
        .map(|_| AppProcess::start(variant(options.store), &serve))
        .collect::<Result<Vec<_>, _>>()?;
    let addrs: Vec<SocketAddr> = apps.iter().map(AppProcess::addr).collect();
    let mut admin = match backend {
        Backend::Redis(redis) => Some(RedisAdmin::connect(redis.addr())?),
        Backend::Postgres(_) => None,
    };
    let row = runtime.block_on(async {
        let mut users = Users::connect_spread(&addrs, options.users).await?;
        // Every user gets a session of its own (and every process its
        // connections), then they all take the first user's.
        let warmup = users
            .run("/counter", Duration::from_millis(300), options.users as u64)
            .await;
        if let Some(error) = warmup.first_error {
            return Err(format!("warm-up failed: {error}").into());
        }
        users.share_first_session();
        let count_before = count(&mut users).await?;
        let stats_before = admin.as_mut().map(RedisAdmin::commandstats).transpose()?;
        let cpu_before = app_cpu(&apps);
        let phase = users.run("/counter", options.duration, u64::MAX).await;
        let cpu_after = app_cpu(&apps);
        let stats_after = admin.as_mut().map(RedisAdmin::commandstats).transpose()?;
        let commands = stats_before.zip(stats_after).map(|(b, a)| b.delta_to(&a));
        let count_after = count(&mut users).await?;

        let summary = phase.summary();
        let acknowledged = phase.requests - phase.errors;
        let per_request = |calls: Option<u64>| {
            calls.map_or_else(
                || "-".to_owned(),
                |calls| format!("{:.2}", calls as f64 / phase.requests.max(1) as f64),
            )
        };
        let cpu_us = cpu_before
            .zip(cpu_after)
            .map(|(b, a)| format!("{:.0}", (a - b).as_secs_f64() * 1e6 / phase.requests.max(1) as f64))
            .unwrap_or_else(|| "-".to_owned());
        Ok::<_, BoxError>(format!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} / {acknowledged} | {} | {} | {cpu_us} |",
            if wakeups { "on" } else { "off" },
            options.processes,
            options.users,
            options.handler_delay.map_or(0.0, |d| d.as_secs_f64() * 1e3),
            summary.rps,
            summary.p50_ms,
            summary.p99_ms,
            phase.errors,
            count_after.saturating_sub(count_before),
            per_request(commands.as_ref().map(|c| c.values().sum())),
            per_request(
                commands
                    .as_ref()
                    .map(|c| c.get("publish").copied().unwrap_or(0))
            ),
        ))
    })?;
    drop(apps);
    match (admin.as_mut(), backend) {
        (Some(admin), _) => {
            admin.delete_prefix(&serve.redis_prefix)?;
        }
        (None, Backend::Postgres(url)) => runtime.block_on(drop_tables(url, &table))?,
        (None, Backend::Redis(_)) => {}
    }
    Ok(row)
}

/// The CPU time of every app process together.
fn app_cpu(apps: &[AppProcess]) -> Option<Duration> {
    apps.iter().map(|app| cpu::process_cpu(app.pid())).sum()
}

/// The first user's count, read without changing it.
async fn count(users: &mut Users) -> Result<u64, BoxError> {
    let answer = users.first_get("/counter/peek").await?;
    let body: CountBody = serde_json::from_slice(&answer.body)?;
    Ok(body.count)
}

/// Drops a row's session table and its lease table.
async fn drop_tables(url: &str, table: &str) -> Result<(), BoxError> {
    use session_store_sql::sqlx::{self, Connection};
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let sql = format!("DROP TABLE IF EXISTS \"{table}\", \"{table}_locks\"");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut connection)
        .await?;
    Ok(())
}
