//! The near cache's invalidation delay: two stores with their own
//! connections and tracking (two processes, as Redis sees them) on a
//! redis-server of this run; store A saves a session that store B holds in
//! its near cache, and the time from A's save returning to B's copy being
//! dropped is measured, over many writes.
//!
//! ```text
//! cargo run --release -p session-bench --bin invalidation -- [--writes 2000] [--redis-delay-us 500]
//! ```
//!
//! A delay at or below zero (B's copy was gone before A's save returned)
//! counts as zero.
// A measuring tool: its report goes to standard output.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use session_bench::delay::DelayProxy;
use session_bench::redis::RedisServer;
use session_bench::BoxError;
use session_core::store::{Record, SessionStore};
use session_core::time::OffsetDateTime;
use session_core::SessionId;
use session_store_redis::RedisStore;

fn main() {
    if let Err(error) = run() {
        eprintln!("invalidation: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BoxError> {
    let mut writes = 2000usize;
    let mut delay = None;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        match (pair[0].as_str(), pair.get(1)) {
            ("--writes", Some(n)) => writes = n.parse()?,
            ("--redis-delay-us", Some(us)) => delay = Some(Duration::from_micros(us.parse()?)),
            _ => return Err("usage: invalidation [--writes N] [--redis-delay-us MICROS]".into()),
        }
    }
    let server = RedisServer::start()?;
    let proxy = delay
        .map(|d| DelayProxy::start(server.addr(), d))
        .transpose()?;
    let url = format!(
        "redis://{}",
        proxy.as_ref().map_or(server.addr(), DelayProxy::addr)
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let delays = runtime.block_on(measure(&url, writes))?;
    report(&delays, delay);
    Ok(())
}

async fn store(url: &str) -> Result<RedisStore, BoxError> {
    let store = RedisStore::builder()
        .prefix("invalidation:")
        .near_cache(1_000)
        .connect(url)
        .await?;
    let started = Instant::now();
    while !store.near_cache_stats().is_some_and(|s| s.enabled) {
        if started.elapsed() > Duration::from_secs(10) {
            return Err("tracking never came on".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(store)
}

fn invalidations(store: &RedisStore) -> u64 {
    store.near_cache_stats().map_or(0, |s| s.invalidations)
}

fn hits(store: &RedisStore) -> u64 {
    store.near_cache_stats().map_or(0, |s| s.hits)
}

async fn measure(url: &str, writes: usize) -> Result<Vec<Duration>, BoxError> {
    let (a, b) = (store(url).await?, store(url).await?);
    let now = OffsetDateTime::now_utc();
    let hour = session_core::time::Duration::hours(1);
    let mut record = Record::new(SessionId::random(), vec![0], now, now + hour, now + hour);
    a.create(&record).await?;
    let mut delays = Vec::with_capacity(writes);
    for n in 0..writes {
        // B holds the session (a load that is a hit proves it).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let before = hits(&b);
            b.load(&record.id, None).await?;
            if hits(&b) > before {
                break;
            }
            if Instant::now() > deadline {
                return Err("B never cached the session".into());
            }
        }
        let seen = invalidations(&b);
        record.data = n.to_be_bytes().to_vec();
        a.save(&record, None).await?;
        let saved = Instant::now();
        while invalidations(&b) == seen {
            if saved.elapsed() > Duration::from_secs(10) {
                return Err("B never got the invalidation".into());
            }
            tokio::task::yield_now().await;
        }
        delays.push(saved.elapsed());
    }
    Ok(delays)
}

fn report(delays: &[Duration], delay: Option<Duration>) {
    let mut sorted = delays.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let network = delay.map_or("loopback".to_owned(), |d| {
        format!("loopback + {} us each way", d.as_micros())
    });
    println!(
        "invalidation delay over {} writes ({network}): p50 {:.0} us, p99 {:.0} us, max {:.0} us",
        sorted.len(),
        us(at(0.5)),
        us(at(0.99)),
        us(sorted[sorted.len() - 1])
    );
}
