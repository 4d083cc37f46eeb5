//! The Redis near cache's eviction policy, measured without Redis: its hit
//! ratio against an exact LRU of the same capacity, its cost per lookup and
//! fill, and its memory per entry.
//!
//! ```text
//! cargo run --release -p session-bench --bin near_eviction -- \
//!     [--sessions 100000] [--accesses 2000000] [--cost-ops 25000]
//! ```
//!
//! - Hit ratio: `--accesses` loads (after as many again to warm up) over
//!   `--sessions` distinct sessions, drawn uniformly or Zipf-like (the
//!   session of rank r with weight 1/r^s, s = 0.8 and 1.0), the same
//!   sequence for every policy. A miss fills the entry, as a load from Redis
//!   does. The near cache is the store's own bookkeeping
//!   (`session_store_redis::fuzzing::NearEntries`, behind the `fuzzing`
//!   feature) with the age bound out of the way (one hour), so that only the
//!   entry bound evicts. The yardsticks: an exact LRU written here, and the
//!   static optimum (the share of loads that go to the `capacity` most
//!   likely sessions, the best any cache can do on draws that are
//!   independent of each other).
//! - Cost: instructions per operation under `valgrind --tool=callgrind
//!   --toggle-collect='*measured_*'` (each `measured_*` function runs
//!   `--cost-ops` operations of one kind); the wall time printed beside it
//!   is only indicative on a loaded machine.
//! - Memory: the growth of the resident set (`VmRSS`) from before the cache
//!   to after filling it, and after a Zipf run over it, divided by the
//!   entries held; the record's own data is reported apart.
// A measuring tool: its report goes to standard output.
#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::{Duration, Instant};

use session_bench::soak::Usage;
use session_bench::typical::typical;
use session_bench::BoxError;
use session_core::store::Record;
use session_core::time::{self, OffsetDateTime};
use session_core::SessionId;
use session_store_redis::fuzzing::NearEntries;

/// The age bound of the simulated cache: long enough never to act.
const NO_AGE_BOUND: Duration = Duration::from_secs(3600);

/// The capacities measured, in percent of the sessions.
const CAPACITY_PERCENTS: [usize; 3] = [1, 10, 50];

/// The options of a run.
struct Options {
    sessions: usize,
    accesses: usize,
    cost_ops: usize,
}

fn options() -> Result<Options, BoxError> {
    let mut options = Options {
        sessions: 100_000,
        accesses: 2_000_000,
        cost_ops: 25_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value: usize = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .parse()?;
        match flag.as_str() {
            "--sessions" => options.sessions = value,
            "--accesses" => options.accesses = value,
            "--cost-ops" => options.cost_ops = value,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if options.sessions < 100 {
        return Err("--sessions must be at least 100".into());
    }
    Ok(options)
}

/// splitmix64: a small deterministic generator, so that every policy sees
/// the same draws.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A draw in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How sessions are drawn.
#[derive(Clone, Copy)]
enum Pattern {
    Uniform,
    Zipf(f64),
}

impl Pattern {
    fn name(self) -> String {
        match self {
            Pattern::Uniform => "uniform".to_owned(),
            Pattern::Zipf(s) => format!("Zipf s={s:.1}"),
        }
    }

    /// The probability of each rank, most likely first.
    fn weights(self, sessions: usize) -> Vec<f64> {
        let raw: Vec<f64> = (1..=sessions)
            .map(|rank| match self {
                Pattern::Uniform => 1.0,
                Pattern::Zipf(s) => 1.0 / (rank as f64).powf(s),
            })
            .collect();
        let total: f64 = raw.iter().sum();
        raw.into_iter().map(|w| w / total).collect()
    }

    /// `count` session indexes. Ranks are shuffled onto sessions, so that
    /// the hot sessions are not the first ones created.
    fn draws(self, sessions: usize, count: usize, seed: u64) -> Vec<usize> {
        let mut cumulative = self.weights(sessions);
        let mut sum = 0.0;
        for w in &mut cumulative {
            sum += *w;
            *w = sum;
        }
        let mut rng = Rng(seed);
        let mut of_rank: Vec<usize> = (0..sessions).collect();
        for i in (1..sessions).rev() {
            of_rank.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        (0..count)
            .map(|_| {
                let u = rng.unit() * sum;
                let rank = cumulative.partition_point(|&c| c <= u).min(sessions - 1);
                of_rank[rank]
            })
            .collect()
    }
}

/// The exact LRU yardstick: entries with the stamp of their last use, and
/// the stamps in order.
struct Lru {
    capacity: usize,
    clock: u64,
    entries: HashMap<usize, u64>,
    order: BTreeMap<u64, usize>,
}

impl Lru {
    fn new(capacity: usize) -> Self {
        Lru {
            capacity,
            clock: 0,
            entries: HashMap::with_capacity(capacity + 1),
            order: BTreeMap::new(),
        }
    }

    /// Uses `key`: answers whether it was held, and holds it now.
    fn access(&mut self, key: usize) -> bool {
        self.clock += 1;
        let hit = match self.entries.insert(key, self.clock) {
            Some(stamp) => {
                self.order.remove(&stamp);
                true
            }
            None => false,
        };
        self.order.insert(self.clock, key);
        if self.entries.len() > self.capacity {
            if let Some((_, oldest)) = self.order.pop_first() {
                self.entries.remove(&oldest);
            }
        }
        hit
    }
}

/// The sessions of a run: their Redis keys and records.
struct Sessions {
    keys: Vec<String>,
    records: Vec<Record>,
    expiry: i64,
}

impl Sessions {
    fn new(count: usize) -> Result<Self, BoxError> {
        let data = serde_json::to_vec(&typical())?;
        let now = OffsetDateTime::now_utc();
        let idle = now + time::Duration::hours(1);
        let absolute = now + time::Duration::hours(2);
        let records: Vec<Record> = (0..count)
            .map(|_| Record::new(SessionId::random(), data.clone(), now, idle, absolute))
            .collect();
        let keys = records
            .iter()
            .map(|r| format!("{}{}", session_store_redis::DEFAULT_PREFIX, r.id.as_str()))
            .collect();
        Ok(Sessions {
            keys,
            records,
            expiry: Record::millis(idle),
        })
    }

    fn now(&self) -> i64 {
        self.expiry - 3_600_000
    }

    /// One load of session `i` through the near cache: a hit, or a fill.
    fn load(&self, cache: &NearEntries, i: usize) -> bool {
        let key = &self.keys[i];
        if cache.get(key, self.now()).is_some() {
            return true;
        }
        cache.fill(key, self.records[i].clone(), self.expiry);
        false
    }
}

/// Hits of the near cache over `draws` (the first half warms up), and the
/// mean of the entries held over the measured half.
fn near_hits(sessions: &Sessions, capacity: usize, draws: &[usize]) -> (f64, f64) {
    let cache = NearEntries::new(capacity, NO_AGE_BOUND);
    let (warm, measured) = draws.split_at(draws.len() / 2);
    warm.iter().for_each(|&i| {
        sessions.load(&cache, i);
    });
    let mut hits = 0usize;
    let mut held = 0f64;
    for (n, &i) in measured.iter().enumerate() {
        hits += usize::from(sessions.load(&cache, i));
        if n % 64 == 0 {
            held += cache.len() as f64;
        }
    }
    let samples = measured.len().div_ceil(64) as f64;
    (
        hits as f64 / measured.len() as f64,
        held / samples / capacity as f64,
    )
}

/// Hits of the exact LRU over `draws` (the first half warms up).
fn lru_hits(capacity: usize, draws: &[usize]) -> f64 {
    let mut lru = Lru::new(capacity);
    let (warm, measured) = draws.split_at(draws.len() / 2);
    warm.iter().for_each(|&i| {
        lru.access(i);
    });
    let hits = measured.iter().filter(|&&i| lru.access(i)).count();
    hits as f64 / measured.len() as f64
}

fn hit_ratios(options: &Options, sessions: &Sessions) {
    println!(
        "## Hit ratio ({} sessions, {} loads measured after {} to warm up)\n",
        options.sessions, options.accesses, options.accesses
    );
    println!("| pattern | capacity | two generations | exact LRU | loss against LRU | static optimum | entries held (mean, of capacity) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let patterns = [Pattern::Zipf(0.8), Pattern::Zipf(1.0), Pattern::Uniform];
    for (seed, pattern) in patterns.into_iter().enumerate() {
        let draws = pattern.draws(options.sessions, options.accesses * 2, seed as u64 + 1);
        let weights = pattern.weights(options.sessions);
        for percent in CAPACITY_PERCENTS {
            let capacity = options.sessions * percent / 100;
            let (near, held) = near_hits(sessions, capacity, &draws);
            let lru = lru_hits(capacity, &draws);
            let optimum: f64 = weights[..capacity].iter().sum();
            println!(
                "| {} | {percent}% ({capacity}) | {:.1}% | {:.1}% | {:+.1} pt | {:.1}% | {:.0}% |",
                pattern.name(),
                near * 100.0,
                lru * 100.0,
                (near - lru) * 100.0,
                optimum * 100.0,
                held * 100.0,
            );
        }
    }
    println!();
}

/// The loads of `keys` that hit. Inlined into each `measured_*` function:
/// callgrind's toggle would flip back off on a nested match.
#[inline(always)]
fn hits<'a>(
    sessions: &Sessions,
    cache: &NearEntries,
    keys: impl Iterator<Item = &'a usize>,
) -> usize {
    keys.filter(|&&i| black_box(cache.get(&sessions.keys[i], sessions.now())).is_some())
        .count()
}

/// Hits in the current generation.
#[inline(never)]
fn measured_hit_current(sessions: &Sessions, cache: &NearEntries, keys: &[usize]) -> usize {
    hits(sessions, cache, keys.iter())
}

/// Hits in the previous generation: each one promotes its entry.
#[inline(never)]
fn measured_hit_previous(sessions: &Sessions, cache: &NearEntries, keys: &[usize]) -> usize {
    // In reverse: the same body as `measured_hit_current` would be merged
    // with it into one function, and callgrind could not tell them apart.
    hits(sessions, cache, keys.iter().rev())
}

/// Misses and their fills, the generations turning over as they fill.
#[inline(never)]
fn measured_miss_fill(sessions: &Sessions, cache: &NearEntries, keys: &[usize]) -> usize {
    keys.iter().filter(|&&i| !sessions.load(cache, i)).count()
}

/// Runs `f` once and prints its cost per operation.
fn timed(name: &str, ops: usize, f: impl FnOnce() -> usize) {
    let start = Instant::now();
    let counted = f();
    let ns = start.elapsed().as_nanos() as f64 / ops as f64;
    println!("| {name} | {ops} | {counted} | {ns:.0} |");
}

fn costs(options: &Options, sessions: &Sessions) {
    // Enough sessions that the fills never meet a held key.
    let ops = options.cost_ops.min(sessions.keys.len() / 4);
    let capacity = ops * 2;
    println!("## Cost ({ops} operations each; wall time indicative only)\n");
    println!("| operation | operations | counted | ns/op |");
    println!("|---|---:|---:|---:|");
    let cache = NearEntries::new(capacity, NO_AGE_BOUND);
    let first: Vec<usize> = (0..ops).collect();
    first.iter().for_each(|&i| {
        sessions.load(&cache, i);
    });
    timed("hit (current generation)", ops, || {
        measured_hit_current(sessions, &cache, &first)
    });
    // One more fill moves the full generation `first` to the previous one;
    // half a generation more leaves room to promote half of `first` without
    // turning the generations over again.
    (ops..ops + ops / 2).for_each(|i| {
        sessions.load(&cache, i);
    });
    let promoted = &first[..ops / 2];
    timed(
        "hit (previous generation, promoted)",
        promoted.len(),
        || measured_hit_previous(sessions, &cache, promoted),
    );
    let fresh: Vec<usize> = (2 * ops..4 * ops).collect();
    timed("miss + fill (turning generations over)", 2 * ops, || {
        measured_miss_fill(sessions, &cache, &fresh)
    });
    println!();
}

/// The resident set of this process, in bytes.
fn resident() -> f64 {
    Usage::of(std::process::id()).rss_kib as f64 * 1024.0
}

/// Run first, before any other phase has freed heap that a fill would
/// reuse unseen.
fn memory(options: &Options, sessions: &Sessions) {
    let capacity = options.sessions / 2;
    println!("## Memory (resident set, capacity {capacity})\n");
    println!("| moment | entries held | bytes/entry | of which record data |");
    println!("|---|---:|---:|---:|");
    let data = sessions.records[0].data.capacity();
    let draws = Pattern::Zipf(1.0).draws(options.sessions, options.accesses, 7);
    let before = resident();
    let cache = NearEntries::new(capacity, NO_AGE_BOUND);
    // `capacity` fills of distinct keys: both generations full.
    (0..capacity).for_each(|i| {
        sessions.load(&cache, i);
    });
    let row = |moment: &str| {
        let held = cache.len();
        let per = (resident() - before) / held as f64;
        println!("| {moment} | {held} | {per:.0} | {data} |");
    };
    row("both generations just filled");
    draws.iter().for_each(|&i| {
        sessions.load(&cache, i);
    });
    row(&format!(
        "after {} Zipf s=1.0 loads (freed generations kept by the allocator count too)",
        options.accesses
    ));
    println!();
}

fn main() -> Result<(), BoxError> {
    let options = options()?;
    let sessions = Sessions::new(options.sessions)?;
    memory(&options, &sessions);
    hit_ratios(&options, &sessions);
    costs(&options, &sessions);
    Ok(())
}
