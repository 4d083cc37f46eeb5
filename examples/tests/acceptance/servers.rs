//! Store servers of a test's own, on free loopback ports, that the test
//! kills and restarts to stage outages: a `redis-server` (without
//! persistence, or with an append-only file so that data outlives a kill)
//! and a PostgreSQL cluster in a temporary directory.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use examples::StoreKind;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A directory under the temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "typed-sessions-{what}-{}-{millis}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&path).expect("a temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `redis-server` of the test's own on a free loopback port, killed when
/// dropped.
pub(crate) struct RedisServer {
    pub(crate) port: u16,
    child: Option<Child>,
    /// With an append-only file (fsync at every write) in this directory,
    /// so that what was acknowledged survives a `SIGKILL`.
    data: Option<TempDir>,
}

impl RedisServer {
    /// Without persistence: a restart starts empty. `None` when
    /// `redis-server` is not installed.
    pub(crate) fn start() -> Option<RedisServer> {
        Self::start_with(None)
    }

    /// With an append-only file: a restart keeps every acknowledged write.
    pub(crate) fn start_persistent() -> Option<RedisServer> {
        Self::start_with(Some(TempDir::new("redis")))
    }

    fn start_with(data: Option<TempDir>) -> Option<RedisServer> {
        if !installed("redis-server") {
            return None;
        }
        let mut server = RedisServer {
            port: free_port(),
            child: None,
            data,
        };
        server.restart();
        Some(server)
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port and waits until it answers `PING`.
    pub(crate) fn restart(&mut self) {
        let port = self.port.to_string();
        let mut command = Command::new("redis-server");
        command.args(["--port", &port, "--bind", "127.0.0.1", "--save", ""]);
        match &self.data {
            Some(dir) => command
                .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                .arg(&dir.0),
            None => command.args(["--appendonly", "no"]),
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers_ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server on {port} never answered"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// `SIGKILL`: the sharpest outage, with no goodbye to the clients.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL cluster of the test's own (`initdb` in a temporary
/// directory, trust authentication, loopback only), stopped when dropped.
/// As root, the server runs as the `postgres` user, which PostgreSQL needs.
pub(crate) struct PostgresServer {
    pub(crate) port: u16,
    dir: TempDir,
    child: Option<Child>,
    user: Option<(u32, u32)>,
}

impl PostgresServer {
    /// `None` when `initdb` is not installed.
    pub(crate) fn start() -> Option<PostgresServer> {
        if !installed("initdb") {
            return None;
        }
        let dir = TempDir::new("postgres");
        let user = run_as_postgres();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir.0, Some(uid), Some(gid)).expect("chown the data dir");
        }
        let data = dir.0.join("data");
        let status = postgres_command("initdb", user)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed: {status}");
        let mut server = PostgresServer {
            port: free_port(),
            dir,
            child: None,
            user,
        };
        server.restart();
        Some(server)
    }

    pub(crate) fn url(&self) -> String {
        Self::url_on(self.port)
    }

    fn url_on(port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    }

    /// Whether it can stand in for `kind`'s server: a store whose row
    /// takes this server's URLs.
    pub(crate) fn serves(kind: StoreKind) -> bool {
        let url = Self::url_on(0);
        kind.url_prefixes()
            .iter()
            .any(|prefix| url.starts_with(prefix))
    }

    /// Starts it (again) on its port and waits until it accepts connections.
    pub(crate) fn restart(&mut self) {
        let child = postgres_command("postgres", self.user)
            .arg("-D")
            .arg(self.dir.0.join("data"))
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.0.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.accepts() {
            assert!(
                Instant::now() < deadline,
                "postgres on {} never accepted",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn accepts(&self) -> bool {
        Command::new("pg_isready")
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// An immediate shutdown (`SIGQUIT`): every connection is cut at once,
    /// nothing is flushed beyond what was committed.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `postgres` user's ids when this process runs as root (PostgreSQL
/// refuses to run as root).
fn run_as_postgres() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    let me = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        return None;
    }
    Some((id("-u")?, id("-g")?))
}

fn postgres_command(program: &str, user: Option<(u32, u32)>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(program);
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    command
}
