//! The cost of `Concurrency::Serialize` against last-write-wins, measured in
//! one run: `ours` and `ours-serialize` (axum, memory store) on `GET
//! /counter` and `GET /counter/peek`, with 256 users on distinct sessions
//! and 16 users sharing one session (tabs of one browser). For the shared
//! counter it also tells how many acknowledged increments the session kept.
//!
//! ```text
//! cargo run --release -p session-bench --bin serialize_cost -- [--duration 3] [--runs 3]
//! ```
//!
//! Each app runs on a current-thread runtime of its own thread (as the load
//! benchmark's children do); the load generator runs on another.

use std::net::TcpListener;
use std::time::Duration;

use session_bench::apps::{self, CountBody, Framework, Library, ServeOptions, Store, Variant};
use session_bench::loadgen::Users;
use session_bench::BoxError;

/// One measured case.
struct Case {
    library: Library,
    path: &'static str,
    users: usize,
    shared: bool,
}

fn main() {
    if let Err(error) = run() {
        eprintln!("serialize_cost: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BoxError> {
    let (duration, runs) = options()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut out = String::from(
        "| app | route | users | sessions | req/s | p99 ms | errors | kept/acknowledged |\n|---|---|---:|---|---:|---:|---:|---|\n",
    );
    for case in cases() {
        for _ in 0..runs {
            let row = runtime.block_on(measure(&case, duration))?;
            out.push_str(&row);
            out.push('\n');
        }
    }
    let mut stdout = std::io::stdout().lock();
    std::io::Write::write_all(&mut stdout, out.as_bytes())?;
    Ok(())
}

fn options() -> Result<(Duration, usize), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut duration = Duration::from_secs(3);
    let mut runs = 3;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--duration" => duration = Duration::from_secs_f64(value.parse()?),
            "--runs" => runs = value.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    Ok((duration, runs))
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (users, shared) in [(256, false), (16, true)] {
        for path in ["/counter", "/counter/peek"] {
            for library in [Library::Ours, Library::OursSerialize] {
                cases.push(Case {
                    library,
                    path,
                    users,
                    shared,
                });
            }
        }
    }
    cases
}

/// Starts the app on a thread of its own, runs the case, answers its row.
async fn measure(case: &Case, duration: Duration) -> Result<String, BoxError> {
    let variant = Variant {
        framework: Framework::Axum,
        library: case.library,
        store: Store::Memory,
    };
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (ready, started) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outcome = apps::serve(variant, listener, ServeOptions::default(), move |_| {
            let _ = ready.send(());
        });
        if let Err(error) = outcome {
            eprintln!("serialize_cost: {variant}: {error}");
        }
    });
    started.recv_timeout(Duration::from_secs(10))?;

    let mut users = Users::connect(addr, case.users).await?;
    // Every user gets a session (one increment each), then, for the shared
    // case, they all take the first user's.
    users
        .run("/counter", Duration::from_millis(300), case.users as u64)
        .await;
    if case.shared {
        users.share_first_session();
    }
    let before = count(&mut users).await?;
    let phase = users.run(case.path, duration, u64::MAX).await;
    let after = count(&mut users).await?;
    let summary = phase.summary();
    let acknowledged = phase.requests - phase.errors;
    let kept = if case.shared && case.path == "/counter" {
        format!("{} / {acknowledged}", after.saturating_sub(before))
    } else {
        "-".to_owned()
    };
    Ok(format!(
        "| {variant} | {} | {} | {} | {:.0} | {:.2} | {} | {kept} |",
        case.path,
        case.users,
        if case.shared {
            "one shared"
        } else {
            "one each"
        },
        summary.rps,
        summary.p99_ms,
        phase.errors,
    ))
}

/// The first user's count, read without changing it.
async fn count(users: &mut Users) -> Result<u64, BoxError> {
    let answer = users.first_get("/counter/peek").await?;
    let body: CountBody = serde_json::from_slice(&answer.body)?;
    Ok(body.count)
}
