//! The HTTP load generator.
//!
//! Each virtual user holds its own HTTP/1.1 keep-alive connection and its
//! own cookie jar, and sends one request
//! at a time: a closed loop, like a browser tab that waits for each answer.
//! A phase runs every user until a deadline or a request cap, whichever comes
//! first; users and their cookies persist from one phase to the next, so the
//! sessions a warm-up creates are the ones the measured phases use.
//! Only loopback addresses are accepted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stats::percentile;
use crate::BoxError;

/// A client-side cookie jar: the cookies the server set, sent back on every
/// request (names, values; attributes are ignored, as everything is on one
/// host and path).
#[derive(Debug, Default, Clone)]
pub struct CookieJar {
    cookies: Vec<(String, String)>,
    header: Option<HeaderValue>,
}

impl CookieJar {
    /// Applies one `Set-Cookie` header: stores or replaces the cookie, or
    /// removes it when the value is empty or `Max-Age` is zero or negative.
    ///
    /// ```
    /// use session_bench::loadgen::CookieJar;
    ///
    /// let mut jar = CookieJar::default();
    /// jar.store("_session=abc; HttpOnly; Path=/; Max-Age=3600");
    /// assert_eq!(jar.header().unwrap(), "_session=abc");
    /// jar.store("_session=; Max-Age=0");
    /// assert!(jar.header().is_none());
    /// ```
    pub fn store(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim());
        let expired = parts.any(|attr| {
            let attr = attr.trim();
            attr.get(..8)
                .is_some_and(|k| k.eq_ignore_ascii_case("max-age="))
                && attr[8..].trim().parse::<i64>().is_ok_and(|age| age <= 0)
        });
        let keep = !expired && !value.is_empty();
        // The same cookie again (a refreshed Max-Age) changes nothing: the
        // jar stays cheap for the client, which shares the machine.
        if keep && self.cookies.iter().any(|(n, v)| n == name && v == value) {
            return;
        }
        self.cookies.retain(|(n, _)| n != name);
        if keep {
            self.cookies.push((name.to_owned(), value.to_owned()));
        }
        self.header = self.render();
    }

    fn render(&self) -> Option<HeaderValue> {
        if self.cookies.is_empty() {
            return None;
        }
        let text = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::try_from(text).ok()
    }

    /// The `Cookie` header to send, if any.
    pub fn header(&self) -> Option<&HeaderValue> {
        self.header.as_ref()
    }
}

/// One answer, as the sanity check reads it.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: Vec<u8>,
    /// How many `Set-Cookie` headers came with it.
    pub set_cookies: usize,
}

/// A virtual user: a keep-alive HTTP/1.1 connection and a cookie jar.
///
/// The client is a few lines over a `TcpStream` (requests written by hand,
/// responses parsed with `httparse`) rather than hyper's client: on a
/// 2-core machine the load generator shares the CPU with the server, and
/// every cycle it saves goes to the server under test.
#[derive(Debug)]
pub struct VirtualUser {
    addr: SocketAddr,
    stream: TcpStream,
    request: Vec<u8>,
    buffer: Vec<u8>,
    jar: CookieJar,
}

/// The most response headers read; the apps send about five.
const MAX_HEADERS: usize = 32;

impl VirtualUser {
    /// Connects to a loopback address.
    pub async fn connect(addr: SocketAddr) -> Result<Self, BoxError> {
        if !addr.ip().is_loopback() {
            return Err(format!("the load generator targets loopback only, not {addr}").into());
        }
        Ok(VirtualUser {
            addr,
            stream: connect(addr).await?,
            request: Vec::with_capacity(512),
            buffer: Vec::with_capacity(4096),
            jar: CookieJar::default(),
        })
    }

    /// Sends `GET path` with the jar's cookies and stores the cookies of
    /// the answer.
    pub async fn get(&mut self, path: &str) -> Result<Answer, BoxError> {
        self.write_request(path);
        self.stream.write_all(&self.request).await?;
        self.buffer.clear();
        let head = loop {
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                return Err("the server closed the connection".into());
            }
            if let Some(head) = parse_head(&self.buffer, &mut self.jar)? {
                break head;
            }
        };
        let end = head.length + head.body_len;
        while self.buffer.len() < end {
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                return Err("the server closed the connection in a body".into());
            }
        }
        if head.status.is_success() && !head.json {
            return Err(
                format!("GET {path} answered without Content-Type: application/json").into(),
            );
        }
        Ok(Answer {
            status: head.status,
            body: self.buffer[head.length..end].to_vec(),
            set_cookies: head.set_cookies,
        })
    }

    fn write_request(&mut self, path: &str) {
        let out = &mut self.request;
        out.clear();
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\n");
        if let Some(cookie) = self.jar.header() {
            out.extend_from_slice(b"Cookie: ");
            out.extend_from_slice(cookie.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    async fn reconnect(&mut self) -> Result<(), BoxError> {
        self.stream = connect(self.addr).await?;
        Ok(())
    }

    /// The cookie jar.
    pub fn jar(&self) -> &CookieJar {
        &self.jar
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The parts of a response head the load generator needs.
#[derive(Debug)]
struct Head {
    status: StatusCode,
    /// Bytes of the head, up to the empty line included.
    length: usize,
    body_len: usize,
    set_cookies: usize,
    json: bool,
}

/// Parses a response head once it is complete, storing its cookies in `jar`.
fn parse_head(buffer: &[u8], jar: &mut CookieJar) -> Result<Option<Head>, BoxError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(length) = response.parse(buffer)? else {
        return Ok(None);
    };
    let status = StatusCode::from_u16(response.code.unwrap_or(0))?;
    let mut head = Head {
        status,
        length,
        body_len: 0,
        set_cookies: 0,
        json: false,
    };
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            head.body_len = std::str::from_utf8(header.value)?.trim().parse()?;
        } else if name.eq_ignore_ascii_case("set-cookie") {
            jar.store(std::str::from_utf8(header.value)?);
            head.set_cookies += 1;
        } else if name.eq_ignore_ascii_case("content-type") {
            head.json = header.value.starts_with(b"application/json");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked responses are not supported by the load generator".into());
        }
    }
    Ok(Some(head))
}

/// What one user measured in one phase.
#[derive(Debug, Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    set_cookies: u64,
    first_error: Option<String>,
}

/// The raw figures of one phase.
#[derive(Debug, Default)]
pub struct Phase {
    /// Completed requests (successful or not).
    pub requests: u64,
    /// Requests that failed or answered something other than 2xx.
    pub errors: u64,
    /// Responses that carried a `Set-Cookie`.
    pub set_cookies: u64,
    /// Wall time of the phase.
    pub elapsed: Duration,
    /// Latency of every successful request, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
}

/// The summary of one phase.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PhaseSummary {
    /// Completed requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Requests per second.
    pub rps: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Share of responses that carried a `Set-Cookie`.
    pub set_cookie_per_request: f64,
    /// CPU time of the server process per request, microseconds (all its
    /// threads, user + system), where measured.
    pub server_cpu_us: Option<f64>,
    /// CPU time of the Redis server per request, microseconds, where
    /// measured.
    pub redis_cpu_us: Option<f64>,
}

impl Phase {
    /// Requests per second, p50, p99 and the rest.
    pub fn summary(&self) -> PhaseSummary {
        let ms =
            |p| percentile(&self.latencies_us, p).map_or(f64::NAN, |us| f64::from(us) / 1000.0);
        let secs = self.elapsed.as_secs_f64();
        PhaseSummary {
            requests: self.requests,
            errors: self.errors,
            rps: if secs > 0.0 {
                (self.requests - self.errors) as f64 / secs
            } else {
                0.0
            },
            p50_ms: ms(50.0),
            p99_ms: ms(99.0),
            set_cookie_per_request: if self.requests > 0 {
                self.set_cookies as f64 / self.requests as f64
            } else {
                0.0
            },
            server_cpu_us: None,
            redis_cpu_us: None,
        }
    }
}

/// A crowd of virtual users.
#[derive(Debug, Default)]
pub struct Users {
    users: Vec<VirtualUser>,
}

impl Users {
    /// Connects `count` users to a loopback address.
    pub async fn connect(addr: SocketAddr, count: usize) -> Result<Self, BoxError> {
        Self::connect_spread(&[addr], count).await
    }

    /// Connects `count` users to the loopback addresses `addrs` by turns
    /// (user `i` to `addrs[i % addrs.len()]`): processes that share a store,
    /// as behind a load balancer.
    pub async fn connect_spread(addrs: &[SocketAddr], count: usize) -> Result<Self, BoxError> {
        if addrs.is_empty() {
            return Err("no address to connect the users to".into());
        }
        let mut users = Vec::with_capacity(count);
        for addr in addrs.iter().cycle().take(count) {
            users.push(VirtualUser::connect(*addr).await?);
        }
        Ok(Users { users })
    }

    /// Gives every user the first user's cookies, so that they all share
    /// one session (the contended case: tabs of one browser).
    pub fn share_first_session(&mut self) {
        if let Some(jar) = self.users.first().map(|u| u.jar.clone()) {
            for user in &mut self.users {
                user.jar = jar.clone();
            }
        }
    }

    /// `GET path` by the first user, outside any measurement.
    pub async fn first_get(&mut self, path: &str) -> Result<Answer, BoxError> {
        let user = self.users.first_mut().ok_or("no users")?;
        user.get(path).await
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Runs every user on `GET path` until `duration` has passed or
    /// `max_requests` requests have been sent in all, and answers what they
    /// measured. Must run inside a tokio runtime with a time driver.
    pub async fn run(
        &mut self,
        path: &'static str,
        duration: Duration,
        max_requests: u64,
    ) -> Phase {
        let sent = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let deadline = start + duration;
        let tasks: Vec<_> = std::mem::take(&mut self.users)
            .into_iter()
            .map(|user| {
                let sent = Arc::clone(&sent);
                tokio::spawn(user_loop(user, path, deadline, sent, max_requests))
            })
            .collect();
        let mut phase = Phase::default();
        for task in tasks {
            let Ok((user, tally)) = task.await else {
                phase.errors += 1;
                continue;
            };
            self.users.push(user);
            phase.requests += tally.latencies_us.len() as u64 + tally.errors;
            phase.errors += tally.errors;
            phase.set_cookies += tally.set_cookies;
            phase.latencies_us.extend(tally.latencies_us);
            phase.first_error = phase.first_error.or(tally.first_error);
        }
        phase.elapsed = start.elapsed();
        phase.latencies_us.sort_unstable();
        phase
    }
}

async fn user_loop(
    mut user: VirtualUser,
    path: &'static str,
    deadline: Instant,
    sent: Arc<AtomicU64>,
    max_requests: u64,
) -> (VirtualUser, Tally) {
    let mut tally = Tally::default();
    while Instant::now() < deadline && sent.fetch_add(1, Ordering::Relaxed) < max_requests {
        let start = Instant::now();
        let failure = match user.get(path).await {
            Ok(answer) if answer.status.is_success() => {
                let micros = start.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                tally.latencies_us.push(micros);
                tally.set_cookies += u64::from(answer.set_cookies > 0);
                None
            }
            Ok(answer) => Some(format!("GET {path}: {}", answer.status)),
            Err(error) => {
                // The connection may be gone: a fresh one keeps the load up.
                let _ = user.reconnect().await;
                Some(format!("GET {path}: {error}"))
            }
        };
        if let Some(failure) = failure {
            tally.errors += 1;
            tally.first_error.get_or_insert(failure);
        }
    }
    (user, tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jar_replaces_and_removes_cookies() {
        let mut jar = CookieJar::default();
        assert!(jar.header().is_none());
        jar.store("id=one; Path=/; HttpOnly");
        jar.store("other=x");
        assert_eq!(jar.header().unwrap(), "id=one; other=x");
        jar.store("id=two; Max-Age=60");
        assert_eq!(jar.header().unwrap(), "other=x; id=two");
        jar.store("id=gone; max-age=-1");
        jar.store("other=; Path=/");
        assert!(jar.header().is_none());
        jar.store("garbage without equals sign");
        assert!(jar.header().is_none());
    }

    #[test]
    fn summary_of_a_phase() {
        let phase = Phase {
            requests: 101,
            errors: 1,
            set_cookies: 50,
            elapsed: Duration::from_secs(2),
            latencies_us: (1..=100).map(|i| i * 100).collect(),
            first_error: None,
        };
        let s = phase.summary();
        assert_eq!(s.rps, 50.0);
        assert_eq!(s.p50_ms, 5.0);
        assert_eq!(s.p99_ms, 9.9);
        assert!((s.set_cookie_per_request - 50.0 / 101.0).abs() < 1e-9);
    }
}
