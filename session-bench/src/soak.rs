//! The pieces of the `soak` binary: a store server of the run's own that can
//! be killed and started again without losing what it acknowledged (Redis
//! with an append-only file synced at every write; a PostgreSQL cluster with
//! its default durable commits), the demo processes, what `/proc` tells of
//! a process (resident memory, open file descriptors), and the trend of
//! periodic samples of it (a plateau or a steady growth).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BoxError;

/// Which store a soak phase runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A private `redis-server`.
    Redis,
    /// A private PostgreSQL cluster.
    Postgres,
}

impl StoreKind {
    /// The demo's `SESSION_STORE` value.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Redis => "redis",
            StoreKind::Postgres => "postgres",
        }
    }
}

fn free_port() -> Result<u16, BoxError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A store server on a free loopback port, with its data in a temporary
/// directory (removed on drop, after the server is stopped).
#[derive(Debug)]
pub struct StoreServer {
    kind: StoreKind,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// The `postgres` user's ids when this runs as root.
    user: Option<(u32, u32)>,
}

impl StoreServer {
    /// Creates the data directory (and for PostgreSQL the cluster) and
    /// starts the server.
    pub fn start(kind: StoreKind) -> Result<Self, BoxError> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!(
            "typed-sessions-soak-{}-{}-{port}",
            kind.name(),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)?;
        let mut server = StoreServer {
            kind,
            port,
            dir,
            child: None,
            user: None,
        };
        if kind == StoreKind::Postgres {
            server.user = postgres_user();
            if let Some((uid, gid)) = server.user {
                std::os::unix::fs::chown(&server.dir, Some(uid), Some(gid))?;
            }
            let status = server
                .command("initdb")
                .args(["-A", "trust", "-U", "postgres", "-D"])
                .arg(server.dir.join("data"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|e| format!("cannot run initdb (is PostgreSQL installed?): {e}"))?;
            if !status.success() {
                return Err(format!("initdb failed: {status}").into());
            }
        }
        server.restart()?;
        Ok(server)
    }

    /// The URL the demo connects to (`REDIS_URL` or `DATABASE_URL`).
    pub fn url(&self) -> String {
        match self.kind {
            StoreKind::Redis => format!("redis://127.0.0.1:{}", self.port),
            StoreKind::Postgres => format!("postgres://postgres@127.0.0.1:{}/postgres", self.port),
        }
    }

    /// The demo's variable for [`url`](Self::url).
    pub fn url_var(&self) -> &'static str {
        match self.kind {
            StoreKind::Redis => "REDIS_URL",
            StoreKind::Postgres => "DATABASE_URL",
        }
    }

    fn command(&self, program: &str) -> Command {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(program);
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        command
    }

    /// Starts the server (again) and waits until it answers.
    pub fn restart(&mut self) -> Result<(), BoxError> {
        let port = self.port.to_string();
        let mut command = match self.kind {
            StoreKind::Redis => {
                let mut command = Command::new("redis-server");
                command
                    .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
                    .args(["--appendonly", "yes", "--appendfsync", "always"])
                    .arg("--dir")
                    .arg(&self.dir);
                command
            }
            StoreKind::Postgres => {
                let mut command = self.command("postgres");
                command
                    .arg("-D")
                    .arg(self.dir.join("data"))
                    .args(["-p", &port, "-c", "listen_addresses=127.0.0.1"])
                    .args(["-c", "max_connections=200"])
                    .arg("-c")
                    .arg(format!("unix_socket_directories={}", self.dir.display()));
                command
            }
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the {} server: {e}", self.kind.name()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.answers() {
            if Instant::now() > deadline {
                return Err(format!("the {} server never answered", self.kind.name()).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn answers(&self) -> bool {
        let port = self.port.to_string();
        let status = match self.kind {
            StoreKind::Redis => Command::new("redis-cli")
                .args(["-p", &port, "ping"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status(),
            StoreKind::Postgres => Command::new("pg_isready")
                .args(["-q", "-h", "127.0.0.1", "-p", &port])
                .status(),
        };
        status.is_ok_and(|s| s.success())
    }

    /// Stops the server the hard way: `SIGKILL` for Redis, an immediate
    /// shutdown (`SIGQUIT`, every connection cut) for PostgreSQL.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.kind == StoreKind::Postgres {
            let _ = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for StoreServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `postgres` user's ids when this process runs as root (PostgreSQL
/// refuses to run as root).
fn postgres_user() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let out = Command::new("id").args(args).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    if id(&["-u"])? != 0 {
        return None;
    }
    Some((id(&["-u", "postgres"])?, id(&["-g", "postgres"])?))
}

/// A demo server process (`axum-demo` or `actix-demo`), killed on drop.
#[derive(Debug)]
pub struct Demo {
    /// Which binary, for the report.
    pub name: String,
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Demo {
    /// Starts `program` with `env` (and `BIND=127.0.0.1:0`) and waits for
    /// the line that tells its address. Its log goes to `log`.
    pub fn start(
        name: &str,
        program: &Path,
        env: &[(&str, String)],
        log: &Path,
    ) -> Result<Self, BoxError> {
        let log = std::fs::File::create(log)?;
        let mut child = Command::new(program)
            .env("BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(base) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            return Err(format!("{name} printed no address: {line:?}").into());
        };
        Ok(Demo {
            name: name.to_owned(),
            base: base.to_owned(),
            child,
        })
    }

    /// Its resident memory and open file descriptors now.
    pub fn usage(&self) -> Usage {
        Usage::of(self.child.id())
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a process holds at one moment, from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Resident set size in KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Open file descriptors (entries of `/proc/PID/fd`).
    pub fds: usize,
}

impl Usage {
    /// Reads it for process `pid` (zeros where `/proc` cannot be read).
    pub fn of(pid: u32) -> Usage {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0);
        Usage { rss_kib, fds }
    }
}

/// What periodic samples of one quantity show: the first sample (taken
/// after the warm-up), the largest, the last, and the least-squares slope
/// per minute over the second half of the samples' time span. A plateau
/// has a slope near zero however much it rose before; a leak keeps a
/// slope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// The first sample's value.
    pub first: f64,
    /// The largest value sampled.
    pub max: f64,
    /// The last sample's value.
    pub last: f64,
    /// Units per minute over the second half (0 with fewer than two
    /// samples there).
    pub slope_per_min: f64,
}

impl Trend {
    /// The trend of `(seconds, value)` samples, in time order; `None`
    /// without samples.
    pub fn of(samples: &[(f64, f64)]) -> Option<Trend> {
        let (start, first) = *samples.first()?;
        let (end, last) = *samples.last()?;
        let max = samples.iter().map(|&(_, v)| v).fold(first, f64::max);
        let middle = start + (end - start) / 2.0;
        let late: Vec<(f64, f64)> = samples
            .iter()
            .copied()
            .filter(|&(t, _)| t >= middle)
            .collect();
        Some(Trend {
            first,
            max,
            last,
            slope_per_min: slope(&late) * 60.0,
        })
    }
}

/// The least-squares slope of `(x, y)` points (0 for fewer than two
/// distinct x).
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for &(x, y) in points {
        covariance += (x - mean_x) * (y - mean_y);
        variance += (x - mean_x) * (x - mean_x);
    }
    if variance > 0.0 {
        covariance / variance
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(value: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        (0..=30)
            .map(|i| f64::from(i) * 10.0)
            .map(|t| (t, value(t)))
            .collect()
    }

    #[test]
    fn a_steady_growth_keeps_its_slope() {
        // 2 units per second.
        let trend = Trend::of(&samples(|t| 100.0 + 2.0 * t)).unwrap();
        assert_eq!((trend.first, trend.max, trend.last), (100.0, 700.0, 700.0));
        assert!((trend.slope_per_min - 120.0).abs() < 1e-9, "{trend:?}");
    }

    #[test]
    fn a_plateau_has_no_slope_in_its_second_half() {
        // Rises for the first minute, then stays.
        let trend = Trend::of(&samples(|t| 100.0 + t.min(60.0))).unwrap();
        assert_eq!((trend.first, trend.max, trend.last), (100.0, 160.0, 160.0));
        assert!(trend.slope_per_min.abs() < 1e-9, "{trend:?}");
    }

    #[test]
    fn few_samples_give_no_slope() {
        assert_eq!(Trend::of(&[]), None);
        let one = Trend::of(&[(5.0, 3.0)]).unwrap();
        assert_eq!(
            (one.first, one.max, one.last, one.slope_per_min),
            (3.0, 3.0, 3.0, 0.0)
        );
    }
}
