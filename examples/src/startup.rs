//! What both binaries do before they serve: logging, configuration, the
//! store and the session manager; and how they report. A binary only adds
//! its [`Server`], and its `main` is one call of [`start`].

use std::future::Future;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use session_core::{store::SessionStore, Metadata, SessionConfig, SessionManager};
use tracing_subscriber::EnvFilter;

use crate::config::DemoConfig;
use crate::error::DemoError;
use crate::model::{v2, DemoData, DemoSession};
use crate::store::build_store;

/// What a binary adds to the shared start: serving the session manager's
/// app on its framework, from the bound listener.
pub trait Server {
    /// Serves until the process is stopped; announces the address
    /// ([`announce`]) once it accepts connections.
    fn serve<D: DemoData>(
        self,
        listener: TcpListener,
        manager: SessionManager<D>,
    ) -> impl Future<Output = Result<(), DemoError>>;
}

/// The whole life of a demo binary called `program`: logging and metrics,
/// then [`run`]; a failed start ends the process with one line
/// ([`exit_with`]).
pub async fn start(program: &str, server: impl Server) {
    init_tracing();
    init_metrics();
    if let Err(err) = run(server).await {
        exit_with(program, &err);
    }
}

/// Reads the configuration, binds, opens the store and serves the session
/// type that `DEMO_SESSION_VERSION` names on `server`.
pub async fn run(server: impl Server) -> Result<(), DemoError> {
    let config = load_config()?;
    match config.session_version {
        2 => serve::<v2::DemoSession>(server, &config).await,
        _ => serve::<DemoSession>(server, &config).await,
    }
}

async fn serve<D: DemoData>(server: impl Server, config: &DemoConfig) -> Result<(), DemoError> {
    let listener = bind(config)?;
    let manager = open::<D>(config).await?;
    server.serve(listener, manager).await
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`). Stdout is kept
/// for the one line that tells where the server listens.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Installs the recorder behind `GET /metrics`; see [`crate::metrics`].
pub fn init_metrics() {
    crate::metrics::install();
}

/// Reads the environment; see [`DemoConfig::from_env`].
pub fn load_config() -> Result<DemoConfig, DemoError> {
    Ok(DemoConfig::from_env()?)
}

/// Binds `BIND` before anything else is opened, so that a busy port fails
/// at once with one line. The socket is non-blocking, as both runtimes want.
pub fn bind(config: &DemoConfig) -> Result<TcpListener, DemoError> {
    let bind_error = |source| DemoError::Bind {
        addr: config.bind,
        source,
    };
    let listener = TcpListener::bind(config.bind).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    Ok(listener)
}

/// Opens the store and builds the session manager.
pub async fn open<D: DemoData>(config: &DemoConfig) -> Result<SessionManager<D>, DemoError> {
    let store = build_store(config).await?;
    build_manager(config, store)
}

/// The session manager for a configuration and an opened store.
///
/// ```
/// use examples::{build_store, startup::build_manager, DemoConfig};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), examples::DemoError> {
/// let config = DemoConfig::from_pairs(&[("SESSION_COOKIE_SECURE", "false")])?;
/// let manager = build_manager::<examples::DemoSession>(&config, build_store(&config).await?)?;
/// assert!(!manager.config().cookie().secure);
/// # Ok(()) }
/// ```
pub fn build_manager<D: DemoData>(
    config: &DemoConfig,
    store: Arc<dyn SessionStore>,
) -> Result<SessionManager<D>, DemoError> {
    if config.random_secret {
        tracing::warn!(
            "SESSION_SECRET is not set: using a random secret for this run, so sessions \
             and sealed notes do not survive a restart"
        );
    }
    // The cookie store cannot list a user's sessions: there the metadata
    // would only make every cookie larger.
    let metadata = match store.cookie_sealing() {
        Some(_) => Metadata::none(),
        None => Metadata::all(),
    };
    let mut builder = SessionConfig::builder()
        .shared_store(store)
        .keys(config.keys.clone())
        .secure(config.cookie_secure)
        .idle_timeout(config.idle_timeout)
        .absolute_timeout(config.absolute_timeout)
        .concurrency(config.concurrency)
        .lock_wait(config.lock_wait)
        .metadata(metadata)
        .remember_max(config.remember_timeout)
        .outage_policy(config.outage);
    if let Some(max) = config.max_per_user {
        builder = builder.max_sessions_per_owner(max);
    }
    let session_config = builder.build()?;
    Ok(SessionManager::new(session_config))
}

/// Prints `listening on http://ADDR` on stdout, with the port actually bound
/// (`BIND` may ask for port 0).
pub fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    // Flushed at once: whoever started the server may be waiting for it.
    let _ = writeln!(out, "listening on http://{addr}");
    let _ = out.flush();
}

/// Ends the process for a failed start: one line on stderr, non-zero exit.
pub fn exit_with(program: &str, err: &DemoError) -> ! {
    eprintln!("{program}: {err}");
    std::process::exit(err.exit_code())
}
