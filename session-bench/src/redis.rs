//! A private `redis-server` for the Redis variants, and the admin commands
//! the benchmark needs.
//!
//! The benchmark starts its own server on a free loopback port rather than
//! using a shared one: `INFO commandstats` then counts the benchmarked app's
//! commands and nobody else's, and a peer that cannot prefix its keys
//! (tower-sessions-redis-store) writes into a database that dies with the
//! run. Every variant still gets its own key prefix, removed with `SCAN` +
//! `DEL` of that prefix only when the variant ends.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BoxError;

/// A `redis-server` child process on a loopback port, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    addr: SocketAddr,
}

impl RedisServer {
    /// Starts `redis-server` (found on `PATH`) on a free loopback port, with
    /// persistence off, and waits until it answers `PING`.
    pub fn start() -> Result<Self, BoxError> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start redis-server (is it installed?): {e}"))?;
        let server = RedisServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        server.wait_ready(Duration::from_secs(5))?;
        Ok(server)
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), BoxError> {
        let start = Instant::now();
        loop {
            if let Ok(mut admin) = RedisAdmin::connect(self.addr) {
                if admin.command(&["PING"]).is_ok() {
                    return Ok(());
                }
            }
            if start.elapsed() > limit {
                return Err(
                    format!("redis-server on {} did not answer in {limit:?}", self.addr).into(),
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `redis://` URL of the server.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound and released; the window for a race is tiny
/// and a clash fails loudly at start).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One RESP value, as far as the admin commands need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    /// `+OK` and friends.
    Simple(String),
    /// `:42`.
    Integer(i64),
    /// `$n` bulk string (`None` for the null bulk string).
    Bulk(Option<Vec<u8>>),
    /// `*n` array (`None` for the null array).
    Array(Option<Vec<Resp>>),
}

/// A blocking admin connection: a handful of commands between measurement
/// windows, never during one.
#[derive(Debug)]
pub struct RedisAdmin {
    reader: BufReader<TcpStream>,
}

impl RedisAdmin {
    /// Connects (loopback only).
    pub fn connect(addr: SocketAddr) -> Result<Self, BoxError> {
        if !addr.ip().is_loopback() {
            return Err(format!("refusing a non-loopback Redis address {addr}").into());
        }
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(RedisAdmin {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command and reads its answer; a Redis error is an `Err`.
    pub fn command(&mut self, args: &[&str]) -> Result<Resp, BoxError> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&out)?;
        read_resp(&mut self.reader)
    }

    /// Calls per command since the server started (`INFO commandstats`),
    /// lower-case command names.
    pub fn commandstats(&mut self) -> Result<CommandStats, BoxError> {
        match self.command(&["INFO", "commandstats"])? {
            Resp::Bulk(Some(text)) => Ok(CommandStats::parse(&String::from_utf8_lossy(&text))),
            other => Err(format!("unexpected INFO answer {other:?}").into()),
        }
    }

    /// Read events the server has processed since it started
    /// (`total_reads_processed` of `INFO stats`), this connection's own
    /// included.
    pub fn reads_processed(&mut self) -> Result<u64, BoxError> {
        match self.command(&["INFO", "stats"])? {
            Resp::Bulk(Some(text)) => parse_reads_processed(&String::from_utf8_lossy(&text))
                .ok_or_else(|| "INFO stats has no total_reads_processed".into()),
            other => Err(format!("unexpected INFO answer {other:?}").into()),
        }
    }

    /// Deletes every key that starts with `prefix` (`SCAN MATCH` + `DEL`),
    /// and nothing else. Answers how many were deleted.
    pub fn delete_prefix(&mut self, prefix: &str) -> Result<u64, BoxError> {
        if prefix.is_empty() {
            return Err("refusing to delete an empty prefix (that is every key)".into());
        }
        let pattern = format!("{}*", escape_glob(prefix));
        let mut cursor = "0".to_owned();
        let mut deleted = 0;
        loop {
            let answer = self.command(&["SCAN", &cursor, "MATCH", &pattern, "COUNT", "1000"])?;
            let (next, keys) = scan_page(answer)?;
            if !keys.is_empty() {
                let mut args = vec!["DEL"];
                args.extend(keys.iter().map(String::as_str));
                if let Resp::Integer(n) = self.command(&args)? {
                    deleted += n as u64;
                }
            }
            if next == "0" {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

/// The `total_reads_processed` field of an `INFO stats` answer.
fn parse_reads_processed(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix("total_reads_processed:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Counts the round trips clients make to the server: Redis counts one read
/// event each time it reads from a client's socket, so while one request at
/// a time is in flight and nothing else talks to the server, every round
/// trip of the app is one read, however many commands it pipelines in it,
/// as long as it writes them together: commands pipelined but written
/// separately (the client does not wait in between) can reach Redis in two
/// reads, and count as two. The count is then what Redis pays, a bound
/// above the round trips the app waits for.
///
/// The counter's own `INFO` calls are reads too; their share is measured
/// once, at connect time, and taken off every count.
#[derive(Debug)]
pub struct ReadCounter {
    admin: RedisAdmin,
    own_reads: u64,
}

impl ReadCounter {
    /// Connects and measures what one reading costs: the least difference
    /// of consecutive readings with nothing in between (1 on Redis 7, the
    /// read of the second `INFO`); the least of a few, so that a stray read
    /// of another client cannot inflate it.
    pub fn connect(addr: SocketAddr) -> Result<Self, BoxError> {
        let mut admin = RedisAdmin::connect(addr)?;
        let mut previous = admin.reads_processed()?;
        let mut own_reads = u64::MAX;
        for _ in 0..3 {
            let next = admin.reads_processed()?;
            own_reads = own_reads.min(next.saturating_sub(previous));
            previous = next;
        }
        Ok(ReadCounter { admin, own_reads })
    }

    /// A reading, to pass to [`ReadCounter::reads_since`] later.
    pub fn reading(&mut self) -> Result<u64, BoxError> {
        self.admin.reads_processed()
    }

    /// The reads of other clients since `earlier`, this counter's own left
    /// out.
    pub fn reads_since(&mut self, earlier: u64) -> Result<u64, BoxError> {
        let now = self.admin.reads_processed()?;
        Ok(now.saturating_sub(earlier).saturating_sub(self.own_reads))
    }

    /// What one reading costs, in reads.
    pub fn own_reads(&self) -> u64 {
        self.own_reads
    }
}

/// Counts the commands that clients send, as `MONITOR` shows them: commands
/// run inside scripts (`[0 lua]`) are left out, so an `EVALSHA` counts once
/// however many calls its script makes. `INFO commandstats` counts both.
/// `MONITOR` slows Redis down, so it runs only in a short counting phase,
/// never while throughput is measured.
#[derive(Debug)]
pub struct Monitor {
    addr: SocketAddr,
    marker: String,
    reader: std::thread::JoinHandle<Result<BTreeMap<String, u64>, String>>,
}

impl Monitor {
    /// Starts monitoring.
    pub fn start(addr: SocketAddr) -> Result<Self, BoxError> {
        let mut admin = RedisAdmin::connect(addr)?;
        match admin.command(&["MONITOR"])? {
            Resp::Simple(ok) if ok == "OK" => {}
            other => return Err(format!("unexpected MONITOR answer {other:?}").into()),
        }
        let marker = format!("loadbench-monitor-end-{}", std::process::id());
        let end = marker.clone();
        let mut reader = admin.reader;
        let reader = std::thread::spawn(move || {
            let mut sent = BTreeMap::new();
            loop {
                let line = read_line(&mut reader).map_err(|e| e.to_string())?;
                if line.contains(&end) {
                    return Ok(sent);
                }
                if let Some(name) = monitored_command(&line) {
                    *sent.entry(name).or_insert(0) += 1;
                }
            }
        });
        Ok(Monitor {
            addr,
            marker,
            reader,
        })
    }

    /// Stops monitoring and answers the commands sent per command name.
    pub fn finish(self) -> Result<BTreeMap<String, u64>, BoxError> {
        RedisAdmin::connect(self.addr)?.command(&["ECHO", &self.marker])?;
        self.reader
            .join()
            .map_err(|_| "the MONITOR reader panicked")?
            .map_err(Into::into)
    }
}

/// The lower-case command name of a `MONITOR` line, unless it ran inside a
/// script: `+1700000000.1 [0 127.0.0.1:5000] "GET" "k"` gives `get`,
/// `+1700000000.1 [0 lua] "hget" ...` gives nothing.
fn monitored_command(line: &str) -> Option<String> {
    let (client, rest) = line.split_once("] ")?;
    if client.ends_with(" lua") {
        return None;
    }
    let name = rest.strip_prefix('"')?.split('"').next()?;
    Some(name.to_ascii_lowercase())
}

/// Escapes the glob characters of a literal prefix for `SCAN MATCH`.
pub(crate) fn escape_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn scan_page(answer: Resp) -> Result<(String, Vec<String>), BoxError> {
    let Resp::Array(Some(parts)) = answer else {
        return Err("unexpected SCAN answer".into());
    };
    match parts.as_slice() {
        [Resp::Bulk(Some(cursor)), Resp::Array(Some(keys))] => {
            let keys = keys
                .iter()
                .filter_map(|k| match k {
                    Resp::Bulk(Some(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
                    _ => None,
                })
                .collect();
            Ok((String::from_utf8_lossy(cursor).into_owned(), keys))
        }
        _ => Err("unexpected SCAN answer".into()),
    }
}

fn read_line(reader: &mut impl BufRead) -> Result<String, BoxError> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err("Redis closed the connection".into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Reads one RESP2 value.
pub fn read_resp(reader: &mut impl BufRead) -> Result<Resp, BoxError> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    match kind {
        "+" => Ok(Resp::Simple(rest.to_owned())),
        "-" => Err(format!("Redis error: {rest}").into()),
        ":" => Ok(Resp::Integer(rest.parse()?)),
        "$" => {
            let len: i64 = rest.parse()?;
            if len < 0 {
                return Ok(Resp::Bulk(None));
            }
            let mut buf = vec![0; len as usize + 2];
            reader.read_exact(&mut buf)?;
            buf.truncate(len as usize);
            Ok(Resp::Bulk(Some(buf)))
        }
        "*" => {
            let len: i64 = rest.parse()?;
            if len < 0 {
                return Ok(Resp::Array(None));
            }
            let items = (0..len)
                .map(|_| read_resp(reader))
                .collect::<Result<_, _>>()?;
            Ok(Resp::Array(Some(items)))
        }
        _ => Err(format!("unexpected RESP line {line:?}").into()),
    }
}

/// Calls per command, from `INFO commandstats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandStats(pub BTreeMap<String, u64>);

impl CommandStats {
    /// Parses lines like `cmdstat_get:calls=12,usec=30,...`.
    ///
    /// ```
    /// use session_bench::redis::CommandStats;
    ///
    /// let stats = CommandStats::parse("# Commandstats\r\ncmdstat_get:calls=12,usec=30\r\n");
    /// assert_eq!(stats.0["get"], 12);
    /// ```
    pub fn parse(text: &str) -> Self {
        let mut calls = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("cmdstat_") else {
                continue;
            };
            let Some((name, fields)) = rest.split_once(':') else {
                continue;
            };
            let count = fields
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .and_then(|n| n.trim().parse().ok());
            if let Some(count) = count {
                calls.insert(name.to_ascii_lowercase(), count);
            }
        }
        CommandStats(calls)
    }

    /// The calls made between `self` and a later snapshot, per command,
    /// leaving out the admin's own `INFO`.
    pub fn delta_to(&self, later: &CommandStats) -> BTreeMap<String, u64> {
        later
            .0
            .iter()
            .filter(|(name, _)| name.as_str() != "info")
            .filter_map(|(name, &after)| {
                let before = self.0.get(name).copied().unwrap_or(0);
                (after > before).then(|| (name.clone(), after - before))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_leaves_out_info_and_unchanged_commands() {
        let before = CommandStats::parse(
            "cmdstat_get:calls=10,usec=1\ncmdstat_info:calls=1\ncmdstat_del:calls=3",
        );
        let after = CommandStats::parse(
            "cmdstat_get:calls=25,usec=9\ncmdstat_info:calls=2\ncmdstat_set:calls=4\ncmdstat_del:calls=3",
        );
        let delta = before.delta_to(&after);
        assert_eq!(delta.get("get"), Some(&15));
        assert_eq!(delta.get("set"), Some(&4));
        assert_eq!(delta.get("info"), None);
        assert_eq!(delta.get("del"), None);
    }

    #[test]
    fn resp_reader_reads_nested_values() {
        let mut input: &[u8] = b"*2\r\n$1\r\n0\r\n*2\r\n$3\r\nabc\r\n$-1\r\n";
        let value = read_resp(&mut input).unwrap();
        assert_eq!(
            value,
            Resp::Array(Some(vec![
                Resp::Bulk(Some(b"0".to_vec())),
                Resp::Array(Some(vec![
                    Resp::Bulk(Some(b"abc".to_vec())),
                    Resp::Bulk(None)
                ])),
            ]))
        );
        let mut error: &[u8] = b"-ERR nope\r\n";
        assert!(read_resp(&mut error).is_err());
    }

    #[test]
    fn monitor_lines_leave_out_script_calls() {
        assert_eq!(
            monitored_command(r#"+1700000000.123 [0 127.0.0.1:5000] "EVALSHA" "abc" "1""#)
                .as_deref(),
            Some("evalsha")
        );
        assert_eq!(
            monitored_command(r#"+1700000000.123 [0 lua] "hmget" "k""#),
            None
        );
        assert_eq!(monitored_command("+OK"), None);
    }

    #[test]
    fn reads_processed_is_read_from_info_stats() {
        let info = "# Stats\r\ntotal_connections_received:3\r\ntotal_reads_processed:1234\r\ntotal_writes_processed:99\r\n";
        assert_eq!(parse_reads_processed(info), Some(1234));
        assert_eq!(parse_reads_processed("# Stats\r\n"), None);
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("bench:a*b?[c]\\"), "bench:a\\*b\\?\\[c\\]\\\\");
    }
}
