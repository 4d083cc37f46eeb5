//! A TCP proxy that delays every byte by a fixed time in each direction:
//! Redis "on a real network" for the load benchmark, on loopback.
//!
//! Each connection gets four threads: per direction one that reads and
//! stamps each chunk with its arrival time, and one that writes it once the
//! delay has passed since then. Pipelined traffic keeps flowing (a chunk
//! waits only for its own delay, not for the chunks before it to be
//! answered), so the proxy adds latency, not a throughput limit. Threads
//! sleep with the operating system's timer (tens of microseconds on Linux),
//! finer than tokio's millisecond timer wheel.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// A running delay proxy; dropping it stops accepting (connections already
/// open end when either side closes).
#[derive(Debug)]
pub struct DelayProxy {
    addr: SocketAddr,
    delay: Duration,
    stop: Arc<AtomicBool>,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards to `upstream` with
    /// `delay` added each way.
    pub fn start(upstream: SocketAddr, delay: Duration) -> std::io::Result<DelayProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                match TcpStream::connect(upstream) {
                    Ok(server) => connect(client, server, delay),
                    Err(error) => eprintln!("delay proxy: cannot reach {upstream}: {error}"),
                }
            }
        });
        Ok(DelayProxy { addr, delay, stop })
    }

    /// The address to connect to instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The delay added each way.
    pub fn delay(&self) -> Duration {
        self.delay
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn connect(client: TcpStream, server: TcpStream, delay: Duration) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_w), Ok(server_w)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    pipe(client, server_w, delay);
    pipe(server, client_w, delay);
}

/// `from` to `to`, each chunk delayed.
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => return, // dropping tx ends the writer
                Ok(n) => {
                    if tx.send((Instant::now(), buffer[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        for (arrived, chunk) in rx {
            let due = arrived + delay;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_go_through_both_ways_in_order() {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = upstream.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut conn, _) = upstream.accept().unwrap();
            let mut buffer = [0u8; 5];
            conn.read_exact(&mut buffer).unwrap();
            buffer.reverse();
            conn.write_all(&buffer).unwrap();
        });
        let proxy = DelayProxy::start(addr, Duration::from_micros(200)).unwrap();
        let mut conn = TcpStream::connect(proxy.addr()).unwrap();
        conn.write_all(b"he").unwrap();
        conn.write_all(b"llo").unwrap();
        let mut answer = [0u8; 5];
        conn.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"olleh");
    }
}
