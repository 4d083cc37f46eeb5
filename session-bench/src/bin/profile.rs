//! A fixed number of request cycles of one app (axum or actix-web) in
//! process, for `valgrind --tool=callgrind` (instruction counts are
//! repeatable where wall time on a shared 2-core machine is not):
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect=profile::measured \
//!     --toggle-collect=profile::measured_actix \
//!     target/release/profile axum/ours/memory counter 2000 [--redis URL]
//! ```
//!
//! Only the `measured` functions' cost is collected: the set-up (building
//! the app, giving every user a session) is left out. Divide the total by
//! the iterations for instructions per request. An axum app is called as a
//! tower service on a tokio current-thread runtime, an actix-web app as the
//! service `actix_web::test::init_service` makes, on an actix system; both
//! without sockets or HTTP parsing, so the figures compare apps on the same
//! framework, not the two frameworks.

use std::time::Instant;

use session_bench::apps::Framework;
use session_bench::apps::{self, ServeOptions, Variant};
use session_bench::inproc::{Driver, InProcess};
use session_bench::BoxError;

fn main() {
    if let Err(error) = run() {
        eprintln!("profile: {error}");
        std::process::exit(1);
    }
}

const USAGE: &str = "usage: profile APP (counter|peek) ITERATIONS [--users N] [--redis URL]";

fn run() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [app, scenario, iterations, rest @ ..] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let variant: Variant = app.parse()?;
    let path = match scenario.as_str() {
        "counter" => "/counter",
        "peek" => "/counter/peek",
        _ => return Err(USAGE.into()),
    };
    let iterations: usize = iterations.parse()?;
    let mut users = 64;
    let mut options = ServeOptions {
        redis_prefix: format!(
            "bench:profile:{}:",
            &session_core::crypto::token::random_token()[..8]
        ),
        ..ServeOptions::default()
    };
    let mut flags = rest.iter();
    while let Some(flag) = flags.next() {
        let value = flags.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--users" => users = value.parse()?,
            "--redis" => options.redis_url = Some(value.clone()),
            _ => return Err(USAGE.into()),
        }
    }
    let start = Instant::now();
    match variant.framework {
        Framework::Axum => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let mut app = runtime.block_on(async {
                let router = apps::axum_router(variant, &options).await?;
                InProcess::new(router, users, variant.has_sessions()).await
            })?;
            measured(&runtime, &mut app, path, iterations)?;
        }
        Framework::Actix => {
            let system = actix_web::rt::System::new();
            let mut app = system.block_on(apps::actix_in_process(variant, &options, users))?;
            measured_actix(&system, app.as_mut(), path, iterations)?;
        }
    }
    let elapsed = start.elapsed();
    eprintln!(
        "{variant} {scenario}: {iterations} requests in {elapsed:?} ({:.2} us/request)",
        elapsed.as_secs_f64() * 1e6 / iterations as f64
    );
    if let Some(url) = &options.redis_url {
        cleanup(url, &options.redis_prefix)?;
    }
    Ok(())
}

/// The measured loop; `#[inline(never)]` so callgrind can toggle on it.
#[inline(never)]
fn measured(
    runtime: &tokio::runtime::Runtime,
    app: &mut InProcess,
    path: &str,
    iterations: usize,
) -> Result<(), BoxError> {
    runtime.block_on(async {
        for _ in 0..iterations {
            app.next(path).await?;
        }
        Ok(())
    })
}

/// The measured loop of an actix-web app; `#[inline(never)]` so callgrind
/// can toggle on it.
#[inline(never)]
fn measured_actix(
    system: &actix_web::rt::SystemRunner,
    app: &mut dyn Driver,
    path: &str,
    iterations: usize,
) -> Result<(), BoxError> {
    system.block_on(async {
        for _ in 0..iterations {
            app.next(path).await?;
        }
        Ok(())
    })
}

fn cleanup(url: &str, prefix: &str) -> Result<(), BoxError> {
    let addr = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()?;
    session_bench::redis::RedisAdmin::connect(addr)?.delete_prefix(prefix)?;
    Ok(())
}
