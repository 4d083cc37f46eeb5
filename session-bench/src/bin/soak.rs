//! The soak test: the reference demo under steady load for minutes while
//! its store is killed and started again every minute, in two phases
//! (Redis, then PostgreSQL), each half of the run.
//!
//! ```text
//! cargo build --release -p examples --bins
//! cargo run --release -p session-bench --bin soak -- [--minutes 10] [--users 300] [--restart-every 60] [--demo-dir target/release]
//! ```
//!
//! Per phase, four demo processes share one store of the run's own: an
//! axum-demo and an actix-demo under `last-write-wins`, where each virtual
//! user has a session of its own and alternates between the two; and an
//! axum-demo and an actix-demo under `serialize`, where groups of ten users
//! share one session and send `GET /counter` in parallel. Users do the
//! demo's flows (counter, peek, login, me, flash) with a short think time.
//! It reports requests and answers by status, the time each restart took
//! to heal (from the store answering again to every demo answering `200`),
//! the acknowledged writes lost (a counter below the increments answered
//! `200`), and each demo's resident memory and open file descriptors,
//! sampled every 10 s from the end of the warm-up to the end of the phase:
//! the first sample, the largest, the last and the slope over the second
//! half (a plateau's is near zero, a leak's is not). The samples are also
//! written to `soak-STORE-usage.csv` in the temporary directory. See
//! RELIABILITY.md.
// A measuring tool: its report goes to standard output.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use session_bench::soak::{Demo, StoreKind, StoreServer, Trend, Usage};
use session_bench::BoxError;

/// How long the store stays down at each restart.
const DOWN_FOR: Duration = Duration::from_secs(3);
/// The time between two requests of one user (plus up to half of it).
const THINK: Duration = Duration::from_millis(200);
/// Users per shared session under `serialize`.
const GROUP: usize = 10;
/// Before the first measurement of memory and descriptors: pools filled,
/// caches warm.
const WARM_UP: Duration = Duration::from_secs(20);
/// The time between two samples of each demo's memory and descriptors.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const SECRET: &str = "soak-test-secret-0123456789abcdefghijklmn";

struct Args {
    minutes: f64,
    users: usize,
    demo_dir: PathBuf,
    /// Seconds between two kills of the store (60 by default).
    restart_every: u64,
}

fn args() -> Result<Args, BoxError> {
    let exe = std::env::current_exe()?;
    let mut parsed = Args {
        minutes: 10.0,
        users: 300,
        restart_every: 60,
        demo_dir: exe.parent().ok_or("no directory of the binary")?.to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--minutes" => parsed.minutes = value.parse()?,
            "--users" => parsed.users = value.parse()?,
            "--demo-dir" => parsed.demo_dir = value.into(),
            "--restart-every" => parsed.restart_every = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if parsed.minutes <= 0.0 || parsed.users < 2 * GROUP || parsed.restart_every == 0 {
        return Err(format!(
            "--minutes must be positive and --users at least {}",
            2 * GROUP
        )
        .into());
    }
    Ok(parsed)
}

fn main() {
    let result = args().and_then(|args| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(run(args))
    });
    if let Err(error) = result {
        eprintln!("soak: {error}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), BoxError> {
    let phase = Duration::from_secs_f64(args.minutes * 60.0 / 2.0);
    println!(
        "# Soak: {} min, {} users, store killed every {} s\n",
        args.minutes, args.users, args.restart_every
    );
    for kind in [StoreKind::Redis, StoreKind::Postgres] {
        let report = run_phase(&args, kind, phase).await?;
        report.print(kind);
    }
    Ok(())
}

/// What every user records, shared.
#[derive(Default)]
struct Tally {
    statuses: Mutex<BTreeMap<String, u64>>,
    requests: AtomicU64,
    acked_lww: AtomicU64,
    lost_lww: AtomicU64,
    /// Sessions reset right after a login whose answer was lost: the
    /// rotation may have happened without the client learning the new
    /// token (an unacknowledged write, not a lost acknowledged one).
    reset_after_unanswered_login: AtomicU64,
    acked_shared: AtomicU64,
    lost_shared: AtomicU64,
    /// The last `200` each demo answered, by demo index.
    last_ok: Mutex<Vec<Option<Instant>>>,
}

impl Tally {
    fn count(&self, key: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        *statuses.entry(key.to_owned()).or_default() += 1;
    }

    fn ok(&self, demo: usize) {
        let mut last = self.last_ok.lock().unwrap_or_else(|p| p.into_inner());
        last[demo] = Some(Instant::now());
    }

    fn all_ok_since(&self, since: Instant) -> bool {
        let last = self.last_ok.lock().unwrap_or_else(|p| p.into_inner());
        last.iter().all(|t| t.is_some_and(|t| t > since))
    }
}

struct PhaseReport {
    tally: Arc<Tally>,
    recoveries: Vec<Duration>,
    /// Per demo: its name and its samples (seconds into the phase).
    usage: Vec<(String, Vec<(f64, Usage)>)>,
    duration: Duration,
}

/// Samples every demo's usage every [`SAMPLE_EVERY`], from the end of the
/// warm-up until `deadline`.
async fn sample_usage(
    pids: Vec<u32>,
    started: Instant,
    deadline: Instant,
) -> Vec<Vec<(f64, Usage)>> {
    let mut samples = vec![Vec::new(); pids.len()];
    let mut next = started + WARM_UP;
    while next <= deadline {
        tokio::time::sleep_until(next.into()).await;
        take_sample(&pids, started, &mut samples);
        next += SAMPLE_EVERY;
    }
    samples
}

fn take_sample(pids: &[u32], started: Instant, samples: &mut [Vec<(f64, Usage)>]) {
    let at = started.elapsed().as_secs_f64();
    for (pid, series) in pids.iter().zip(samples.iter_mut()) {
        series.push((at, Usage::of(*pid)));
    }
}

async fn run_phase(
    args: &Args,
    kind: StoreKind,
    length: Duration,
) -> Result<PhaseReport, BoxError> {
    let mut store = StoreServer::start(kind)?;
    let logs = std::env::temp_dir();
    let mut demos = Vec::new();
    for (binary, policy) in [
        ("axum-demo", "last-write-wins"),
        ("actix-demo", "last-write-wins"),
        ("axum-demo", "serialize"),
        ("actix-demo", "serialize"),
    ] {
        let env = [
            ("SESSION_STORE", kind.name().to_owned()),
            (store.url_var(), store.url()),
            ("SESSION_SECRET", SECRET.to_owned()),
            ("SESSION_COOKIE_SECURE", "false".to_owned()),
            ("SESSION_NAMESPACE", "soak".to_owned()),
            ("SESSION_CONCURRENCY", policy.to_owned()),
        ];
        let name = format!("{binary} ({policy})");
        let log = logs.join(format!("soak-{}-{}-{policy}.log", kind.name(), binary));
        demos.push(Demo::start(&name, &args.demo_dir.join(binary), &env, &log)?);
    }
    let bases: Vec<String> = demos.iter().map(|d| d.base.clone()).collect();
    let tally = Arc::new(Tally {
        last_ok: Mutex::new(vec![None; demos.len()]),
        ..Tally::default()
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let started = Instant::now();
    let deadline = started + length;
    let shared_users = (args.users / 5 / GROUP).max(1) * GROUP;
    let mut tasks = Vec::new();
    for user in 0..args.users - shared_users {
        let ctx = Ctx::new(&client, &bases, &tally, user);
        tasks.push(tokio::spawn(own_session_user(ctx, deadline)));
    }
    for group in 0..shared_users / GROUP {
        let ctx = Ctx::new(&client, &bases, &tally, group);
        tasks.push(tokio::spawn(shared_group(ctx, deadline)));
    }

    let pids: Vec<u32> = demos.iter().map(Demo::pid).collect();
    let sampler = tokio::spawn(sample_usage(pids.clone(), started, deadline));
    // The store dies every minute.
    let mut recoveries = Vec::new();
    let every = Duration::from_secs(args.restart_every);
    let mut next_kill = started + every;
    while next_kill + DOWN_FOR + Duration::from_secs(20) < deadline {
        tokio::time::sleep_until(next_kill.into()).await;
        store.kill();
        tokio::time::sleep(DOWN_FOR).await;
        store.restart()?;
        let up = Instant::now();
        let healed = loop {
            if tally.all_ok_since(up) {
                break up.elapsed();
            }
            if up.elapsed() > Duration::from_secs(30) {
                break Duration::MAX;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        recoveries.push(healed);
        next_kill += every;
    }
    for task in tasks {
        task.await?;
    }
    let mut samples = sampler.await?;
    // The last sample: after every user's final check.
    take_sample(&pids, started, &mut samples);
    let usage = demos
        .iter()
        .zip(samples)
        .map(|(demo, series)| (demo.name.clone(), series))
        .collect();
    Ok(PhaseReport {
        tally,
        recoveries,
        usage,
        duration: started.elapsed(),
    })
}

/// One user's view of the run.
struct Ctx {
    client: reqwest::Client,
    bases: Vec<String>,
    tally: Arc<Tally>,
    seed: u64,
}

impl Ctx {
    fn new(client: &reqwest::Client, bases: &[String], tally: &Arc<Tally>, n: usize) -> Self {
        Ctx {
            client: client.clone(),
            bases: bases.to_vec(),
            tally: Arc::clone(tally),
            seed: 0x9e37_79b9_7f4a_7c15 ^ (n as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d),
        }
    }

    /// A think time of [`THINK`] plus up to half of it (xorshift).
    async fn think(&mut self) {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let extra = self.seed % (THINK.as_millis() as u64 / 2 + 1);
        tokio::time::sleep(THINK + Duration::from_millis(extra)).await;
    }

    /// One request to demo `demo`; `None` for a transport failure. The
    /// status is tallied; the session cookie, if the answer sets one, is
    /// returned with the body.
    async fn send(
        &self,
        demo: usize,
        method: reqwest::Method,
        path: &str,
        cookie: Option<&str>,
        body: Option<&str>,
    ) -> Option<Answer> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.bases[demo]));
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("_session={cookie}"));
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(_) => {
                self.tally.count("transport error");
                return None;
            }
        };
        let status = response.status().as_u16();
        let set_cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("_session="))
            .map(|v| v.split(';').next().unwrap_or_default().to_owned());
        let Ok(body) = response.text().await else {
            self.tally.count("transport error");
            return None;
        };
        self.tally.count(&status.to_string());
        if status < 500 {
            self.tally.ok(demo);
        }
        Some(Answer {
            status,
            set_cookie,
            body,
        })
    }
}

struct Answer {
    status: u16,
    set_cookie: Option<String>,
    body: String,
}

impl Answer {
    fn count(&self) -> Option<u64> {
        let value: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        value.get("count")?.as_u64()
    }
}

/// A user with a session of its own, alternating between the two
/// `last-write-wins` demos. It knows the count its session must hold: the
/// increments answered `200`; a count below that is a lost write.
async fn own_session_user(mut ctx: Ctx, deadline: Instant) {
    let mut cookie: Option<String> = None;
    let mut acked = 0u64;
    let mut login_unanswered = false;
    let mut n = 0u64;
    while Instant::now() < deadline {
        let demo = (n % 2) as usize;
        let get = reqwest::Method::GET;
        let post = reqwest::Method::POST;
        let step = n % 20;
        let answer = match step {
            0..=14 => {
                ctx.send(demo, get, "/counter", cookie.as_deref(), None)
                    .await
            }
            15 => {
                ctx.send(demo, get, "/counter/peek", cookie.as_deref(), None)
                    .await
            }
            16 => {
                let body = r#"{"username":"alice","password":"wonderland"}"#;
                let answer = ctx
                    .send(demo, post, "/login", cookie.as_deref(), Some(body))
                    .await;
                login_unanswered = answer.as_ref().is_none_or(|a| a.status != 200);
                answer
            }
            17 => ctx.send(demo, get, "/me", cookie.as_deref(), None).await,
            _ => {
                let body = r#"{"message":"soak"}"#;
                ctx.send(demo, post, "/flash", cookie.as_deref(), Some(body))
                    .await
            }
        };
        n += 1;
        if let Some(answer) = answer {
            if let Some(set) = &answer.set_cookie {
                cookie = Some(set.clone());
            }
            let counted = answer.status == 200 && step <= 15;
            if let (true, Some(count)) = (counted, answer.count()) {
                // A `GET /counter` answered `count`: it must be past every
                // acknowledged increment (`peek` must equal them).
                let expected = if step <= 14 { acked + 1 } else { acked };
                if count < expected {
                    let missing = expected - count;
                    if login_unanswered {
                        ctx.tally
                            .reset_after_unanswered_login
                            .fetch_add(1, Ordering::Relaxed);
                    } else {
                        ctx.tally.lost_lww.fetch_add(missing, Ordering::Relaxed);
                    }
                }
                if step <= 14 {
                    ctx.tally.acked_lww.fetch_add(1, Ordering::Relaxed);
                }
                acked = count;
                login_unanswered = false;
            }
        }
        ctx.think().await;
    }
    final_check(&ctx, 0, cookie.as_deref(), acked, &ctx.tally.lost_lww).await;
}

/// Ten users sharing one session on the two `serialize` demos, in
/// parallel: the final count must reach the increments answered `200`.
async fn shared_group(ctx: Ctx, deadline: Instant) {
    // The session is made first, on a working store.
    let cookie = loop {
        if let Some(answer) = ctx
            .send(2, reqwest::Method::GET, "/counter", None, None)
            .await
        {
            if let (200, Some(cookie)) = (answer.status, answer.set_cookie) {
                break cookie;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let acked = Arc::new(AtomicU64::new(1));
    ctx.tally.acked_shared.fetch_add(1, Ordering::Relaxed);
    let mut members = Vec::new();
    for member in 0..GROUP {
        let mut me = Ctx {
            client: ctx.client.clone(),
            bases: ctx.bases.clone(),
            tally: Arc::clone(&ctx.tally),
            seed: ctx.seed ^ (member as u64 + 1).wrapping_mul(0x9e37_79b9),
        };
        let cookie = cookie.clone();
        let acked = Arc::clone(&acked);
        members.push(tokio::spawn(async move {
            let mut n = member as u64;
            while Instant::now() < deadline {
                let demo = 2 + (n % 2) as usize;
                n += 1;
                let path = "/counter";
                let answer = me
                    .send(demo, reqwest::Method::GET, path, Some(&cookie), None)
                    .await;
                if let Some(answer) = answer {
                    if answer.status == 200 {
                        acked.fetch_add(1, Ordering::Relaxed);
                        me.tally.acked_shared.fetch_add(1, Ordering::Relaxed);
                        if answer.set_cookie.as_deref().is_some_and(|c| c != cookie) {
                            // A fresh session: the shared one was not found.
                            me.tally.count("shared session replaced");
                        }
                    }
                }
                me.think().await;
            }
        }));
    }
    for member in members {
        let _ = member.await;
    }
    let acked = acked.load(Ordering::Relaxed);
    final_check(&ctx, 2, Some(&cookie), acked, &ctx.tally.lost_shared).await;
}

/// After the run (the store is up): the session's count, read with
/// `GET /counter/peek` (retried for a few seconds), against `acked`.
async fn final_check(ctx: &Ctx, demo: usize, cookie: Option<&str>, acked: u64, lost: &AtomicU64) {
    let Some(cookie) = cookie else { return };
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        let get = reqwest::Method::GET;
        let answer = ctx
            .send(demo, get, "/counter/peek", Some(cookie), None)
            .await;
        if let Some(count) = answer.filter(|a| a.status == 200).and_then(|a| a.count()) {
            lost.fetch_add(acked.saturating_sub(count), Ordering::Relaxed);
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("soak: a final check never got an answer");
}

impl PhaseReport {
    fn print(&self, kind: StoreKind) {
        let t = &self.tally;
        let secs = self.duration.as_secs_f64();
        let requests = t.requests.load(Ordering::Relaxed);
        println!("## {} phase ({:.0} s)\n", kind.name(), secs);
        println!(
            "- requests: {requests} ({:.0}/s)",
            requests as f64 / secs.max(1.0)
        );
        let statuses = t.statuses.lock().unwrap_or_else(|p| p.into_inner());
        let listed: Vec<String> = statuses.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!("- answers: {}", listed.join(", "));
        let healed: Vec<String> = self
            .recoveries
            .iter()
            .map(|d| match *d {
                Duration::MAX => "not healed in 30 s".to_owned(),
                d => format!("{} ms", d.as_millis()),
            })
            .collect();
        println!(
            "- restarts: {}; healed after: {}",
            self.recoveries.len(),
            healed.join(", ")
        );
        println!(
            "- own sessions (last-write-wins): {} increments answered 200, {} lost; {} sessions reset after a login whose answer was lost",
            t.acked_lww.load(Ordering::Relaxed),
            t.lost_lww.load(Ordering::Relaxed),
            t.reset_after_unanswered_login.load(Ordering::Relaxed),
        );
        println!(
            "- shared sessions (serialize): {} increments answered 200, {} lost",
            t.acked_shared.load(Ordering::Relaxed),
            t.lost_shared.load(Ordering::Relaxed),
        );
        println!(
            "\n| demo | RSS (MiB): first, max, last | RSS slope, second half (MiB/min) | fds: first, max, last | fds slope, second half (/min) |"
        );
        println!("|---|---|---|---|---|");
        for (name, series) in &self.usage {
            let rss: Vec<(f64, f64)> = series
                .iter()
                .map(|(t, u)| (*t, u.rss_kib as f64 / 1024.0))
                .collect();
            let fds: Vec<(f64, f64)> = series.iter().map(|(t, u)| (*t, u.fds as f64)).collect();
            let (Some(rss), Some(fds)) = (Trend::of(&rss), Trend::of(&fds)) else {
                continue;
            };
            println!(
                "| {name} | {:.1}, {:.1}, {:.1} | {:+.2} | {:.0}, {:.0}, {:.0} | {:+.1} |",
                rss.first,
                rss.max,
                rss.last,
                rss.slope_per_min,
                fds.first,
                fds.max,
                fds.last,
                fds.slope_per_min
            );
        }
        let samples = self.usage.first().map_or(0, |(_, s)| s.len());
        println!(
            "\n{samples} samples per demo, every {} s from {} s into the phase; the slope is the least-squares fit over the second half of that span.",
            SAMPLE_EVERY.as_secs(),
            WARM_UP.as_secs()
        );
        match self.write_csv(kind) {
            Ok(path) => println!("Samples: {}\n", path.display()),
            Err(error) => println!("Samples not written: {error}\n"),
        }
    }

    /// Writes every sample (`seconds,demo,rss_kib,fds`) to
    /// `soak-STORE-usage.csv` in the temporary directory.
    fn write_csv(&self, kind: StoreKind) -> std::io::Result<PathBuf> {
        use std::fmt::Write as _;
        let mut csv = String::from("seconds,demo,rss_kib,fds\n");
        for (name, series) in &self.usage {
            for (t, usage) in series {
                let _ = writeln!(csv, "{t:.1},{name},{},{}", usage.rss_kib, usage.fds);
            }
        }
        let path = std::env::temp_dir().join(format!("soak-{}-usage.csv", kind.name()));
        std::fs::write(&path, csv)?;
        Ok(path)
    }
}
