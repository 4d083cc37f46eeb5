//! Micro benchmarks: token generation, the codecs on a typical ~200-byte
//! session, sealing, one request cycle (load, modify, commit) per store
//! through session-core without HTTP, and one request through each axum app
//! in process (ours and the peers, no sockets).
//!
//! `cargo bench -p session-bench` (about two minutes). The Redis cycle uses
//! `REDIS_URL` (default `redis://127.0.0.1:6379`) with a key prefix of its
//! own, removed at the end, and is skipped with a note when Redis is not
//! there.
// `criterion_group!` generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use session_bench::apps::{self, ServeOptions, Variant};
use session_bench::inproc::InProcess;
use session_bench::typical::{typical, TypicalSession};
use session_core::crypto::token;
use session_core::crypto::Purpose;
use session_core::{store::SessionStore, Codec, KeyRing, SessionConfig, SessionManager};
use session_store_cookie::CookieStore;
use session_store_memory::MemoryStore;
use session_store_redis::RedisStore;
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn quick(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
}

fn tokens(c: &mut Criterion) {
    let mut group = c.benchmark_group("token");
    quick(&mut group);
    group.bench_function("random_token", |b| b.iter(token::random_token));
    let t = token::random_token();
    group.bench_function("token_id (SHA-256, the store key)", |b| {
        b.iter(|| token::token_id(black_box(&t)))
    });
    group.finish();
}

fn codecs(c: &mut Criterion) {
    let session = typical();
    let mut group = c.benchmark_group("codec");
    quick(&mut group);
    for codec in [Codec::Bincode, Codec::Json] {
        let name = format!("{codec:?}").to_lowercase();
        let bytes = codec.encode(&session).expect("encodes");
        eprintln!("codec {name}: the typical session is {} bytes", bytes.len());
        group.bench_function(format!("{name} encode"), |b| {
            b.iter(|| codec.encode(black_box(&session)).expect("encodes"))
        });
        group.bench_function(format!("{name} decode"), |b| {
            b.iter(|| {
                codec
                    .decode::<TypicalSession>(black_box(&bytes))
                    .expect("decodes")
            })
        });
    }
    group.finish();
}

fn sealing(c: &mut Criterion) {
    let ring = KeyRing::new([token::random_token()]).expect("a key ring");
    let plaintext = serde_json::to_vec(&typical()).expect("encodes");
    let sealed = ring.seal(Purpose::Cookie, b"_session", &plaintext);
    let mut group = c.benchmark_group("seal");
    quick(&mut group);
    group.bench_function(format!("seal {} bytes", plaintext.len()), |b| {
        b.iter(|| ring.seal(Purpose::Cookie, b"_session", black_box(&plaintext)))
    });
    group.bench_function(format!("open {} bytes", plaintext.len()), |b| {
        b.iter(|| {
            ring.open(Purpose::Cookie, b"_session", black_box(&sealed))
                .expect("opens")
        })
    });
    group.finish();
}

/// A manager over `store` with the default configuration.
fn manager(store: impl SessionStore, keys: KeyRing) -> SessionManager<TypicalSession> {
    let config = SessionConfig::builder()
        .keys(keys)
        .secure(false)
        .store(store)
        .build()
        .expect("a configuration");
    SessionManager::new(config)
}

/// One session holding the typical data; answers its `Cookie` pair.
async fn first_cookie(manager: &SessionManager<TypicalSession>) -> String {
    let request = manager.start_request();
    let session = request.load(std::iter::empty()).await.expect("loads");
    *session.data_mut() = typical();
    let set_cookie = manager
        .finish_request(&request, 200)
        .await
        .expect("commits")
        .expect("a cookie");
    set_cookie.pair()
}

fn cycle_of(
    group: &mut BenchmarkGroup<'_, WallTime>,
    store: &str,
    rt: &Runtime,
    manager: &SessionManager<TypicalSession>,
) {
    let cookie = rt.block_on(first_cookie(manager));
    group.bench_function(format!("{store}: load, modify, commit"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let request = manager.start_request();
                let session = request.load([cookie.as_str()]).await.expect("loads");
                session.data_mut().login_attempts += 1;
                manager
                    .finish_request(&request, 200)
                    .await
                    .expect("commits")
            })
        })
    });
    group.bench_function(format!("{store}: load, read, commit"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let request = manager.start_request();
                let session = request.load([cookie.as_str()]).await.expect("loads");
                black_box(session.data().login_attempts);
                manager
                    .finish_request(&request, 200)
                    .await
                    .expect("commits")
            })
        })
    });
}

fn cycles(c: &mut Criterion) {
    let rt = runtime();
    let keys = KeyRing::new([token::random_token()]).expect("a key ring");
    let mut group = c.benchmark_group("cycle");
    quick(&mut group);
    let memory = rt.block_on(async { manager(MemoryStore::new(), keys.clone()) });
    cycle_of(&mut group, "memory", &rt, &memory);
    let cookie = manager(CookieStore::new(keys.clone()), keys.clone());
    cycle_of(&mut group, "cookie", &rt, &cookie);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("bench:micro:{}:", &token::random_token()[..12]);
    let redis = rt.block_on(RedisStore::builder().prefix(prefix.clone()).connect(&url));
    match redis {
        Ok(store) => {
            let redis = manager(store.clone(), keys);
            cycle_of(&mut group, "redis (loopback)", &rt, &redis);
            if let Err(error) = rt.block_on(store.clear()) {
                eprintln!("could not remove the keys under {prefix}: {error}");
            }
        }
        Err(error) => eprintln!("cycle/redis skipped: no Redis at {url}: {error}"),
    }
    group.finish();
}

/// One request through each axum app in process: the session layer,
/// extractor and handler of each library, without sockets.
fn http_cycles(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("http_in_process");
    quick(&mut group);
    for name in [
        "axum/none",
        "axum/ours/memory",
        "axum/tower-sessions/memory",
        "axum/axum_session/memory",
        "axum/ours/cookie",
    ] {
        let variant: Variant = name.parse().expect("a known app");
        let mut app = rt
            .block_on(async {
                let router = apps::axum_router(variant, &ServeOptions::default()).await?;
                InProcess::new(router, 64, variant.has_sessions()).await
            })
            .expect("the app starts");
        for (scenario, path) in [("counter", "/counter"), ("peek", "/counter/peek")] {
            group.bench_function(format!("{name} {scenario}"), |b| {
                b.iter(|| rt.block_on(app.next(path)).expect("answers"))
            });
        }
    }
    group.finish();
}

criterion_group!(micro, tokens, codecs, sealing, cycles, http_cycles);
criterion_main!(micro);
