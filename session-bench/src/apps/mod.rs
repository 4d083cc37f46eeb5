//! The equivalent apps: the reference app's `GET /counter` (increments
//! `count` in the session, answers `{"count": N}`) and `GET /counter/peek`
//! (answers it without changing the session), built with each library on its
//! framework and each store it has, plus the same routes without sessions
//! (the ceiling, which answers `{"count": 1}` and `{"count": 0}`).
//!
//! Every app stores the same tiny session, `{count: u64}`: ours as the typed
//! [`Counter`], the peers with their insert API under the key `"count"`.
//! Each library keeps its own defaults for cookies and expiry (BENCHMARKS.md
//! lists what each does per request); only the secret is set, random per
//! process. Ours runs twice per store: `ours` with its defaults (a read
//! extends the idle expiry, with a touch of the store and the cookie sent
//! again, only once it would move by the refresh fraction of the idle
//! timeout) and `ours-onwrite` with `IdleRefresh::OnWrite`, which does the
//! peers' default work (nothing written or sent on a read).

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::inproc::Driver;
use crate::loadgen::VirtualUser;
use crate::BoxError;

mod actix_session_app;
mod axum_session_app;
mod ours;
mod plain;
mod tower_sessions_app;

/// Our session type in the benchmark apps.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Counter {
    /// The count.
    pub count: u64,
}

/// The JSON body every app answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountBody {
    /// The count.
    pub count: u64,
}

/// The web framework of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framework {
    /// axum 0.8 on one tokio current-thread runtime.
    Axum,
    /// actix-web 4 with one worker.
    Actix,
}

/// The session library of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Library {
    /// No sessions at all: the ceiling.
    None,
    /// This workspace (session-axum, session-actix), default configuration.
    Ours,
    /// This workspace with `IdleRefresh::OnWrite`: reads neither extend the
    /// idle expiry nor send `Set-Cookie`, like the peers' defaults.
    OursOnWrite,
    /// This workspace with `Concurrency::Serialize`: requests on one
    /// session take its lock from load to commit.
    OursSerialize,
    /// As [`Library::OursSerialize`], with the peek route on the lock-free
    /// `ReadOnlySession` extractor (the recommendation for routes that only
    /// read); the counter route is the same.
    OursSerializeReadOnly,
    /// This workspace, default configuration, with the Redis store's near
    /// cache on (Redis only).
    OursNearCache,
    /// tower-sessions (axum).
    TowerSessions,
    /// actix-session (actix-web).
    ActixSession,
    /// axum_session (axum).
    AxumSession,
}

/// Where the sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Store {
    /// No store (the ceiling).
    None,
    /// In the server's memory.
    Memory,
    /// In Redis.
    Redis,
    /// In the cookie itself, sealed.
    Cookie,
    /// In a PostgreSQL table (ours only, run by `lock_wakeups`).
    Postgres,
    /// In Redis through redis-rs instead of fred (ours only, named only:
    /// `session_bench::redis_rs_store`, a measurement of the client's share).
    RedisRs,
    /// The same, its leases taken by two commands written together instead
    /// of a script ([`LockStep::Pipeline`](crate::redis_rs_store::LockStep)).
    RedisRsPipelined,
}

/// One app: a library on a framework with a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Variant {
    /// The framework.
    pub framework: Framework,
    /// The library.
    pub library: Library,
    /// The store.
    pub store: Store,
}

impl Framework {
    /// The name used in variant names.
    pub fn name(self) -> &'static str {
        match self {
            Framework::Axum => "axum",
            Framework::Actix => "actix",
        }
    }
}

impl Library {
    /// Whether this is one of our configurations (`ours`, `ours-onwrite`):
    /// the apps that the ratios compare with the others.
    pub fn is_ours(self) -> bool {
        matches!(
            self,
            Library::Ours
                | Library::OursOnWrite
                | Library::OursSerialize
                | Library::OursSerializeReadOnly
                | Library::OursNearCache
        )
    }

    /// Whether this is one of our configurations under
    /// `Concurrency::Serialize`.
    pub fn serializes(self) -> bool {
        matches!(
            self,
            Library::OursSerialize | Library::OursSerializeReadOnly
        )
    }

    /// The name used in variant names.
    pub fn name(self) -> &'static str {
        match self {
            Library::None => "none",
            Library::Ours => "ours",
            Library::OursOnWrite => "ours-onwrite",
            Library::OursSerialize => "ours-serialize",
            Library::OursSerializeReadOnly => "ours-serialize-ro",
            Library::OursNearCache => "ours-nearcache",
            Library::TowerSessions => "tower-sessions",
            Library::ActixSession => "actix-session",
            Library::AxumSession => "axum_session",
        }
    }
}

impl Store {
    /// The name used in variant names.
    pub fn name(self) -> &'static str {
        match self {
            Store::None => "none",
            Store::Memory => "memory",
            Store::Redis => "redis",
            Store::Cookie => "cookie",
            Store::Postgres => "postgres",
            Store::RedisRs => "redis-rs",
            Store::RedisRsPipelined => "redis-rs-pipelined",
        }
    }

    /// Whether the app needs the run's Redis.
    pub fn uses_redis(self) -> bool {
        matches!(
            self,
            Store::Redis | Store::RedisRs | Store::RedisRsPipelined
        )
    }
}

impl Variant {
    const fn new(framework: Framework, library: Library, store: Store) -> Self {
        Variant {
            framework,
            library,
            store,
        }
    }

    /// Every app of the benchmark, in the order they run: per framework the
    /// ceiling, then ours (default, then `ours-onwrite`) and the peers per
    /// store. A peer appears only with the stores it has (actix-session has
    /// no memory store; tower-sessions and axum_session have no cookie
    /// store).
    pub fn all() -> Vec<Variant> {
        use Framework::*;
        use Library::{
            ActixSession, AxumSession, Ours, OursNearCache, OursOnWrite, OursSerialize,
            OursSerializeReadOnly, TowerSessions,
        };
        vec![
            Variant::new(Axum, Library::None, Store::None),
            Variant::new(Axum, Ours, Store::Memory),
            Variant::new(Axum, OursOnWrite, Store::Memory),
            Variant::new(Axum, OursSerialize, Store::Memory),
            Variant::new(Axum, TowerSessions, Store::Memory),
            Variant::new(Axum, AxumSession, Store::Memory),
            Variant::new(Axum, Ours, Store::Redis),
            Variant::new(Axum, OursOnWrite, Store::Redis),
            Variant::new(Axum, OursSerialize, Store::Redis),
            Variant::new(Axum, OursSerializeReadOnly, Store::Redis),
            Variant::new(Axum, OursNearCache, Store::Redis),
            Variant::new(Axum, TowerSessions, Store::Redis),
            Variant::new(Axum, AxumSession, Store::Redis),
            Variant::new(Axum, Ours, Store::Cookie),
            Variant::new(Axum, OursOnWrite, Store::Cookie),
            Variant::new(Actix, Library::None, Store::None),
            Variant::new(Actix, Ours, Store::Memory),
            Variant::new(Actix, OursOnWrite, Store::Memory),
            Variant::new(Actix, OursSerialize, Store::Memory),
            Variant::new(Actix, Ours, Store::Redis),
            Variant::new(Actix, OursOnWrite, Store::Redis),
            Variant::new(Actix, OursSerialize, Store::Redis),
            Variant::new(Actix, OursNearCache, Store::Redis),
            Variant::new(Actix, ActixSession, Store::Redis),
            Variant::new(Actix, Ours, Store::Cookie),
            Variant::new(Actix, OursOnWrite, Store::Cookie),
            Variant::new(Actix, ActixSession, Store::Cookie),
        ]
    }

    /// The apps that no load benchmark runs unless named in full: the
    /// serialize policy on PostgreSQL (`lock_wakeups`), and last-write-wins
    /// and the serialize policy (both lease steps) on the redis-rs store.
    pub const NAMED_ONLY: [Variant; 4] = [
        Variant::new(Framework::Axum, Library::OursSerialize, Store::Postgres),
        Variant::new(Framework::Axum, Library::Ours, Store::RedisRs),
        Variant::new(Framework::Axum, Library::OursSerialize, Store::RedisRs),
        Variant::new(
            Framework::Axum,
            Library::OursSerialize,
            Store::RedisRsPipelined,
        ),
    ];

    /// Whether the app keeps sessions (everything but the ceiling).
    pub fn has_sessions(&self) -> bool {
        self.library != Library::None
    }

    /// Why this app cannot run in this build, if it cannot.
    pub fn unavailable(&self) -> Option<&'static str> {
        if !self.library.is_ours() {
            return None;
        }
        match (self.framework, self.store) {
            (_, Store::Cookie | Store::Redis) if self.library.serializes() => {
                ours::serialize_unavailable(self.store)
            }
            (_, Store::Cookie) => ours::COOKIE_UNAVAILABLE,
            (_, Store::Redis) => ours::REDIS_UNAVAILABLE,
            (Framework::Actix, _) => ours::ACTIX_UNAVAILABLE,
            _ => None,
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.library {
            Library::None => write!(f, "{}/none", self.framework.name()),
            library => write!(
                f,
                "{}/{}/{}",
                self.framework.name(),
                library.name(),
                self.store.name()
            ),
        }
    }
}

impl FromStr for Variant {
    type Err = String;

    /// Parses a name as [`Display`](fmt::Display) writes it.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Variant::all()
            .into_iter()
            .chain(Variant::NAMED_ONLY)
            .find(|v| v.to_string() == name)
            .ok_or_else(|| format!("unknown app {name:?}; known: {}", names()))
    }
}

fn names() -> String {
    Variant::all()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an app needs besides its variant.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The Redis to use for the Redis variants.
    pub redis_url: Option<String>,
    /// The key prefix for this app's Redis keys, where the library has one.
    pub redis_prefix: String,
    /// The PostgreSQL to use for the PostgreSQL variants, and the table
    /// there (made by the app's store if missing).
    pub postgres: Option<(String, String)>,
    /// The secret of ours' key ring; `None`, a random one per process.
    /// Processes that serve one user's requests by turns need the same.
    pub secret: Option<String>,
    /// Ours on Redis: the store's cross-process lock wake-ups on or off;
    /// `None`, the store's default.
    pub lock_wakeups: Option<bool>,
    /// Ours on axum: how long `GET /counter` works before it changes the
    /// session; `None`, not at all.
    pub handler_delay: Option<std::time::Duration>,
}

impl ServeOptions {
    pub(crate) fn redis_url(&self) -> Result<&str, BoxError> {
        self.redis_url
            .as_deref()
            .ok_or_else(|| "this app needs a Redis URL (--redis)".into())
    }
}

/// Runs an app on `listener` until the process ends. `ready` is called with
/// the address once the app accepts connections. Blocks the calling thread:
/// axum runs on a tokio current-thread runtime, actix-web on its own system
/// with one worker.
pub fn serve(
    variant: Variant,
    listener: TcpListener,
    options: ServeOptions,
    ready: impl FnOnce(SocketAddr) + Send + 'static,
) -> Result<(), BoxError> {
    if let Some(why) = variant.unavailable() {
        return Err(format!("{variant} is not available: {why}").into());
    }
    match variant.framework {
        Framework::Axum => serve_axum(variant, listener, options, ready),
        Framework::Actix => serve_actix(variant, listener, options, ready),
    }
}

fn serve_axum(
    variant: Variant,
    listener: TcpListener,
    options: ServeOptions,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let router = axum_router(variant, &options).await?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        ready(listener.local_addr()?);
        axum::serve(listener, router).await?;
        Ok(())
    })
}

/// The axum app of a variant, for serving or for calling in process (as the
/// profiling harness does). Needs a tokio runtime.
pub async fn axum_router(
    variant: Variant,
    options: &ServeOptions,
) -> Result<axum::Router, BoxError> {
    if let Some(why) = variant.unavailable() {
        return Err(format!("{variant} is not available: {why}").into());
    }
    Ok(match variant.library {
        Library::None => plain::axum_router(),
        library @ (Library::Ours
        | Library::OursOnWrite
        | Library::OursSerialize
        | Library::OursSerializeReadOnly
        | Library::OursNearCache) => ours::axum_router(library, variant.store, options).await?,
        Library::TowerSessions => tower_sessions_app::router(variant.store, options).await?,
        Library::AxumSession => axum_session_app::router(variant.store, options).await?,
        Library::ActixSession => return Err("actix-session runs on actix-web only".into()),
    })
}

fn serve_actix(
    variant: Variant,
    listener: TcpListener,
    options: ServeOptions,
    ready: impl FnOnce(SocketAddr) + Send + 'static,
) -> Result<(), BoxError> {
    let addr = listener.local_addr()?;
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let server = match variant.library {
            Library::None => plain::actix_server(listener)?,
            library @ (Library::Ours
            | Library::OursOnWrite
            | Library::OursSerialize
            | Library::OursNearCache) => {
                ours::actix_server(library, variant.store, &options, listener).await?
            }
            Library::ActixSession => {
                actix_session_app::server(variant.store, &options, listener).await?
            }
            _ => return Err(format!("{} runs on axum only", variant.library.name()).into()),
        };
        ready(addr);
        server.await?;
        Ok(())
    })
}

/// The actix-web app of a variant, called in process (as the profiling
/// harness does) with `users` users, who each get a session first. Needs an
/// actix system (`actix_web::rt::System`).
pub async fn actix_in_process(
    variant: Variant,
    options: &ServeOptions,
    users: usize,
) -> Result<Box<dyn Driver>, BoxError> {
    if let Some(why) = variant.unavailable() {
        return Err(format!("{variant} is not available: {why}").into());
    }
    match variant.library {
        Library::None => {
            let service = actix_web::test::init_service(plain::actix_app()).await;
            Ok(Box::new(
                crate::inproc::ActixInProcess::new(service, users, false).await?,
            ))
        }
        library @ (Library::Ours
        | Library::OursOnWrite
        | Library::OursSerialize
        | Library::OursNearCache) => {
            ours::actix_in_process(library, variant.store, options, users).await
        }
        Library::ActixSession => actix_session_app::in_process(variant.store, options, users).await,
        other => Err(format!("{} runs on axum only", other.name()).into()),
    }
}

/// Checks that an app does the benchmark's work: a new user's `/counter`
/// answers 1 then 2, `/counter/peek` then answers 2 twice (it does not
/// count), and another new user's peek answers 0. The ceiling keeps no
/// sessions: it answers 1, 1, 0, 0 and 0.
pub async fn check(addr: SocketAddr, variant: Variant) -> Result<(), BoxError> {
    let expected: [(&str, u64); 4] = if variant.has_sessions() {
        [
            ("/counter", 1),
            ("/counter", 2),
            ("/counter/peek", 2),
            ("/counter/peek", 2),
        ]
    } else {
        [
            ("/counter", 1),
            ("/counter", 1),
            ("/counter/peek", 0),
            ("/counter/peek", 0),
        ]
    };
    let mut user = VirtualUser::connect(addr).await?;
    for (path, want) in expected {
        expect_count(&mut user, path, want, variant).await?;
    }
    let mut stranger = VirtualUser::connect(addr).await?;
    expect_count(&mut stranger, "/counter/peek", 0, variant).await
}

async fn expect_count(
    user: &mut VirtualUser,
    path: &str,
    want: u64,
    variant: Variant,
) -> Result<(), BoxError> {
    let answer = user.get(path).await?;
    if !answer.status.is_success() {
        return Err(format!("{variant}: GET {path} answered {}", answer.status).into());
    }
    let body: CountBody = serde_json::from_slice(&answer.body).map_err(|e| {
        format!("{variant}: GET {path} answered a body that is not {{\"count\": N}}: {e}")
    })?;
    if body.count != want {
        return Err(format!(
            "{variant}: GET {path} answered count {} where {want} was expected",
            body.count
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for variant in Variant::all() {
            assert_eq!(variant.to_string().parse::<Variant>(), Ok(variant));
        }
        assert_eq!(
            "axum/ours/memory".parse::<Variant>().unwrap(),
            Variant::new(Framework::Axum, Library::Ours, Store::Memory)
        );
        assert!("axum/nothing".parse::<Variant>().is_err());
    }
}
