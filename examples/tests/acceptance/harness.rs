//! Starting the real demo binaries and talking to them over loopback HTTP.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use session_core::store::SessionStore;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use examples::store::Keeps;
use examples::{DemoConfig, StoreKind};
use reqwest::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use reqwest::Method;

/// A secret for every test server (32 bytes or more), so that sealed data
/// does not depend on a random key and the logs carry no warning about it.
pub(crate) const TEST_SECRET: &str = "acceptance-suite-secret-0123456789abcdef";

/// Every variable the demo reads that a test sets itself; removed from the
/// inherited environment so a developer's shell cannot change the results.
/// `REDIS_URL` and `MONGODB_URL` are inherited on purpose: they say where
/// the Redis and the MongoDB of this machine are. `DATABASE_URL` is set per store (see [`Shared`]).
const DEMO_VARS: [&str; 13] = [
    "BIND",
    "SESSION_STORE",
    "SESSION_SECRET",
    "SESSION_IDLE_TIMEOUT_SECS",
    "SESSION_ABSOLUTE_TIMEOUT_SECS",
    "SESSION_COOKIE_SECURE",
    "SESSION_NAMESPACE",
    "SESSION_CONCURRENCY",
    "SESSION_LOCK_WAIT_SECS",
    "DATABASE_URL",
    "DEMO_SESSION_VERSION",
    "SESSION_REMEMBER_SECS",
    "SESSION_MAX_PER_USER",
];

/// The store a `SESSION_STORE` name stands for: its row of the demo's
/// table (`examples::store::STORES`), where every helper here reads what it
/// needs (where the store keeps sessions, the variable of its server). An
/// empty name is unset, as the demo reads it: the default store.
pub(crate) fn store_kind(store: &str) -> StoreKind {
    if store.is_empty() {
        return StoreKind::default();
    }
    StoreKind::named(store).unwrap_or_else(|| panic!("no {store} store in the demo's table"))
}

/// The URL of a store's server in the tests: the variable `<NAME>_URL`
/// (`REDIS_URL`, `POSTGRES_URL`, `MYSQL_URL`, `MONGODB_URL`; `.ci/run`
/// exports them), else what the demo would connect to by default. `None`
/// for a store without a server.
pub(crate) fn server_url(store: &str) -> Option<String> {
    let default = default_server_url(store)?;
    let var = format!("{}_URL", store_kind(store).name().to_ascii_uppercase());
    let set = std::env::var(var).ok().filter(|url| !url.is_empty());
    Some(set.unwrap_or(default))
}

/// The URL the demo connects `store` to when its variable is unset; `None`
/// for a store without a server.
pub(crate) fn default_server_url(store: &str) -> Option<String> {
    let kind = store_kind(store);
    let defaults = DemoConfig::from_pairs(&[("SESSION_STORE", kind.name())]).ok()?;
    defaults.server_url().map(str::to_owned)
}

/// The URL of `store`'s server; panics for a store without one.
pub(crate) fn url_of(store: &str) -> String {
    server_url(store).unwrap_or_else(|| panic!("the {store} store has no server"))
}

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// One demo binary on one store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    /// Path of the binary (`env!("CARGO_BIN_EXE_...")`).
    pub(crate) program: &'static str,
    /// `SESSION_STORE`.
    pub(crate) store: &'static str,
}

impl Target {
    /// Starts the server with the suite's defaults.
    pub(crate) fn start(&self) -> Server {
        Server::start(self, &[])
    }

    /// Starts the server with extra variables (they win over the defaults;
    /// an empty value means unset, as the demo reads it).
    pub(crate) fn start_with(&self, extra: &[(&str, &str)]) -> Server {
        Server::start(self, extra)
    }

    /// Where its store keeps sessions (its row of the demo's table).
    pub(crate) fn keeps(&self) -> Keeps {
        store_kind(self.store).keeps()
    }

    /// Whether the store keeps no server state (the whole session is in the
    /// cookie), so that a replayed cookie stays valid until it expires.
    pub(crate) fn stateless(&self) -> bool {
        self.keeps() == Keeps::Cookie
    }

    /// Whether the store is one process's (the memory store): servers
    /// cannot share it.
    pub(crate) fn in_process(&self) -> bool {
        self.keeps() == Keeps::Process
    }
}

/// A prefix unique to this test run (`t<pid>_<millis>`): lower case,
/// digits and `_`, starting with a letter, as `SESSION_NAMESPACE` requires.
pub(crate) fn run_namespace() -> &'static str {
    static NAMESPACE: OnceLock<String> = OnceLock::new();
    NAMESPACE.get_or_init(|| {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        format!("t{}_{millis}", std::process::id())
    })
}

/// A `SESSION_NAMESPACE` that no other server of any run uses
/// (`t<pid>_<millis>_<n>`): each server gets its own Redis key prefix, SQL
/// table or SQLite file, so a test can look at everything its server
/// stored, and can remove it afterwards.
pub(crate) fn fresh_namespace() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}_{}",
        run_namespace(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// One namespace of a store, for one server or several that share it:
/// the variables that point them at it (`SESSION_NAMESPACE`, and
/// `DATABASE_URL` for an SQL store) and what removes its data afterwards
/// (the Redis keys, the SQL table, the collection, the SQLite files), all
/// chosen by where the store keeps sessions ([`Keeps`]).
pub(crate) struct Shared {
    /// The variables, as the servers get them.
    pub(crate) env: Vec<(&'static str, String)>,
    _cleanup: Option<Cleanup>,
    _files: Option<FileGuard>,
}

impl Shared {
    /// The namespace `namespace` of `store`.
    pub(crate) fn new(store: &str, namespace: &str) -> Shared {
        let url = server_url(store);
        let (mut cleanup, mut files, mut database_url) = (None, None, None);
        match (store_kind(store).keeps(), url) {
            // A database file per namespace: SQLite serialises writers, and
            // parallel servers on one file would wait on each other.
            (Keeps::SqlTable, Some(url)) if url.starts_with("sqlite:") => {
                let guard = FileGuard::sqlite(namespace);
                database_url = Some(guard.url());
                files = Some(guard);
            }
            (Keeps::SqlTable, Some(url)) => {
                cleanup = Some(Cleanup::table(&url, namespace));
                database_url = Some(url);
            }
            (Keeps::RedisKeys, Some(url)) => {
                cleanup = Some(Cleanup::redis_keys(&url, &format!("{namespace}:")));
            }
            (Keeps::Collection, Some(url)) => {
                cleanup = Some(Cleanup::collection(&url, namespace));
            }
            _ => {}
        }
        let mut env = vec![("SESSION_NAMESPACE", namespace.to_owned())];
        env.extend(database_url.map(|url| ("DATABASE_URL", url)));
        Shared {
            env,
            _cleanup: cleanup,
            _files: files,
        }
    }

    /// The variables as the harness takes them.
    pub(crate) fn pairs(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// One variable's value.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A fresh namespace of `store` for several servers.
pub(crate) fn shared_store(store: &str) -> Shared {
    Shared::new(store, &fresh_namespace())
}

/// The store the servers of `store` with these variables open, as they
/// open it, to ask what it can do (lock, cap sessions per owner).
pub(crate) async fn open_store(store: &str, shared: &Shared) -> Arc<dyn SessionStore> {
    let urls: Vec<(&str, String)> = StoreKind::all()
        .filter_map(|kind| Some((kind.entry().url_var?, server_url(kind.name())?)))
        .filter(|(var, _)| *var != "DATABASE_URL")
        .collect();
    let mut pairs: Vec<(&str, &str)> = vec![("SESSION_STORE", store)];
    pairs.extend(urls.iter().map(|(var, url)| (*var, url.as_str())));
    // Only what points at the store: the servers' other settings (such as
    // SESSION_CONCURRENCY) are for the session layer, not the store.
    let store_vars = ["SESSION_NAMESPACE", "DATABASE_URL"];
    pairs.extend(
        shared
            .pairs()
            .into_iter()
            .filter(|(k, _)| store_vars.contains(k)),
    );
    let config = DemoConfig::from_pairs(&pairs).expect("a valid configuration");
    examples::build_store(&config)
        .await
        .expect("the store opens")
}

/// Removes what a test stored in a shared server when dropped: an SQL table,
/// a MongoDB collection, or the Redis keys under a prefix (sessions would expire, but an hour
/// later). Best effort: a failure is printed, not raised.
pub(crate) struct Cleanup {
    url: String,
    /// The table, or the key prefix.
    name: String,
}

impl Cleanup {
    /// Drops `table` in the PostgreSQL or MySQL at `url`.
    pub(crate) fn table(url: &str, table: &str) -> Cleanup {
        Cleanup {
            url: url.to_owned(),
            name: table.to_owned(),
        }
    }

    /// Unlinks every key under `prefix` in the Redis at `url`.
    pub(crate) fn redis_keys(url: &str, prefix: &str) -> Cleanup {
        Cleanup::table(url, prefix)
    }

    /// Drops `collection` in the MongoDB at `url` (in the URL's database).
    pub(crate) fn collection(url: &str, collection: &str) -> Cleanup {
        Cleanup::table(url, collection)
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop runs inside a test's runtime, which cannot block on another
        // future: the removal runs on a thread with a runtime of its own.
        let removed = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                if url.starts_with("redis") {
                    crate::inspect::unlink_prefix(&url, &name).await
                } else if url.starts_with("mongodb") {
                    crate::inspect::drop_collection(&url, &name).await
                } else {
                    crate::inspect::drop_table(&url, &name).await
                }
            })
        })
        .join();
        match removed {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not remove test data {}: {error}", self.name),
            Err(_) => eprintln!("could not remove test data {}: panicked", self.name),
        }
    }
}

/// A SQLite database file (and its WAL and journal files), removed when
/// dropped.
pub(crate) struct FileGuard {
    path: PathBuf,
}

impl FileGuard {
    /// `<temp dir>/<name>.db`.
    pub(crate) fn sqlite(name: &str) -> FileGuard {
        FileGuard {
            path: std::env::temp_dir().join(format!("{name}.db")),
        }
    }

    /// The `DATABASE_URL` of the file (created by the demo if missing).
    pub(crate) fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.path.display())
    }

    /// The files SQLite may have written.
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        ["", "-wal", "-shm", "-journal"]
            .iter()
            .map(|suffix| PathBuf::from(format!("{}{suffix}", self.path.display())))
            .collect()
    }
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        for file in self.paths() {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// A running demo server, killed when dropped. Its stderr is kept and
/// printed if the test fails.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// The `SESSION_NAMESPACE` it runs with: its Redis key prefix is
    /// `<namespace>:session:`, its SQL table `<namespace>`.
    pub(crate) namespace: String,
    /// The `DATABASE_URL` it runs with, if any.
    pub(crate) database_url: Option<String>,
    client: reqwest::Client,
    log: Arc<Mutex<String>>,
    // Dropped after the process is killed (fields drop after `drop`).
    _setup: Shared,
}

impl Server {
    fn start(target: &Target, extra: &[(&str, &str)]) -> Server {
        let generated = fresh_namespace();
        let setup = Shared::new(target.store, &generated);
        let from_extra = |name: &str| {
            extra
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        let namespace = from_extra("SESSION_NAMESPACE").unwrap_or(generated);
        let database_url = from_extra("DATABASE_URL").or(setup.get("DATABASE_URL").map(Into::into));
        let mut command = Command::new(target.program);
        for var in DEMO_VARS {
            command.env_remove(var);
        }
        command
            .env("BIND", "127.0.0.1:0")
            .env("SESSION_STORE", target.store)
            .env("SESSION_SECRET", TEST_SECRET)
            .env("SESSION_COOKIE_SECURE", "false")
            .env("SESSION_NAMESPACE", &namespace)
            .envs(database_url.iter().map(|url| ("DATABASE_URL", url)))
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", target.program));
        let log = drain(child.stderr.take().expect("piped stderr"));
        let base = match wait_for_address(child.stdout.take().expect("piped stdout")) {
            Some(base) => base,
            None => {
                let _ = child.kill();
                let status = child.wait();
                // Give the drain thread a moment to collect the last lines.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "{} ({}) printed no address ({status:?}); stderr:\n{}",
                    target.program,
                    target.store,
                    log.lock().unwrap()
                );
            }
        };
        Server {
            child,
            base,
            namespace,
            database_url,
            client: client(),
            log,
            _setup: setup,
        }
    }

    /// A browser without cookies yet, keeping the session cookie by hand.
    pub(crate) fn agent(&self) -> Agent {
        Agent {
            client: self.client.clone(),
            base: self.base.clone(),
            cookie: None,
        }
    }

    /// A browser that already holds a session cookie (from another server
    /// of the same store, or from before a restart).
    pub(crate) fn agent_with(&self, cookie: Option<String>) -> Agent {
        Agent {
            cookie,
            ..self.agent()
        }
    }

    /// What the server wrote to stderr so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// One request with exactly the given `Cookie` header bytes; a body goes
    /// as `Content-Type: application/json`.
    pub(crate) async fn send_raw(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&[u8]>,
        body: Option<Vec<u8>>,
    ) -> Answer {
        let body = body.map(|body| (Some("application/json"), body));
        self.send_typed(method, path, cookie, body).await
    }

    /// One request with exactly the given `Cookie` header bytes and a body
    /// with the given `Content-Type` (or none).
    pub(crate) async fn send_typed(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&[u8]>,
        body: Option<(Option<&str>, Vec<u8>)>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            let value = HeaderValue::from_bytes(cookie).expect("a sendable header value");
            request = request.header(COOKIE, value);
        }
        if let Some((content_type, body)) = body {
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            request = request.body(body);
        }
        Answer::read(request.send().await.expect("the server answers")).await
    }

    /// `GET` with a session cookie value (or none).
    pub(crate) async fn get_with(&self, path: &str, session: Option<&str>) -> Answer {
        let cookie = session.map(|v| format!("_session={v}"));
        self.send_raw(
            Method::GET,
            path,
            cookie.as_deref().map(str::as_bytes),
            None,
        )
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- server {} stderr ---\n{}",
                self.base,
                self.log.lock().unwrap()
            );
        }
    }
}

/// The `User-Agent` of every request of the suite.
pub(crate) const USER_AGENT: &str = "acceptance-suite/1";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client")
}

/// Reads stdout until the `listening on` line; `None` if the process ends
/// (or stays silent) first.
fn wait_for_address(stdout: impl Read + Send + 'static) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(base) = line.strip_prefix("listening on ") {
                let _ = tx.send(base.trim().to_owned());
            }
        }
    });
    rx.recv_timeout(START_TIMEOUT).ok()
}

/// Collects a stream in the background (so the pipe never fills up).
fn drain(stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut sink = sink.lock().unwrap();
            sink.push_str(&line);
            sink.push('\n');
        }
    });
    log
}

/// A client that keeps the `_session` cookie the way a browser would:
/// replaced by each `Set-Cookie`, dropped by a removal.
pub(crate) struct Agent {
    client: reqwest::Client,
    base: String,
    /// The current session cookie value.
    pub(crate) cookie: Option<String>,
}

impl Agent {
    /// Sends a request with the current cookie and keeps the answer's.
    pub(crate) async fn send(&mut self, method: Method, path: &str, body: Option<&str>) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(value) = &self.cookie {
            request = request.header(COOKIE, format!("_session={value}"));
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let answer = Answer::read(request.send().await.expect("the server answers")).await;
        if let Some(set) = answer.set_cookie() {
            self.cookie = (!set.is_removal()).then(|| set.value.clone());
        }
        answer
    }

    /// `GET path`.
    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with a body sent as JSON (it need not be valid).
    pub(crate) async fn post(&mut self, path: &str, body: &str) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    /// `PUT path` with a body sent as JSON.
    pub(crate) async fn put(&mut self, path: &str, body: &str) -> Answer {
        self.send(Method::PUT, path, Some(body)).await
    }

    /// `DELETE path`.
    pub(crate) async fn delete(&mut self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None).await
    }

    /// Logs in; panics unless it works.
    pub(crate) async fn login(&mut self, username: &str, password: &str) -> Answer {
        let answer = self.post("/login", &credentials(username, password)).await;
        assert_eq!(answer.status, 200, "login as {username}: {answer:?}");
        answer
    }
}

/// A login body.
pub(crate) fn credentials(username: &str, password: &str) -> String {
    serde_json::json!({ "username": username, "password": password }).to_string()
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The status code.
    pub(crate) status: u16,
    /// The headers.
    pub(crate) headers: HeaderMap,
    /// The body (lossy UTF-8).
    pub(crate) body: String,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a readable body");
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// The body as JSON; panics with the answer if it is not.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// `Content-Type`, if any.
    pub(crate) fn content_type(&self) -> Option<&str> {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
    }

    /// The `_session` `Set-Cookie`, if any; panics if there are several.
    pub(crate) fn set_cookie(&self) -> Option<SetCookie> {
        let mut found = self
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(SetCookie::parse)
            .filter(|c| c.name == "_session");
        let first = found.next();
        assert!(found.next().is_none(), "several _session cookies: {self:?}");
        first
    }

    /// Asserts a JSON answer with this status and body.
    #[track_caller]
    pub(crate) fn assert_json(&self, status: u16, body: serde_json::Value) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.content_type(), Some("application/json"), "{self:?}");
        assert_eq!(self.json(), body, "{self:?}");
    }
}

/// A parsed `Set-Cookie` header.
#[derive(Debug, Clone)]
pub(crate) struct SetCookie {
    /// The cookie name.
    pub(crate) name: String,
    /// The cookie value.
    pub(crate) value: String,
    /// The attributes, names as sent.
    pub(crate) attributes: Vec<(String, Option<String>)>,
}

impl SetCookie {
    fn parse(header: &str) -> SetCookie {
        let mut parts = header.split(';').map(str::trim);
        let (name, value) = parts
            .next()
            .and_then(|pair| pair.split_once('='))
            .unwrap_or(("", ""));
        let attributes = parts
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim().to_owned(), Some(v.trim().to_owned())),
                None => (p.to_owned(), None),
            })
            .collect();
        SetCookie {
            name: name.trim().to_owned(),
            value: value.trim().to_owned(),
            attributes,
        }
    }

    /// Whether an attribute is present (case-insensitive name).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.attributes
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// An attribute's value (case-insensitive name).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }

    /// `Max-Age` in seconds.
    pub(crate) fn max_age(&self) -> Option<i64> {
        self.get("Max-Age").and_then(|v| v.parse().ok())
    }

    /// Whether this header removes the cookie.
    pub(crate) fn is_removal(&self) -> bool {
        self.max_age().is_some_and(|age| age <= 0)
    }
}
