//! The benchmark apps do the work they claim, over real loopback sockets, and
//! the load generator measures them. Short: a few users for a fraction of a
//! second.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use session_bench::apps::{self, ServeOptions, Variant};
use session_bench::inproc::InProcess;
use session_bench::loadgen::Users;
use session_bench::redis::RedisAdmin;

/// Starts an app on a thread of its own (it serves until the test process
/// ends) and answers its address.
fn start(name: &str, options: ServeOptions) -> (Variant, SocketAddr) {
    let variant: Variant = name.parse().expect("a known app");
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let failed = tx.clone();
        if let Err(error) = apps::serve(variant, listener, options, move |addr| {
            let _ = tx.send(Ok(addr));
        }) {
            let _ = failed.send(Err(error.to_string()));
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the app starts in time")
        .expect("the app starts");
    (variant, addr)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn our_axum_app_counts_and_the_load_generator_measures_it() {
    let (variant, addr) = start("axum/ours/memory", ServeOptions::default());
    runtime().block_on(async {
        apps::check(addr, variant).await.unwrap();
        let mut users = Users::connect(addr, 4).await.unwrap();
        let counter = users.run("/counter", Duration::from_millis(200), 400).await;
        assert_eq!(counter.errors, 0, "{:?}", counter.first_error);
        assert!(counter.requests > 0 && counter.requests <= 400);
        // Every write sends the cookie; the jar keeps each user on one session.
        assert_eq!(counter.set_cookies, counter.requests);
        let summary = counter.summary();
        assert!(summary.rps > 0.0 && summary.p50_ms <= summary.p99_ms);

        // The request cap holds however long the phase may run.
        let peek = users.run("/counter/peek", Duration::from_secs(5), 40).await;
        assert_eq!((peek.requests, peek.errors), (40, 0));
        assert!(peek.elapsed < Duration::from_secs(5));
    });
}

#[test]
fn every_memory_and_cookie_app_does_the_same_work() {
    for name in [
        "axum/none",
        "axum/tower-sessions/memory",
        "axum/axum_session/memory",
        "axum/ours/cookie",
        "axum/ours-onwrite/memory",
        "axum/ours-onwrite/cookie",
        "actix/none",
        "actix/ours/memory",
        "actix/ours/cookie",
        "actix/ours-onwrite/memory",
        "actix/ours-onwrite/cookie",
        "actix/actix-session/cookie",
    ] {
        let (variant, addr) = start(name, ServeOptions::default());
        runtime()
            .block_on(apps::check(addr, variant))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn a_session_is_kept_in_process_too() {
    runtime().block_on(async {
        let variant: Variant = "axum/ours/memory".parse().unwrap();
        let router = apps::axum_router(variant, &ServeOptions::default())
            .await
            .unwrap();
        let mut app = InProcess::new(router, 2, true).await.unwrap();
        assert_eq!(app.request(0, "/counter").await.unwrap().count, 2);
        assert_eq!(app.request(0, "/counter/peek").await.unwrap().count, 2);
        assert_eq!(app.request(1, "/counter/peek").await.unwrap().count, 1);
    });
}

/// `ours-onwrite` sends the cookie only when the session is written, as the
/// peers do; so does `ours` (the default, sliding expiry) for reads that
/// follow a write within the refresh slack (a tenth of the idle timeout),
/// as these do: the idle expiry would move by less than the slack, so
/// nothing is refreshed.
#[test]
fn ours_onwrite_sends_the_cookie_only_on_writes() {
    for name in [
        "axum/ours/memory",
        "axum/ours/cookie",
        "actix/ours/cookie",
        "axum/ours-onwrite/memory",
        "axum/ours-onwrite/cookie",
        "actix/ours-onwrite/memory",
        "actix/ours-onwrite/cookie",
    ] {
        let (_, addr) = start(name, ServeOptions::default());
        runtime().block_on(async {
            let mut users = Users::connect(addr, 3).await.unwrap();
            let writes = users.run("/counter", Duration::from_secs(5), 30).await;
            assert_eq!((writes.requests, writes.errors), (30, 0), "{name}");
            assert_eq!(writes.set_cookies, 30, "{name}: a write sends the cookie");
            let reads = users.run("/counter/peek", Duration::from_secs(5), 30).await;
            assert_eq!((reads.requests, reads.errors), (30, 0), "{name}");
            assert_eq!(reads.set_cookies, 0, "{name}: Set-Cookie on reads");
        });
    }
}

#[test]
fn actix_apps_run_in_process_too() {
    let system = actix_web::rt::System::new();
    system.block_on(async {
        for name in ["actix/ours/memory", "actix/ours-onwrite/cookie"] {
            let variant: Variant = name.parse().unwrap();
            let mut app = apps::actix_in_process(variant, &ServeOptions::default(), 2)
                .await
                .unwrap();
            // every user has counted once already
            assert_eq!(app.next("/counter").await.unwrap().count, 2, "{name}");
            assert_eq!(app.next("/counter/peek").await.unwrap().count, 1, "{name}");
            assert_eq!(app.next("/counter/peek").await.unwrap().count, 2, "{name}");
        }
        let none: Variant = "actix/none".parse().unwrap();
        let mut app = apps::actix_in_process(none, &ServeOptions::default(), 1)
            .await
            .unwrap();
        assert_eq!(app.next("/counter/peek").await.unwrap().count, 0);
        let peer: Variant = "actix/actix-session/cookie".parse().unwrap();
        let mut app = apps::actix_in_process(peer, &ServeOptions::default(), 1)
            .await
            .unwrap();
        assert_eq!(app.next("/counter").await.unwrap().count, 2);
    });
}

/// Our Redis apps and actix-session's, on the shared Redis under a prefix of
/// their own, removed afterwards. (tower-sessions-redis-store cannot prefix
/// its keys, so it runs only against the benchmark's private Redis.)
#[test]
fn redis_apps_do_the_same_work() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let Ok(redis_addr) = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse::<SocketAddr>()
    else {
        eprintln!("skipped: REDIS_URL {url} is not host:port");
        return;
    };
    let Ok(mut admin) = RedisAdmin::connect(redis_addr) else {
        eprintln!("skipped: no Redis at {url}");
        return;
    };
    for name in [
        "axum/ours/redis",
        "axum/ours-onwrite/redis",
        "axum/ours-serialize/redis",
        "axum/ours-serialize-ro/redis",
        "actix/ours/redis",
        "actix/ours-onwrite/redis",
        "actix/actix-session/redis",
    ] {
        let prefix = format!(
            "bench:test:{}:",
            &session_core::crypto::token::random_token()[..12]
        );
        let options = ServeOptions {
            redis_url: Some(url.clone()),
            redis_prefix: prefix.clone(),
            ..ServeOptions::default()
        };
        let (variant, addr) = start(name, options);
        runtime()
            .block_on(apps::check(addr, variant))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            admin.delete_prefix(&prefix).unwrap() >= 1,
            "{name} stored nothing under {prefix}"
        );
    }
}
