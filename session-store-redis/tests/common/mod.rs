//! Test helpers: the shared Redis, private redis-server processes on free
//! loopback ports, a minimal RESP client for inspection, and MONITOR.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use session_core::{store::Record, SessionId};
use session_store_redis::RedisStore;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The shared Redis of the test machine.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `host:port` of a `redis://` URL (no credentials expected in tests).
pub fn address(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    let hostport = rest.split('/').next().unwrap_or(rest);
    if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:6379")
    }
}

/// A prefix no other test uses.
pub fn unique_prefix(test: &str) -> String {
    format!(
        "test:redis-store:{test}:{}:",
        &SessionId::random().as_str()[..10]
    )
}

/// A store on the shared Redis with its own prefix.
pub async fn shared_store(test: &str) -> RedisStore {
    RedisStore::builder()
        .prefix(unique_prefix(test))
        .connect(&redis_url())
        .await
        .expect("the shared Redis at REDIS_URL is reachable")
}

/// The shared checks' record: expires after `idle_ms` (absolute: one hour).
pub fn record(idle_ms: i64) -> Record {
    session_store_conformance::record(idle_ms)
}

/// The value of a record key as the README documents it, written here
/// independently of the crate: format 1, version, created, absolute expiry,
/// owner length (`0xFFFFFFFF` for none), owner, data.
pub fn encode(record: &Record) -> Vec<u8> {
    let mut value = vec![1u8];
    value.extend(record.version.to_be_bytes());
    value.extend(Record::millis(record.created_at).to_be_bytes());
    value.extend(Record::millis(record.absolute_expires_at).to_be_bytes());
    match &record.owner {
        None => value.extend(u32::MAX.to_be_bytes()),
        Some(owner) => {
            value.extend((owner.len() as u32).to_be_bytes());
            value.extend(owner.as_bytes());
        }
    }
    value.extend(&record.data);
    value
}

/// Where the data starts in the value of an owner-less record.
pub const DATA_OFFSET: usize = 29;

/// Whether `program --version` runs.
pub fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A free loopback port (bound and released; redis-server takes it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "session-store-redis-{name}-{}-{}",
            std::process::id(),
            &SessionId::random().as_str()[..8]
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A redis-server process of this test, on 127.0.0.1, without persistence.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    extra: Vec<String>,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a plain server.
    pub async fn start(dir: &Scratch) -> RedisServer {
        Self::start_with(dir, &[]).await
    }

    /// Starts a server with extra arguments (`--cluster-enabled yes` ...).
    pub async fn start_with(dir: &Scratch, extra: &[&str]) -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            dir: dir.0.clone(),
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dir", &self.dir.to_string_lossy()])
            .args(["--dbfilename", &format!("dump-{port}.rdb")])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        for _ in 0..100 {
            if let Ok(mut conn) = Raw::connect(&self.address()).await {
                if conn.cmd(&["PING"]).await.is_ok() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server on port {} did not come up", self.port);
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    /// Kills the server (SIGKILL): connections drop at once.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: no persistence).
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// SIGSTOP: the server keeps its connections but answers nothing.
    pub fn freeze(&self) {
        assert!(signal(self.pid(), "-STOP"));
    }

    /// SIGCONT.
    pub fn thaw(&self) {
        assert!(signal(self.pid(), "-CONT"));
    }
}

fn signal(pid: u32, which: &str) -> bool {
    Command::new("kill")
        .args([which, &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A frozen server would ignore nothing but SIGKILL anyway.
            signal(child.id(), "-CONT");
        }
        self.kill();
    }
}

/// A reply, as this minimal client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn text(&self) -> String {
        match self {
            Reply::Status(s) | Reply::Error(s) => s.clone(),
            Reply::Int(n) => n.to_string(),
            Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            Reply::Bulk(None) | Reply::Array(None) => String::new(),
            Reply::Array(Some(items)) => {
                items.iter().map(Reply::text).collect::<Vec<_>>().join(" ")
            }
        }
    }

    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(n) => *n,
            other => panic!("not an integer: {other:?}"),
        }
    }
}

/// A raw RESP connection, independent of the store's client.
pub struct Raw {
    stream: BufReader<TcpStream>,
}

impl Raw {
    pub async fn connect(address: &str) -> std::io::Result<Raw> {
        let stream = TcpStream::connect(address).await?;
        Ok(Raw {
            stream: BufReader::new(stream),
        })
    }

    pub async fn send(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend(format!("${}\r\n", arg.len()).bytes());
            out.extend_from_slice(arg);
            out.extend(b"\r\n");
        }
        self.stream.get_mut().write_all(&out).await
    }

    /// Sends a command and reads its reply (a server error is `Err`).
    pub async fn cmd(&mut self, args: &[&str]) -> Result<Reply, String> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd_bytes(&args).await
    }

    pub async fn cmd_bytes(&mut self, args: &[&[u8]]) -> Result<Reply, String> {
        self.send(args).await.map_err(|e| e.to_string())?;
        match self.read().await.map_err(|e| e.to_string())? {
            Reply::Error(e) => Err(e),
            reply => Ok(reply),
        }
    }

    pub async fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end_matches("\r\n").to_owned())
    }

    pub async fn read(&mut self) -> std::io::Result<Reply> {
        let line = self.line().await?;
        let (kind, rest) = line.split_at(1);
        let number = || rest.parse::<i64>().unwrap_or(-1);
        Ok(match kind {
            "+" => Reply::Status(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Int(number()),
            "$" if number() < 0 => Reply::Bulk(None),
            "$" => {
                let mut buf = vec![0; number() as usize + 2];
                self.stream.read_exact(&mut buf).await?;
                buf.truncate(buf.len() - 2);
                Reply::Bulk(Some(buf))
            }
            "*" if number() < 0 => Reply::Array(None),
            "*" => {
                let mut items = Vec::new();
                for _ in 0..number() {
                    items.push(Box::pin(self.read()).await?);
                }
                Reply::Array(Some(items))
            }
            _ => Reply::Error(format!("unexpected reply line {line:?}")),
        })
    }
}

/// Counts the commands that clients send to one server, with MONITOR:
/// commands run by Lua scripts (`[0 lua]`) are not round trips and are left
/// out, so the count is exactly the number of commands on the wire.
pub struct Monitor {
    feed: Raw,
    marker: Raw,
    serial: u64,
}

impl Monitor {
    pub async fn start(address: &str) -> Monitor {
        let mut feed = Raw::connect(address).await.expect("monitor connects");
        feed.send(&[b"MONITOR"]).await.expect("MONITOR");
        assert_eq!(feed.line().await.expect("+OK"), "+OK");
        let marker = Raw::connect(address).await.expect("marker connects");
        Monitor {
            feed,
            marker,
            serial: 0,
        }
    }

    async fn mark(&mut self) -> String {
        self.serial += 1;
        let mark = format!("round-trip-marker-{}", self.serial);
        self.marker.cmd(&["ECHO", &mark]).await.expect("ECHO");
        mark
    }

    /// Reads the feed up to and including the marker line; answers the
    /// command lines before it, script-internal lines left out.
    async fn until(&mut self, mark: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(5), self.feed.line())
                .await
                .expect("the monitor feed goes on")
                .expect("monitor line");
            if line.contains(mark) {
                return seen;
            }
            if !line.contains(" lua]") {
                seen.push(line);
            }
        }
    }

    /// Runs `action` and answers the names of the commands it sent, in order.
    pub async fn commands<F, T>(&mut self, action: F) -> (T, Vec<String>)
    where
        F: std::future::Future<Output = T>,
    {
        let start = self.mark().await;
        self.until(&start).await;
        let out = action.await;
        let end = self.mark().await;
        let lines = self.until(&end).await;
        (out, lines.iter().map(|l| command_name(l)).collect())
    }
}

/// `+1700000000.123456 [0 127.0.0.1:5000] "EVALSHA" "..."` -> `EVALSHA`.
fn command_name(line: &str) -> String {
    line.split(']')
        .nth(1)
        .and_then(|rest| rest.split('"').nth(1))
        .unwrap_or(line)
        .to_uppercase()
}

/// Waits until `check` holds; panics after 10 seconds (a cutoff against
/// hanging, not a speed requirement).
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A store with the near cache on, once its tracking is on.
pub async fn near_cached_store(url: &str, prefix: &str) -> RedisStore {
    let store = RedisStore::builder()
        .prefix(prefix)
        .near_cache(1_000)
        .command_timeout(Duration::from_secs(2))
        .max_reconnect_delay(Duration::from_millis(100))
        .connect(url)
        .await
        .expect("the Redis is reachable");
    until("tracking is on", || async {
        store.near_cache_stats().is_some_and(|s| s.enabled)
    })
    .await;
    store
}

/// Two near-cached stores on one prefix: a session written by the first
/// and cached by the second; each change by the first is seen by the second.
pub async fn near_cache_coherence(a: &RedisStore, b: &RedisStore, sessions: usize) {
    use session_core::store::SessionStore;
    let mut records: Vec<Record> = (0..sessions).map(|_| record(60_000)).collect();
    for rec in &records {
        a.create(rec).await.expect("create");
    }
    for rec in &records {
        until("b serves it from its cache", || async {
            let hits = b.near_cache_stats().map_or(0, |s| s.hits);
            b.load(&rec.id, None).await.expect("load").is_some()
                && b.near_cache_stats().map_or(0, |s| s.hits) > hits
        })
        .await;
    }
    for rec in &mut records {
        rec.data = b"saved by a".to_vec();
        a.save(rec, None).await.expect("save");
    }
    for rec in &records {
        until("b sees a's save", || async {
            b.load(&rec.id, None)
                .await
                .expect("load")
                .is_some_and(|r| r.data == b"saved by a")
        })
        .await;
    }
    for rec in &records {
        assert!(a.delete(&rec.id).await.expect("delete"));
    }
    for rec in &records {
        until("b sees a's delete", || async {
            b.load(&rec.id, None).await.expect("load").is_none()
        })
        .await;
    }
}

/// Two stores on one backend and prefix, as two processes would have them:
/// the lease checks' twins.
pub struct Pair(pub RedisStore, pub RedisStore);

impl session_store_conformance::Twins for Pair {
    fn first(&self) -> std::sync::Arc<dyn session_core::store::SessionStore> {
        std::sync::Arc::new(self.0.clone())
    }

    fn second(&self) -> std::sync::Arc<dyn session_core::store::SessionStore> {
        std::sync::Arc::new(self.1.clone())
    }
}

/// Runs every lease check of session-store-conformance on `pair`.
pub async fn all_lease_checks(pair: &Pair) {
    use session_store_conformance::lease_checks::*;
    of_two_tokens_one_wins(pair).await;
    the_wrong_token_changes_nothing(pair).await;
    an_expired_lease_lets_another_in(pair).await;
    extend_renews_the_lease(pair).await;
    the_lock_loads_the_record_and_outlives_it(pair).await;
    one_holder_at_a_time_and_no_lost_update(pair).await;
    parallel_logins_on_two_instances_never_exceed_the_owner_limit(pair).await;
}
