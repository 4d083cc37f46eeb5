//! The HTTP load benchmark: one command that runs every app (ours and the
//! peers, each store, and the no-session ceiling) as a child process on
//! loopback, drives it with the load generator, and writes `results.json`
//! and `results.md`.
//!
//! ```text
//! cargo run --release -p session-bench --bin loadbench -- --out session-bench/results
//!     [--users 256] [--duration 2] [--warmup 0.5] [--runs 3] [--max-requests 2000000]
//!     [--only axum/ours,tower-sessions] [--redis-delay-us 500] [--shared-session]
//! ```
//!
//! `--shared-session` is the contended case: after the warm-up every user
//! takes the first user's cookie, so that all of them send their requests
//! on one session (tabs of one browser), as `--users 16 --shared-session`.
//!
//! `--redis-delay-us` puts a delay proxy (`session_bench::delay`) between
//! the apps and Redis, adding that much latency each way, as a network
//! would; the round-trip and command counts still read Redis directly.
//!
//! `loadbench --render FILE.json` runs nothing: it reads a saved
//! `results.json`, computes its ratios and targets again with this code and
//! prints the markdown tables (what the run wrote to `results.md`, with the
//! current targets).
//!
//! Internally `loadbench serve APP [--redis URL] [--prefix P]` runs one app
//! (`session_bench::child`); the benchmark starts those children itself.
// A command-line benchmark: its report goes to stdout.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use session_bench::apps::{self, ServeOptions, Variant};
use session_bench::child::{self, AppProcess};
use session_bench::delay::DelayProxy;
use session_bench::loadgen::{Users, VirtualUser};
use session_bench::redis::{Monitor, ReadCounter, RedisAdmin, RedisServer};
use session_bench::report::{
    Machine, RedisCount, RedisRoundTrips, Report, RunFigures, Scenario, ScenarioResult, Settings,
    Unavailable,
};
use session_bench::{cpu, BoxError};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("serve") => child::serve_main(&args[1..]),
        Some("--render") => render(&args[1..]),
        Some("--help" | "-h") => {
            println!("{}", USAGE);
            Ok(())
        }
        _ => Options::parse(&args).and_then(bench),
    };
    if let Err(error) = outcome {
        eprintln!("loadbench: {error}");
        std::process::exit(1);
    }
}

const USAGE: &str = "usage: loadbench [--out DIR] [--users N] [--duration SECS] [--warmup SECS] [--runs N] [--max-requests N] [--only PATTERN,...] [--redis-delay-us MICROS] [--shared-session]
       loadbench --render FILE.json
       loadbench serve APP [--redis URL] [--prefix PREFIX] [--secret SECRET] [--lock-wakeups on|off]";

/// Prints the tables of a saved run, its ratios and targets computed again.
fn render(args: &[String]) -> Result<(), BoxError> {
    let [path] = args else {
        return Err(format!("--render takes one file\n{USAGE}").into());
    };
    let json = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let report = Report::from_json(&json).map_err(|e| format!("{path} is not a saved run: {e}"))?;
    print!("{}", report.markdown());
    Ok(())
}

#[derive(Debug)]
struct Options {
    out: PathBuf,
    users: usize,
    duration: Duration,
    warmup: Duration,
    runs: usize,
    max_requests: u64,
    only: Vec<String>,
    redis_delay: Option<Duration>,
    /// Every user on the first user's session after the warm-up.
    shared_session: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, BoxError> {
        let mut options = Options {
            out: PathBuf::from("session-bench/results"),
            users: 256,
            duration: Duration::from_secs(2),
            warmup: Duration::from_millis(500),
            runs: 3,
            max_requests: 2_000_000,
            only: Vec::new(),
            redis_delay: None,
            shared_session: false,
        };
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            if flag == "--shared-session" {
                options.shared_session = true;
                continue;
            }
            let value = rest
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            match flag.as_str() {
                "--out" => options.out = PathBuf::from(value),
                "--users" => options.users = value.parse()?,
                "--duration" => options.duration = Duration::from_secs_f64(value.parse()?),
                "--warmup" => options.warmup = Duration::from_secs_f64(value.parse()?),
                "--runs" => options.runs = value.parse::<usize>()?.max(1),
                "--max-requests" => options.max_requests = value.parse()?,
                "--only" => options.only = value.split(',').map(str::to_owned).collect(),
                "--redis-delay-us" => {
                    options.redis_delay = Some(Duration::from_micros(value.parse()?))
                }
                _ => return Err(format!("unknown flag {flag}\n{USAGE}").into()),
            }
        }
        if options.users == 0 {
            return Err("--users must be at least 1".into());
        }
        Ok(options)
    }

    fn selects(&self, variant: Variant) -> bool {
        let name = variant.to_string();
        self.only.is_empty() || self.only.iter().any(|p| name.contains(p.as_str()))
    }

    /// Whether `--only` names `variant` in full (how a named-only app runs).
    fn names(&self, variant: Variant) -> bool {
        self.only.contains(&variant.to_string())
    }
}

/// The figures of one run of one app: one per scenario.
type AppRun = Vec<(Scenario, RunFigures)>;

fn bench(options: Options) -> Result<(), BoxError> {
    let started = Instant::now();
    let started_at = now_rfc3339();
    let variants: Vec<Variant> = Variant::all()
        .into_iter()
        .filter(|v| options.selects(*v))
        .chain(
            Variant::NAMED_ONLY
                .into_iter()
                .filter(|v| options.names(*v)),
        )
        .collect();
    let mut unavailable: Vec<Unavailable> = Vec::new();
    let wants_redis = variants.iter().any(|v| v.store.uses_redis());
    let redis = if wants_redis {
        match RedisServer::start() {
            Ok(server) => Some(server),
            Err(error) => {
                eprintln!("loadbench: no Redis variants: {error}");
                None
            }
        }
    } else {
        None
    };
    let mut runnable = Vec::new();
    for variant in variants {
        let reason = variant.unavailable().map(str::to_owned).or_else(|| {
            (variant.store.uses_redis() && redis.is_none())
                .then(|| "redis-server could not be started".to_owned())
        });
        match reason {
            Some(reason) => unavailable.push(Unavailable {
                app: variant.to_string(),
                reason,
            }),
            None => runnable.push(variant),
        }
    }
    let per_app = options.warmup + options.duration * 2 + Duration::from_millis(700);
    eprintln!(
        "loadbench: {} apps x {} runs, about {:.0} s",
        runnable.len(),
        options.runs,
        (per_app * (runnable.len() * options.runs) as u32).as_secs_f64()
    );

    let proxy = match (&redis, options.redis_delay) {
        (Some(server), Some(delay)) => {
            let proxy = DelayProxy::start(server.addr(), delay)?;
            eprintln!(
                "loadbench: the apps reach Redis through a proxy adding {} us each way; PING through it: {:.0} us (direct: {:.0} us)",
                delay.as_micros(),
                ping_us(proxy.addr())?,
                ping_us(server.addr())?
            );
            Some(proxy)
        }
        _ => None,
    };
    let redis_url = redis.as_ref().map(|server| match &proxy {
        Some(proxy) => format!("redis://{}", proxy.addr()),
        None => server.url(),
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut collected: Vec<(Variant, Vec<AppRun>)> =
        runnable.iter().map(|v| (*v, Vec::new())).collect();
    let mut failed: Vec<(Variant, String)> = Vec::new();
    // Runs are interleaved (every app once, then again), so that a slow
    // minute of the machine does not fall on one app only.
    for run in 1..=options.runs {
        for (variant, runs) in collected.iter_mut() {
            if failed.iter().any(|(v, _)| v == variant) {
                continue;
            }
            match measure(
                &runtime,
                *variant,
                redis.as_ref(),
                redis_url.as_deref(),
                &options,
            ) {
                Ok(figures) => {
                    print_progress(run, &options, *variant, &figures);
                    runs.push(figures);
                }
                Err(error) => {
                    eprintln!("[run {run}/{}] {variant}: FAILED: {error}", options.runs);
                    failed.push((*variant, error.to_string()));
                }
            }
        }
    }

    let mut results = Vec::new();
    for (variant, runs) in collected {
        if let Some((_, error)) = failed.iter().find(|(v, _)| *v == variant) {
            unavailable.push(Unavailable {
                app: variant.to_string(),
                reason: format!("failed: {error}"),
            });
            continue;
        }
        for scenario in Scenario::ALL {
            let figures = runs
                .iter()
                .flat_map(|run| {
                    run.iter()
                        .filter(|(s, _)| *s == scenario)
                        .map(|(_, f)| f.clone())
                })
                .collect();
            results.push(ScenarioResult::new(variant, scenario, figures));
        }
    }
    let mut report = Report {
        command: command_line(),
        started_at,
        total_secs: started.elapsed().as_secs_f64(),
        machine: machine(),
        settings: Settings {
            users: options.users,
            duration_secs: options.duration.as_secs_f64(),
            warmup_secs: options.warmup.as_secs_f64(),
            runs: options.runs,
            max_requests: options.max_requests,
            server_threads: 1,
            client_threads: 1,
            shared_session: options.shared_session,
        },
        results,
        ratios: Vec::new(),
        targets: Vec::new(),
        unavailable,
    };
    report.finish();
    std::fs::create_dir_all(&options.out)?;
    let json_path = options.out.join("results.json");
    let md_path = options.out.join("results.md");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)?;
    let markdown = report.markdown();
    std::fs::write(&md_path, &markdown)?;
    println!("{markdown}");
    eprintln!(
        "loadbench: wrote {} and {} in {:.0} s",
        json_path.display(),
        md_path.display(),
        report.total_secs
    );
    Ok(())
}

/// One run of one app: start it, check it, warm up, measure both scenarios.
fn measure(
    runtime: &tokio::runtime::Runtime,
    variant: Variant,
    redis: Option<&RedisServer>,
    redis_url: Option<&str>,
    options: &Options,
) -> Result<AppRun, BoxError> {
    let redis = redis.filter(|_| variant.store.uses_redis());
    let redis_url = redis_url.filter(|_| redis.is_some());
    let prefix = format!(
        "bench:{}:",
        &session_core::crypto::token::random_token()[..12]
    );
    let app = AppProcess::start(
        variant,
        &ServeOptions {
            redis_url: redis_url.map(str::to_owned),
            redis_prefix: prefix.clone(),
            ..ServeOptions::default()
        },
    )?;
    let mut admin = redis.map(|r| RedisAdmin::connect(r.addr())).transpose()?;
    let mut reads = redis.map(|r| ReadCounter::connect(r.addr())).transpose()?;
    let figures = runtime.block_on(async {
        apps::check(app.addr(), variant).await?;
        let mut users = Users::connect(app.addr(), options.users).await?;
        // Every user gets its session, then the app warms up on /counter.
        let warmup = users
            .run("/counter", options.warmup, options.max_requests)
            .await;
        if warmup.errors > 0 {
            return Err(
                format!("warm-up failed: {}", warmup.first_error.unwrap_or_default()).into(),
            );
        }
        if options.shared_session {
            users.share_first_session();
        }
        let mut figures = Vec::new();
        for scenario in Scenario::ALL {
            let before = admin.as_mut().map(RedisAdmin::commandstats).transpose()?;
            let cpu_before = (
                cpu::process_cpu(app.pid()),
                redis.and_then(|r| cpu::process_cpu(r.pid())),
            );
            let phase = users
                .run(scenario.path(), options.duration, options.max_requests)
                .await;
            let cpu_after = (
                cpu::process_cpu(app.pid()),
                redis.and_then(|r| cpu::process_cpu(r.pid())),
            );
            let after = admin.as_mut().map(RedisAdmin::commandstats).transpose()?;
            let mut summary = phase.summary();
            summary.server_cpu_us = per_request_us(cpu_before.0, cpu_after.0, phase.requests);
            summary.redis_cpu_us = per_request_us(cpu_before.1, cpu_after.1, phase.requests);
            let redis_executed = before.zip(after).map(|(b, a)| RedisCount {
                requests: phase.requests,
                commands: b.delta_to(&a),
            });
            // Before the MONITOR phase: the connections it opens and closes
            // are reads too, and would land in the count.
            let redis_round_trips = match reads.as_mut() {
                Some(counter) => Some(count_round_trips(counter, app.addr(), scenario).await?),
                None => None,
            };
            let redis_sent = match redis {
                Some(server) => Some(count_sent(server, &mut users, scenario).await?),
                None => None,
            };
            figures.push((
                scenario,
                RunFigures {
                    summary,
                    redis_executed,
                    redis_sent,
                    redis_round_trips,
                    first_error: phase.first_error.clone(),
                },
            ));
        }
        Ok::<_, BoxError>(figures)
    })?;
    drop(app);
    if let Some(admin) = admin.as_mut() {
        admin.delete_prefix(&prefix)?;
    }
    Ok(figures)
}

/// The commands the app sends per request of a scenario, counted with
/// `MONITOR` over a short phase (it slows Redis down, so it never overlaps
/// a measured phase).
async fn count_sent(
    server: &RedisServer,
    users: &mut Users,
    scenario: Scenario,
) -> Result<RedisCount, BoxError> {
    let monitor = Monitor::start(server.addr())?;
    let phase = users
        .run(
            scenario.path(),
            Duration::from_millis(300),
            COUNTED_REQUESTS,
        )
        .await;
    let commands = monitor.finish()?;
    if phase.errors > 0 {
        return Err(format!(
            "counting phase failed: {}",
            phase.first_error.unwrap_or_default()
        )
        .into());
    }
    Ok(RedisCount {
        requests: phase.requests,
        commands,
    })
}

/// The Redis round trips per request of a scenario: one new user gets its
/// session, then sends the scenario's requests one at a time, so that each
/// read event Redis counts is one round trip of the app (see
/// [`ReadCounter`]).
async fn count_round_trips(
    counter: &mut ReadCounter,
    addr: SocketAddr,
    scenario: Scenario,
) -> Result<RedisRoundTrips, BoxError> {
    let mut user = VirtualUser::connect(addr).await?;
    // The session, then a few requests that are not counted: whatever
    // happens once per session or connection stays out of the figure.
    sequential(&mut user, "/counter", 1).await?;
    sequential(&mut user, scenario.path(), 3).await?;
    let before = counter.reading()?;
    let start = Instant::now();
    sequential(&mut user, scenario.path(), ROUND_TRIP_REQUESTS).await?;
    let reads = counter.reads_since(before)?;
    // As long again with no request: the app's background reads.
    let idle = start
        .elapsed()
        .clamp(Duration::from_millis(50), Duration::from_secs(1));
    let before = counter.reading()?;
    tokio::time::sleep(idle).await;
    let idle_reads = counter.reads_since(before)?;
    Ok(RedisRoundTrips {
        requests: ROUND_TRIP_REQUESTS,
        reads,
        idle_reads,
    })
}

/// Sends `GET path` `count` times, one after the other; any failure is an
/// error.
async fn sequential(user: &mut VirtualUser, path: &str, count: u64) -> Result<(), BoxError> {
    for _ in 0..count {
        let answer = user.get(path).await?;
        if !answer.status.is_success() {
            return Err(format!("round-trip phase: GET {path}: {}", answer.status).into());
        }
    }
    Ok(())
}

/// The median time of 200 `PING`s to `addr`, one at a time, in µs.
fn ping_us(addr: SocketAddr) -> Result<f64, BoxError> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr)?;
    conn.set_nodelay(true)?;
    let mut times = Vec::new();
    let mut reply = [0u8; 7];
    for _ in 0..200 {
        let start = Instant::now();
        conn.write_all(b"PING\r\n")?;
        conn.read_exact(&mut reply)?; // +PONG\r\n
        times.push(start.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Requests of a round-trip counting phase.
const ROUND_TRIP_REQUESTS: u64 = 200;

/// CPU microseconds per request between two readings.
fn per_request_us(before: Option<Duration>, after: Option<Duration>, requests: u64) -> Option<f64> {
    let spent = after?.checked_sub(before?)?;
    (requests > 0).then(|| spent.as_secs_f64() * 1e6 / requests as f64)
}

/// Requests of a `MONITOR` counting phase.
const COUNTED_REQUESTS: u64 = 2000;

fn print_progress(run: usize, options: &Options, variant: Variant, figures: &AppRun) {
    let parts: Vec<String> = figures
        .iter()
        .map(|(scenario, f)| {
            let s = &f.summary;
            let round_trips = f.redis_round_trips.as_ref();
            let redis = round_trips
                .and_then(RedisRoundTrips::per_request)
                .map_or(String::new(), |r| format!(", {r:.2} Redis round trips/req"));
            let idle = round_trips
                .filter(|r| r.idle_reads > 0)
                .map_or(String::new(), |r| format!(" ({} reads idle)", r.idle_reads));
            let sent = f
                .redis_sent
                .as_ref()
                .and_then(RedisCount::per_request)
                .map_or(String::new(), |r| format!(", {r:.2} cmds sent/req"));
            let redis = format!("{redis}{idle}{sent}");
            let errors = if s.errors > 0 {
                format!(
                    ", {} errors ({})",
                    s.errors,
                    f.first_error.as_deref().unwrap_or("")
                )
            } else {
                String::new()
            };
            let cpu = s
                .server_cpu_us
                .map_or(String::new(), |us| format!(", server {us:.1} us CPU/req"));
            format!(
                "{} {:.0} req/s p50 {:.2} ms p99 {:.2} ms{cpu}{redis}{errors}",
                scenario.name(),
                s.rps,
                s.p50_ms,
                s.p99_ms
            )
        })
        .collect();
    eprintln!(
        "[run {run}/{}] {variant}: {}",
        options.runs,
        parts.join("; ")
    );
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut line = String::from("cargo run --release -p session-bench --bin loadbench --");
    for arg in args {
        line.push(' ');
        line.push_str(&arg);
    }
    line
}

fn now_rfc3339() -> String {
    session_core::time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into())
    };
    let memory = field(&meminfo, "MemTotal")
        .trim_end_matches(" kB")
        .parse::<f64>()
        .map_or("unknown memory".into(), |kb| {
            format!("{:.0} GiB RAM", kb / 1024.0 / 1024.0)
        });
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model: field(&cpuinfo, "model name"),
        memory,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or("unknown".into(), |s| s.trim().to_owned()),
        rustc: version_of("rustc", &["--version"]),
        redis: version_of("redis-server", &["--version"]),
    }
}

fn version_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("{program} unknown"))
}
