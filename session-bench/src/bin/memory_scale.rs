//! The memory store at scale: what one million typical sessions cost in
//! resident memory, and what the sweeper removing 100,000 expired sessions
//! at once does to the latency of the requests running beside it.
//!
//! ```text
//! cargo run --release -p session-bench --bin memory_scale -- \
//!     [--sessions 1000000] [--expiring 100000] [--rounds 7] [--rate 40000] [--workers 2] \
//!     [--only memory|latency]
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
//!   its answer, queueing included. One store serves every round; each
//!   round adds the sessions that expire together, and judges three
//!   windows of its requests: the sweep (while the expired sessions were
//!   being removed) between two baselines as long, one just before the
//!   expiry and one just after the sweep, so that a stall of the loaded
//!   machine is as likely to land in a baseline as in the sweep. A round's
//!   ratio is the sweep's p99 over the p99 of both baselines' requests
//!   together; the verdict is the median of the rounds' ratios, printed
//!   with its quartiles and range, beside the control (the after-baseline's
//!   p99 over the before-baseline's: the machine's own drift with no sweep
//!   in either) and the load average at the start, at every round and at
//!   the end.
// A measuring tool: its report goes to standard output.
#![allow(clippy::print_stdout)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use session_bench::stats::{percentile, Spread};
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
const LEAD: Duration = Duration::from_secs(3);
/// The shortest window judged: below it a window holds too few requests
/// (20,000 at 40,000/s) for its p99 to mean much.
const MIN_WINDOW: Duration = Duration::from_millis(500);
/// How often the store's length is read to see the sweep start and end.
const POLL: Duration = Duration::from_micros(200);
/// The gap after the sweep before the second baseline: the requests that
/// queued behind the sweep's last step are answered by then.
const SETTLE: Duration = Duration::from_millis(200);
/// The target: the sweep's p99 at most this many times the baselines'.
const TARGET: f64 = 1.2;

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
    /// Which tables to print (`--only memory` or `--only latency`).
    memory: bool,
    latency: bool,
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
    let mut out = String::new();
    if options.memory {
        out.push_str(&memory_table(&options)?);
    }
    if options.latency {
        if options.memory {
            out.push('\n');
        }
        out.push_str(&latency_table(&options)?);
    }
    let mut stdout = std::io::stdout().lock();
    std::io::Write::write_all(&mut stdout, out.as_bytes())?;
    Ok(())
}

fn options() -> Result<Options, BoxError> {
    let mut options = Options {
        sessions: 1_000_000,
        expiring: 100_000,
        rounds: 7,
        rate: 40_000.0,
        workers: 2,
        memory: true,
        latency: true,
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
            "--only" => match value.as_str() {
                "memory" => options.latency = false,
                "latency" => options.memory = false,
                _ => return Err(format!("--only takes memory or latency, not {value}").into()),
            },
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

/// Where a round's three windows lie, in µs since the round's epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Windows {
    before: std::ops::Range<u64>,
    sweep: std::ops::Range<u64>,
    after: std::ops::Range<u64>,
}

impl Windows {
    /// The windows of a round whose records expired at `expiry` and whose
    /// sweep was seen from `start` to `end` (µs; `start` is when the store
    /// first held fewer records, seen at most `POLL` late). Both baselines
    /// are as long as the sweep, within `[MIN_WINDOW, LEAD]`: the one just
    /// before the expiry, and the one that starts `SETTLE` after the sweep,
    /// so that a stall of the machine is as likely to fall in either as in
    /// the sweep. A sweep shorter than `MIN_WINDOW` is judged over
    /// `MIN_WINDOW` from its start (too few requests otherwise for a p99).
    fn of(expiry: u64, start: u64, end: u64) -> Self {
        let us = |d: Duration| d.as_micros() as u64;
        let length = end.saturating_sub(start).clamp(us(MIN_WINDOW), us(LEAD));
        let from = start.saturating_sub(us(POLL));
        let after = end + us(SETTLE);
        Windows {
            before: expiry.saturating_sub(length)..expiry,
            sweep: from..(end + 1).max(from + length),
            after: after..after + length,
        }
    }

    /// When the last window ends: the round may stop once it has passed.
    fn end(&self) -> u64 {
        self.after.end
    }
}

/// One latency round.
#[derive(Debug)]
struct Round {
    before: Window,
    sweep: Window,
    after: Window,
    /// The p99 of the two baselines' requests together, µs.
    baseline_p99: f64,
    sweep_ms: f64,
    /// The 1-minute load average when the round started.
    load: f64,
}

impl Round {
    /// The figure the target bounds: the sweep's p99 over the baselines'.
    fn ratio(&self) -> f64 {
        self.sweep.p99 / self.baseline_p99
    }

    /// The machine's own drift within a round, no sweep in either window:
    /// what a ratio must stand out from to mean anything.
    fn control(&self) -> f64 {
        self.after.p99 / self.before.p99
    }
}

/// Two sorted lists as one.
fn merged(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// `/proc/loadavg`'s 1-, 5- and 15-minute load averages.
fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    let mut next = || fields.next()?.ok();
    Some([next()?, next()?, next()?])
}

/// The machine's load now; `None` where `/proc/loadavg` cannot be read.
fn load_average() -> Option<[f64; 3]> {
    parse_loadavg(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

fn describe_load(load: Option<[f64; 3]>) -> String {
    match load {
        Some([one, five, fifteen]) => format!("{one:.2} {five:.2} {fifteen:.2}"),
        None => "unknown".to_owned(),
    }
}

/// What the rounds say against the target: met, or not, by the median of
/// the rounds' ratios, and whether the machine's own drift between two
/// windows without a sweep (the control) was as wide as the effect.
fn verdict(ratios: &Spread, control: &Spread) -> String {
    let met = ratios.median <= TARGET;
    let noise = control.q1.min(1.0 / control.q3.max(f64::MIN_POSITIVE));
    let within_noise = ratios.median >= noise && ratios.median <= 1.0 / noise;
    format!(
        "**{}**: median ratio {:.2}x against at most {TARGET}x{}",
        if met { "met" } else { "not met" },
        ratios.median,
        if within_noise && !met {
            " (but within the machine's own drift between two baselines: rerun on a quieter machine)"
        } else {
            ""
        }
    )
}

fn latency_table(options: &Options) -> Result<String, BoxError> {
    let load_start = load_average();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.workers)
        .enable_all()
        .build()?;
    let data = payload()?;
    // Built inside the runtime: its sweeper runs there. One store for every
    // round: each round adds the sessions that expire together.
    let store =
        runtime.block_on(async { MemoryStore::builder().cleanup_every(SWEEP_EVERY).build() });
    let live = Arc::new(runtime.block_on(fill_live(&store, options.sessions, &data))?);
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mut out = format!(
        "sweep latency: {} live sessions, {} expiring in one second per round, {:.0} requests/s (3 loads with touch : 1 save), {} workers, sweeper every {} ms; {cores} cores, load average (1, 5, 15 min) {} at the start\n\n| round | load 1m | window | requests | p50 µs | p99 µs | p99.9 µs | max µs | sweep ms | sweep / baseline p99 |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
        options.sessions,
        options.expiring,
        options.rate,
        options.workers,
        SWEEP_EVERY.as_millis(),
        describe_load(load_start),
    );
    let mut rounds = Vec::new();
    // The first round waits the longest baseline before the expiry; the
    // others as long as the last sweep took (and a quarter), which is all
    // the first baseline uses, so more rounds fit in the same time.
    let mut lead = LEAD;
    for n in 1..=options.rounds {
        let round = latency_round(&runtime, &store, &live, options, &data, lead)?;
        lead = Duration::from_secs_f64(round.sweep_ms * 1.25 / 1000.0).clamp(MIN_WINDOW, LEAD);
        for (name, window, sweep_ms, ratio) in [
            ("before", round.before, String::new(), String::new()),
            (
                "sweep",
                round.sweep,
                format!("{:.0}", round.sweep_ms),
                format!("{:.2}x", round.ratio()),
            ),
            ("after", round.after, String::new(), String::new()),
        ] {
            out.push_str(&format!(
                "| {n} | {:.2} | {name} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {sweep_ms} | {ratio} |\n",
                round.load, window.requests, window.p50, window.p99, window.p999, window.max
            ));
        }
        rounds.push(round);
    }
    let spread = |figure: fn(&Round) -> f64| {
        Spread::of(&rounds.iter().map(figure).collect::<Vec<_>>()).ok_or("no round")
    };
    let ratios = spread(Round::ratio)?;
    let control = spread(Round::control)?;
    let baseline = spread(|r| r.baseline_p99)?;
    let sweep = spread(|r| r.sweep.p99)?;
    let sweep_ms = spread(|r| r.sweep_ms)?;
    let show = |s: &Spread, unit: &str| {
        format!(
            "median {:.2}{unit} (quartiles {:.2}-{:.2}, range {:.2}-{:.2})",
            s.median, s.q1, s.q3, s.min, s.max
        )
    };
    out.push_str(&format!(
        "\n{} rounds. p99 of the baselines (before and after together): {}; during the sweep: {}; sweep length {}.\n\
         ratio sweep / baseline p99: {}.\n\
         control, after / before p99 (no sweep in either): {}.\n\
         load average (1, 5, 15 min): {} at the start, {} at the end, on {cores} cores.\n\
         verdict: {}\n",
        rounds.len(),
        show(&baseline, " µs"),
        show(&sweep, " µs"),
        show(&sweep_ms, " ms"),
        show(&ratios, "x"),
        show(&control, "x"),
        describe_load(load_start),
        describe_load(load_average()),
        verdict(&ratios, &control),
    ));
    Ok(out)
}

/// Fills `store` with `sessions` live sessions; answers their ids.
async fn fill_live(
    store: &MemoryStore,
    sessions: usize,
    data: &[u8],
) -> Result<Vec<SessionId>, BoxError> {
    let now = OffsetDateTime::now_utc();
    let mut live = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let record = live_record(SessionId::random(), data.to_vec(), now);
        store.create(&record).await?;
        live.push(record.id);
    }
    Ok(live)
}

/// Adds `expiring` sessions that expire at the start of a whole second at
/// least `lead` (and a margin) after they are all in; answers that second.
async fn add_expiring(
    store: &MemoryStore,
    expiring: usize,
    data: &[u8],
    lead: Duration,
) -> Result<OffsetDateTime, BoxError> {
    // The inserts take a while at this scale (a third of a second here):
    // 800 ms are allowed for them. Were they slower, the first baseline
    // would start later and be shorter (its request count shows it).
    let margin = time::Duration::try_from(lead + Duration::from_millis(800))?;
    let created = OffsetDateTime::now_utc();
    let expiry = OffsetDateTime::from_unix_timestamp((created + margin).unix_timestamp() + 1)?;
    for _ in 0..expiring {
        let record = Record::new(
            SessionId::random(),
            data.to_vec(),
            created,
            expiry,
            created + time::Duration::hours(2),
        )
        .with_version(1);
        store.create(&record).await?;
    }
    Ok(expiry)
}

fn latency_round(
    runtime: &tokio::runtime::Runtime,
    store: &MemoryStore,
    live: &Arc<Vec<SessionId>>,
    options: &Options,
    data: &[u8],
    lead: Duration,
) -> Result<Round, BoxError> {
    let load = load_average().map_or(f64::NAN, |[one, ..]| one);
    let expiry = runtime.block_on(add_expiring(store, options.expiring, data, lead))?;
    let total = live.len() + options.expiring;
    if store.len() != total {
        return Err(format!("the store holds {} of {total} sessions", store.len()).into());
    }
    let epoch = Instant::now();
    let until_expiry = Duration::try_from(expiry - OffsetDateTime::now_utc())?;
    let expiry_us = until_expiry.as_micros() as u64;
    let deadline = until_expiry + Duration::from_secs(20);
    let samples = Arc::new(Samples::new(
        (options.rate * (deadline.as_secs_f64() + 1.0)) as usize,
    ));
    let us = |d: Duration| d.as_micros() as u64;
    let mut sent = 0u64;
    let (mut sweep_start, mut sweep_end, mut windows) = (None, 0, None);
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
            let (store, samples, data) = (store.clone(), Arc::clone(&samples), data.to_vec());
            let start = Instant::now();
            let start_us = us(start.duration_since(epoch));
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
        let at = us(epoch.elapsed());
        if sweep_start.is_none() && held < total {
            sweep_start = Some(at);
        }
        if let (Some(start), None) = (sweep_start, &windows) {
            if held <= live.len() {
                windows = Some(Windows::of(expiry_us, start, at));
                sweep_end = at;
            }
        }
        match &windows {
            Some(windows) if at > windows.end() => break,
            _ if at > us(deadline) => {
                return Err("the sweeper did not remove the expired sessions in time".into())
            }
            _ => std::thread::sleep(POLL),
        }
    }
    // Let the last requests answer.
    std::thread::sleep(Duration::from_millis(50));
    let (Some(start), Some(windows)) = (sweep_start, windows) else {
        return Err("no sweep seen".into());
    };
    let before = samples.within(windows.before.start, windows.before.end);
    let after = samples.within(windows.after.start, windows.after.end);
    let baseline = merged(&before, &after);
    let sweep = samples.within(windows.sweep.start, windows.sweep.end);
    let p99 = |sorted: &[u64]| percentile(sorted, 99.0).map(|ns| ns as f64 / 1000.0);
    Ok(Round {
        before: Window::of(&before).ok_or("no request before the expiry")?,
        sweep: Window::of(&sweep).ok_or("no request during the sweep")?,
        after: Window::of(&after).ok_or("no request after the sweep")?,
        baseline_p99: p99(&baseline).ok_or("no baseline request")?,
        sweep_ms: sweep_end.saturating_sub(start) as f64 / 1000.0,
        load,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    #[test]
    fn the_baselines_are_as_long_as_the_sweep_on_either_side_of_it() {
        let w = Windows::of(10_000 * MS, 10_050 * MS, 11_550 * MS);
        let poll = POLL.as_micros() as u64;
        assert_eq!(w.before, 8_500 * MS..10_000 * MS);
        assert_eq!(w.sweep, 10_050 * MS - poll..11_550 * MS + 1);
        let settle = SETTLE.as_micros() as u64;
        assert_eq!(w.after, 11_550 * MS + settle..13_050 * MS + settle);
        assert_eq!(w.end(), w.after.end);
    }

    #[test]
    fn a_long_sweep_keeps_baselines_of_at_most_the_lead() {
        let lead = LEAD.as_micros() as u64;
        let w = Windows::of(10_000 * MS, 10_000 * MS, 30_000 * MS);
        assert_eq!(w.before.end - w.before.start, lead);
        assert_eq!(w.after.end - w.after.start, lead);
        assert_eq!(w.sweep.end, 30_000 * MS + 1, "the whole sweep is judged");
    }

    #[test]
    fn a_short_sweep_is_judged_over_the_shortest_window() {
        let min = MIN_WINDOW.as_micros() as u64;
        let w = Windows::of(10_000 * MS, 10_100 * MS, 10_110 * MS);
        assert_eq!(w.before.end - w.before.start, min);
        assert_eq!(w.sweep.end - w.sweep.start, min);
        assert_eq!(w.after.end - w.after.start, min);
        // An expiry too early for a whole baseline starts it at the epoch.
        assert_eq!(Windows::of(100, 200, 300).before, 0..100);
    }

    #[test]
    fn merging_keeps_the_order_and_every_sample() {
        assert_eq!(merged(&[1, 4, 9], &[2, 3, 10, 11]), [1, 2, 3, 4, 9, 10, 11]);
        assert_eq!(merged(&[], &[5]), [5]);
        assert_eq!(merged(&[5, 5], &[5]), [5, 5, 5]);
    }

    #[test]
    fn the_load_average_is_read_from_its_first_three_fields() {
        assert_eq!(
            parse_loadavg("4.28 1.99 0.79 5/197 13299\n"),
            Some([4.28, 1.99, 0.79])
        );
        assert_eq!(parse_loadavg("4.28 x"), None);
        assert_eq!(parse_loadavg(""), None);
    }

    fn spread(values: &[f64]) -> Spread {
        Spread::of(values).unwrap()
    }

    #[test]
    fn the_verdict_follows_the_median_ratio_not_one_wild_round() {
        let calm = spread(&[0.95, 1.0, 1.05, 1.0, 1.02]);
        let one_wild = spread(&[1.0, 1.1, 0.9, 1.05, 9.0]);
        assert!(verdict(&one_wild, &calm).starts_with("**met**"));
        let slow = spread(&[1.5, 1.6, 1.4, 1.7, 1.5]);
        let verdict_slow = verdict(&slow, &calm);
        assert!(verdict_slow.starts_with("**not met**: median ratio 1.50x"));
        assert!(!verdict_slow.contains("drift"), "the effect stands out");
        // A machine whose baselines drift by 2x either way cannot tell 1.5x
        // from noise: the verdict says so.
        let drifting = spread(&[0.4, 0.5, 1.0, 2.0, 2.5]);
        assert!(verdict(&slow, &drifting).contains("drift"));
    }
}
