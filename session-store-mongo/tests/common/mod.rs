//! Test helpers: the shared server at MONGODB_URL, collections of a test's
//! own that are dropped when it ends, and private SecantusDB processes on
//! free loopback ports.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use session_core::store::Record;
use session_core::SessionId;
use session_store_mongo::mongodb::bson::Document;
use session_store_mongo::mongodb::{Client, Collection};
use session_store_mongo::MongoStore;

/// The shared server of the test machine.
pub fn mongodb_url() -> String {
    std::env::var("MONGODB_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "mongodb://127.0.0.1:27017/test?directConnection=true".into())
}

/// A collection name no other test uses.
pub fn unique_collection(test: &str) -> String {
    format!(
        "test_mongo_store_{test}_{}",
        &SessionId::random().as_str()[..10].replace('-', "_")
    )
}

/// The shared checks' record: expires after `idle_ms` (absolute: one hour).
pub fn record(idle_ms: i64) -> Record {
    session_store_conformance::record(idle_ms)
}

/// A store of `collection` on the shared server, its indexes created.
pub async fn store_of(collection: &str) -> MongoStore {
    let store = MongoStore::builder()
        .collection(collection)
        .connect(&mongodb_url())
        .await
        .expect("the shared MongoDB at MONGODB_URL is reachable");
    store.migrate().await.expect("indexes created");
    store
}

/// A raw view of a collection on the shared server, for inspection.
pub async fn raw(collection: &str) -> Collection<Document> {
    let client = Client::with_uri_str(mongodb_url()).await.expect("a client");
    let db = client
        .default_database()
        .unwrap_or_else(|| client.database("sessions"));
    db.collection(collection)
}

/// Collections (and their lease collections) that are dropped when the
/// value is, however the test ends:
/// on a thread and runtime of their own, since the test's runtime may be
/// the one that is ending.
pub struct Dropped(pub Vec<String>);

impl Drop for Dropped {
    fn drop(&mut self) {
        let names = std::mem::take(&mut self.0);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                // Each collection with its leases (the store's `{name}_locks`).
                for name in &names {
                    let _ = raw(name).await.drop().await;
                    let _ = raw(&format!("{name}_locks")).await.drop().await;
                }
            });
        });
        let _ = dropped.join();
    }
}

/// A free loopback port (bound and released; the server takes it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The SecantusDB server program: `SECANTUSD`, else the copy that `.ci/run`
/// installs in the workspace, else one on the `PATH`.
pub fn secantusd() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SECANTUSD").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let installed =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.ci/tools/secantus/bin/secantusd-py");
    if installed.is_file() {
        return Some(installed);
    }
    Command::new("secantusd-py")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        .then(|| PathBuf::from("secantusd-py"))
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "session-store-mongo-{name}-{}-{}",
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

/// A SecantusDB process of this test on 127.0.0.1, keeping its data in a
/// scratch directory so that a restart finds it again.
pub struct Secantus {
    pub port: u16,
    program: PathBuf,
    storage: PathBuf,
    child: Option<Child>,
}

impl Secantus {
    /// Starts one and waits until it accepts connections.
    pub fn start(program: PathBuf, scratch: &Scratch) -> Secantus {
        let mut server = Secantus {
            port: free_port(),
            program,
            storage: scratch.0.join("data"),
            child: None,
        };
        server.spawn();
        server
    }

    /// The URL of this server.
    pub fn url(&self) -> String {
        format!(
            "mongodb://127.0.0.1:{}/test?directConnection=true",
            self.port
        )
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.program)
            .args(["--host", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .arg("--standalone")
            // Every acknowledged write on disk before the answer, as mongod
            // with `j: true`: a kill loses nothing, so a test can tell an
            // outage the store survived from data the server never kept.
            .arg("--sync-on-commit")
            .arg("--storage-path")
            .arg(&self.storage)
            .args(["--log-level", "ERROR"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("secantusd-py starts");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "SecantusDB did not listen on port {} within 60 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills it (SIGKILL) and waits for the process to exit, so that its
    /// lock on the storage path is released.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and storage path.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Secantus {
    fn drop(&mut self) {
        self.kill();
    }
}
