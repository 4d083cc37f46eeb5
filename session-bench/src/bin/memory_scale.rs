//! The memory store at scale: what one million typical sessions cost in
//! resident memory, and what the sweeper removing 100,000 expired sessions
//! at once does to the latency of the requests running beside it.
//!
//! ```text
//! cargo run --release -p session-bench --bin memory_scale -- \
//!     [--sessions 1000000] [--expiring 100000] [--rounds 5] [--rate 40000] [--workers 2]
//! ```
//!
//! - Memory: each case runs in a child process of its own (this binary again,
//!   with `--measure-memory CASE`), so that no case inherits another's freed
//!   heap; bytes per session = (resident after - resident before) / sessions,
//!   read from `/proc/self/status` (`VmRSS`).
//! - Sweep latency: a store holds `--sessions` live sessions and
//!   `--expiring` more that all expire in the same second; its own sweeper
//!   (every 100 ms) removes them. Requests (3 loads that refresh the idle
//!   expiry to 1 save, on random live sessions) arrive at `--rate` per
//!   second whatever the store does (open loop: a thread spawns them on the
//!   runtime on schedule), and each request's latency runs from its spawn to
//!   its answer, queueing included. The sweep window holds the requests
//!   that started while the expired sessions were being removed; the
//!   baseline, those of a window as long just before the expiry (so that
//!   both are as likely to catch a stall of the machine), at most `LEAD`.
// A measuring tool: its report goes to standard output.
#![allow(clippy::print_stdout)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use session_bench::stats::{median, percentile};
use session_bench::typical::{typical, TypicalSession};
use session_bench::BoxError;
use session_core::crypto::token;
use session_core::store::{Record, SessionStore};
use session_core::time::{self, OffsetDateTime};
use session_core::{KeyRing, SessionConfig, SessionId, SessionManager};
use session_store_memory::MemoryStore;

/// How often the store's sweeper runs in the latency rounds.
const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// How long before the expiry the requests run: the longest baseline.
const LEAD: Duration = Duration::from_secs(5);

/// What is kept in the store for the memory figures.
#[derive(Debug, Clone, Copy)]
enum MemoryCase {
    /// Records created through the store API, the typical session as JSON
    /// (217 bytes), no owner.
    Anonymous,
    /// The same, each record owned by a user of its own (the owner index).
    Owned,
    /// Sessions created through the manager (default configuration: the
    /// MessagePack envelope), one request each.
    Manager,
}

impl MemoryCase {
    const ALL: [MemoryCase; 3] = [
        MemoryCase::Anonymous,
        MemoryCase::Owned,
        MemoryCase::Manager,
    ];

    fn flag(self) -> &'static str {
        match self {
            MemoryCase::Anonymous => "store",
            MemoryCase::Owned => "store-owned",
            MemoryCase::Manager => "manager",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            MemoryCase::Anonymous => "store API, no owner",
            MemoryCase::Owned => "store API, one owner each",
            MemoryCase::Manager => "manager, default config",
        }
    }

    fn parse(flag: &str) -> Result<Self, BoxError> {
        Self::ALL
            .into_iter()
            .find(|case| case.flag() == flag)
            .ok_or_else(|| format!("unknown memory case {flag}").into())
    }
}

#[derive(Debug)]
struct Options {
    sessions: usize,
    expiring: usize,
    rounds: usize,
    rate: f64,
    workers: usize,
    /// Set in a child: measure this case and print one line.
    child: Option<MemoryCase>,
}

fn main() {
    if let Err(error) = run() {
        eprintln!("memory_scale: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BoxError> {
    let options = options()?;
    if let Some(case) = options.child {
        let (before, after, payload) = measure_memory(case, options.sessions)?;
        println!("{before} {after} {payload}");
        return Ok(());
    }
    let mut out = memory_table(&options)?;
    out.push('\n');
    out.push_str(&latency_table(&options)?);
    let mut stdout = std::io::stdout().lock();
    std::io::Write::write_all(&mut stdout, out.as_bytes())?;
    Ok(())
}

fn options() -> Result<Options, BoxError> {
    let mut options = Options {
        sessions: 1_000_000,
        expiring: 100_000,
        rounds: 5,
        rate: 40_000.0,
        workers: 2,
        child: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sessions" => options.sessions = value.parse()?,
            "--expiring" => options.expiring = value.parse()?,
            "--rounds" => options.rounds = value.parse()?,
            "--rate" => options.rate = value.parse()?,
            "--workers" => options.workers = value.parse()?,
            "--measure-memory" => options.child = Some(MemoryCase::parse(value)?),
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if options.sessions == 0 || options.rounds == 0 || options.workers == 0 || options.rate <= 0.0 {
        return Err("--sessions, --rounds, --workers and --rate must be positive".into());
    }
    Ok(options)
}

/// The resident set of this process, in bytes.
fn resident() -> Result<u64, BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .ok_or("no VmRSS in /proc/self/status")?
        .trim()
        .parse()?;
    Ok(kib * 1024)
}

/// The typical session as the store API's payload.
fn payload() -> Result<Vec<u8>, BoxError> {
    Ok(serde_json::to_vec(&typical())?)
}

/// A live record: idle for 30 minutes, at most 2 hours old.
fn live_record(id: SessionId, data: Vec<u8>, now: OffsetDateTime) -> Record {
    Record::new(
        id,
        data,
        now,
        now + time::Duration::minutes(30),
        now + time::Duration::hours(2),
    )
    .with_version(1)
}

/// Fills a store with `sessions` sessions of `case`; answers the resident
/// bytes before and after, and the payload bytes of one session.
fn measure_memory(case: MemoryCase, sessions: usize) -> Result<(u64, u64, usize), BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = MemoryStore::builder().no_cleanup().build();
        let data = payload()?;
        let manager = matches!(case, MemoryCase::Manager).then(|| manager(store.clone()));
        let manager = manager.transpose()?;
        let before = resident()?;
        let now = OffsetDateTime::now_utc();
        for n in 0..sessions {
            match (&manager, case) {
                (Some(manager), _) => new_session(manager).await?,
                (None, MemoryCase::Owned) => {
                    let record = live_record(SessionId::random(), data.clone(), now)
                        .with_owner(Some(format!("user-{n}")));
                    store.create(&record).await?;
                }
                (None, _) => {
                    store
                        .create(&live_record(SessionId::random(), data.clone(), now))
                        .await?
                }
            }
        }
        let after = resident()?;
        if store.len() != sessions {
            return Err(format!("the store holds {} of {sessions}", store.len()).into());
        }
        let id = store.ids().await?.into_iter().next().ok_or("no session")?;
        let held = store.load(&id, None).await?.ok_or("no record")?;
        Ok((before, after, held.data.len()))
    })
}

fn manager(store: MemoryStore) -> Result<SessionManager<TypicalSession>, BoxError> {
    let config = SessionConfig::builder()
        .keys(KeyRing::new([token::random_token()])?)
        .secure(false)
        .store(store)
        .build()?;
    Ok(SessionManager::new(config))
}

/// One request that starts a session holding the typical data.
async fn new_session(manager: &SessionManager<TypicalSession>) -> Result<(), BoxError> {
    let request = manager.start_request();
    let session = request.load(std::iter::empty()).await?;
    *session.data_mut() = typical();
    manager
        .finish_request(&request, 200)
        .await?
        .ok_or("no cookie for a new session")?;
    Ok(())
}

/// Runs every memory case in a child process; the markdown table.
fn memory_table(options: &Options) -> Result<String, BoxError> {
    let exe = std::env::current_exe()?;
    let mut out = format!(
        "memory: {} sessions\n\n| case | payload B | RSS before MiB | RSS after MiB | bytes/session | 1 GiB holds |\n|---|---:|---:|---:|---:|---:|\n",
        options.sessions
    );
    for case in MemoryCase::ALL {
        let output = std::process::Command::new(&exe)
            .args(["--measure-memory", case.flag()])
            .args(["--sessions", &options.sessions.to_string()])
            .output()?;
        if !output.status.success() {
            return Err(format!(
                "the {} case failed: {}",
                case.flag(),
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        let line = String::from_utf8(output.stdout)?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        let [before, after, payload] = fields[..] else {
            return Err(format!("the {} case answered {line:?}", case.flag()).into());
        };
        let per_session = after.saturating_sub(before) as f64 / options.sessions as f64;
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        out.push_str(&format!(
            "| {} | {payload} | {:.0} | {:.0} | {per_session:.0} | {:.2} M |\n",
            case.describe(),
            mib(before),
            mib(after),
            (1u64 << 30) as f64 / per_session / 1e6,
        ));
    }
    Ok(out)
}

/// Latencies of one round's requests: `(start µs since the round's epoch,
/// latency ns)` packed in one word each, written without a lock.
struct Samples {
    slots: Vec<AtomicU64>,
    next: AtomicUsize,
}

impl Samples {
    fn new(capacity: usize) -> Self {
        Samples {
            slots: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    fn push(&self, start_us: u64, latency: Duration) {
        let at = self.next.fetch_add(1, Ordering::Relaxed);
        if let Some(slot) = self.slots.get(at) {
            let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
            slot.store(
                (start_us << 32) | ns.min(u64::from(u32::MAX)),
                Ordering::Relaxed,
            );
        }
    }

    /// Sorted latencies (ns) of the requests that started within
    /// `[from, to)` µs.
    fn within(&self, from: u64, to: u64) -> Vec<u64> {
        let written = self.next.load(Ordering::Acquire).min(self.slots.len());
        let mut out: Vec<u64> = self.slots[..written]
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|word| (from..to).contains(&(word >> 32)))
            .map(|word| word & u64::from(u32::MAX))
            .collect();
        out.sort_unstable();
        out
    }
}

/// One window's figures, in µs.
#[derive(Debug, Clone, Copy)]
struct Window {
    requests: usize,
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

impl Window {
    fn of(sorted: &[u64]) -> Option<Self> {
        let us = |p: f64| percentile(sorted, p).map(|ns| ns as f64 / 1000.0);
        Some(Window {
            requests: sorted.len(),
            p50: us(50.0)?,
            p99: us(99.0)?,
            p999: us(99.9)?,
            max: us(100.0)?,
        })
    }
}

/// One latency round.
#[derive(Debug)]
struct Round {
    baseline: Window,
    sweep: Window,
    sweep_ms: f64,
}

fn latency_table(options: &Options) -> Result<String, BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.workers)
        .enable_all()
        .build()?;
    let mut out = format!(
        "sweep latency: {} live sessions, {} expiring in one second, {:.0} requests/s (3 loads with touch : 1 save), {} workers, sweeper every {} ms\n\n| round | window | requests | p50 µs | p99 µs | p99.9 µs | max µs | sweep ms |\n|---|---|---:|---:|---:|---:|---:|---:|\n",
        options.sessions, options.expiring, options.rate, options.workers, SWEEP_EVERY.as_millis()
    );
    let mut ratios = Vec::new();
    let mut p99s = (Vec::new(), Vec::new());
    for n in 1..=options.rounds {
        let round = latency_round(&runtime, options)?;
        for (name, window, sweep_ms) in [
            ("before the expiry", round.baseline, String::new()),
            (
                "during the sweep",
                round.sweep,
                format!("{:.0}", round.sweep_ms),
            ),
        ] {
            out.push_str(&format!(
                "| {n} | {name} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {sweep_ms} |\n",
                window.requests, window.p50, window.p99, window.p999, window.max
            ));
        }
        ratios.push(round.sweep.p99 / round.baseline.p99);
        p99s.0.push(round.baseline.p99);
        p99s.1.push(round.sweep.p99);
    }
    out.push_str(&format!(
        "\nmedian p99: {:.1} µs before, {:.1} µs during the sweep; median ratio of the rounds {:.2}x (target at most 1.2x)\n",
        median(&p99s.0).unwrap_or(f64::NAN),
        median(&p99s.1).unwrap_or(f64::NAN),
        median(&ratios).unwrap_or(f64::NAN),
    ));
    Ok(out)
}

/// A store of `sessions` live sessions plus `expiring` that expire at the
/// start of a whole second a little ahead; answers the live ids and when
/// the others expire.
async fn fill(
    store: &MemoryStore,
    options: &Options,
    data: &[u8],
) -> Result<(Vec<SessionId>, OffsetDateTime), BoxError> {
    let now = OffsetDateTime::now_utc();
    let mut live = Vec::with_capacity(options.sessions);
    for _ in 0..options.sessions {
        let record = live_record(SessionId::random(), data.to_vec(), now);
        store.create(&record).await?;
        live.push(record.id);
    }
    // The expiry: a whole second at least the lead (and a margin) away.
    let margin = time::Duration::try_from(LEAD + Duration::from_millis(700))?;
    let at = OffsetDateTime::from_unix_timestamp(
        (OffsetDateTime::now_utc() + margin).unix_timestamp() + 1,
    )?;
    let created = OffsetDateTime::now_utc();
    for _ in 0..options.expiring {
        let record = Record::new(
            SessionId::random(),
            data.to_vec(),
            created,
            at,
            created + time::Duration::hours(2),
        )
        .with_version(1);
        store.create(&record).await?;
    }
    Ok((live, at))
}

fn latency_round(runtime: &tokio::runtime::Runtime, options: &Options) -> Result<Round, BoxError> {
    let data = payload()?;
    // Built inside the runtime: its sweeper runs there.
    let store =
        runtime.block_on(async { MemoryStore::builder().cleanup_every(SWEEP_EVERY).build() });
    let (live, expiry) = runtime.block_on(fill(&store, options, &data))?;
    let total = live.len() + options.expiring;
    let live = Arc::new(live);
    let epoch = Instant::now();
    let until_expiry = Duration::try_from(expiry - OffsetDateTime::now_utc())?;
    let expiry_us = until_expiry.as_micros() as u64;
    let deadline = until_expiry + Duration::from_secs(10);
    let samples = Arc::new(Samples::new(
        (options.rate * (deadline.as_secs_f64() + 1.0)) as usize,
    ));
    let mut sent = 0u64;
    let (mut sweep_start, mut sweep_end) = (None, None);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    loop {
        let elapsed = epoch.elapsed();
        let due = (elapsed.as_secs_f64() * options.rate) as u64;
        while sent < due {
            // xorshift: which session, and whether a save
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let id = live[(state % live.len() as u64) as usize].clone();
            let save = state >> 62 == 0;
            let (store, samples, data) = (store.clone(), Arc::clone(&samples), data.clone());
            let start = Instant::now();
            let start_us = start.duration_since(epoch).as_micros() as u64;
            runtime.spawn(async move {
                let now = OffsetDateTime::now_utc();
                let answered = if save {
                    store.save(&live_record(id, data, now), None).await.is_ok()
                } else {
                    let touch = now + time::Duration::minutes(30);
                    matches!(store.load(&id, Some(touch)).await, Ok(Some(_)))
                };
                if answered {
                    samples.push(start_us, start.elapsed());
                }
            });
            sent += 1;
        }
        let held = store.len();
        let at = epoch.elapsed();
        if sweep_start.is_none() && held < total {
            sweep_start = Some(at);
        }
        if sweep_end.is_none() && held <= live.len() {
            sweep_end = Some(at);
        }
        match sweep_end {
            Some(end) if at > end + Duration::from_millis(200) => break,
            _ if at > deadline => {
                return Err("the sweeper did not remove the expired sessions in time".into())
            }
            _ => std::thread::sleep(Duration::from_micros(100)),
        }
    }
    // Let the last requests answer.
    std::thread::sleep(Duration::from_millis(50));
    let (start, end) = match (sweep_start, sweep_end) {
        (Some(start), Some(end)) => (start, end),
        _ => return Err("no sweep seen".into()),
    };
    let us = |d: Duration| d.as_micros() as u64;
    let length = (end - start).min(LEAD);
    let baseline = Window::of(&samples.within(expiry_us.saturating_sub(us(length)), expiry_us))
        .ok_or("no request before the expiry")?;
    // The sweep started at most one poll before it was seen.
    let sweep = Window::of(&samples.within(us(start).saturating_sub(200), us(end) + 1))
        .ok_or("no request during the sweep")?;
    Ok(Round {
        baseline,
        sweep,
        sweep_ms: (end - start).as_secs_f64() * 1000.0,
    })
}
