//! Apps in child processes, for the benchmarks that measure across process
//! boundaries: the benchmark binary starts itself as `BIN serve APP
//! [flags]` ([`serve_main`] in the child), reads the address it prints and
//! drives it on loopback ([`AppProcess`] in the parent).
//!
//! A child of its own per app keeps the app's CPU time, memory and
//! scheduling apart from the load generator's, and several children on one
//! store are what several processes of one deployment are.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::apps::{self, ServeOptions, Variant};
use crate::BoxError;

/// The flags [`serve_main`] takes after the app's name.
pub const SERVE_FLAGS: &str = "[--redis URL] [--prefix PREFIX] [--postgres URL TABLE] \
     [--secret SECRET] [--lock-wakeups on|off] [--handler-ms MS]";

/// The child's side: runs the app `args[0]` with the options of the flags
/// after it ([`SERVE_FLAGS`]) on a free loopback port, and prints
/// `LISTENING <addr>` once it accepts. Returns only if the app fails.
pub fn serve_main(args: &[String]) -> Result<(), BoxError> {
    let variant: Variant = args
        .first()
        .ok_or_else(|| format!("serve needs an app: serve APP {SERVE_FLAGS}"))?
        .parse()?;
    let options = serve_options(&args[1..])?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    apps::serve(variant, listener, options, |addr| {
        // The one line the parent reads (stdout is the protocol, not a log).
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "LISTENING {addr}");
        let _ = stdout.flush();
    })
}

fn serve_options(args: &[String]) -> Result<ServeOptions, BoxError> {
    let mut options = ServeOptions::default();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--redis" => options.redis_url = Some(value.clone()),
            "--prefix" => options.redis_prefix = value.clone(),
            "--postgres" => {
                let table = rest.next().ok_or("--postgres needs a URL and a table")?;
                options.postgres = Some((value.clone(), table.clone()));
            }
            "--secret" => options.secret = Some(value.clone()),
            "--lock-wakeups" => options.lock_wakeups = Some(on_off(flag, value)?),
            "--handler-ms" => {
                options.handler_delay = Some(Duration::from_secs_f64(value.parse::<f64>()? / 1e3))
            }
            _ => return Err(format!("unknown flag {flag}: serve APP {SERVE_FLAGS}").into()),
        }
    }
    Ok(options)
}

fn on_off(flag: &str, value: &str) -> Result<bool, BoxError> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{flag} takes on or off, not {value:?}").into()),
    }
}

/// The flags that give a child `options` (the inverse of what
/// [`serve_main`] reads).
fn flags(options: &ServeOptions) -> Vec<String> {
    let mut flags = Vec::new();
    if let Some(url) = &options.redis_url {
        flags.extend(["--redis".to_owned(), url.clone()]);
        flags.extend(["--prefix".to_owned(), options.redis_prefix.clone()]);
    }
    if let Some((url, table)) = &options.postgres {
        flags.extend(["--postgres".to_owned(), url.clone(), table.clone()]);
    }
    if let Some(secret) = &options.secret {
        flags.extend(["--secret".to_owned(), secret.clone()]);
    }
    if let Some(on) = options.lock_wakeups {
        let value = if on { "on" } else { "off" };
        flags.extend(["--lock-wakeups".to_owned(), value.to_owned()]);
    }
    if let Some(delay) = options.handler_delay {
        let ms = delay.as_secs_f64() * 1e3;
        flags.extend(["--handler-ms".to_owned(), ms.to_string()]);
    }
    flags
}

/// A child app process, killed on drop.
#[derive(Debug)]
pub struct AppProcess {
    child: Child,
    addr: SocketAddr,
}

impl AppProcess {
    /// Starts this binary as `serve VARIANT` with `options`, and waits (up
    /// to 30 s) until it listens.
    pub fn start(variant: Variant, options: &ServeOptions) -> Result<Self, BoxError> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .arg(variant.to_string())
            .args(flags(options))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        // Killed on drop from here on, whatever the reading of its first
        // line gives.
        let mut process = AppProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| format!("{variant} did not start within 30 s"))?;
        process.addr = line
            .trim()
            .strip_prefix("LISTENING ")
            .ok_or_else(|| format!("{variant} did not start (it printed {line:?})"))?
            .parse()?;
        Ok(process)
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id, for its CPU time.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_reads_back_the_options_it_was_given() {
        let options = ServeOptions {
            redis_url: Some("redis://127.0.0.1:1".to_owned()),
            redis_prefix: "p:".to_owned(),
            postgres: Some(("postgres://h/db".to_owned(), "t".to_owned())),
            secret: Some("s".repeat(32)),
            lock_wakeups: Some(false),
            handler_delay: Some(Duration::from_millis(5)),
        };
        let read = serve_options(&flags(&options)).expect("the flags parse");
        assert_eq!(read.redis_url, options.redis_url);
        assert_eq!(read.redis_prefix, options.redis_prefix);
        assert_eq!(read.postgres, options.postgres);
        assert_eq!(read.secret, options.secret);
        assert_eq!(read.lock_wakeups, Some(false));
        assert_eq!(read.handler_delay, options.handler_delay);
    }

    #[test]
    fn a_bad_switch_is_refused_with_its_name() {
        let args = ["--lock-wakeups".to_owned(), "maybe".to_owned()];
        let error = serve_options(&args).expect_err("maybe is neither on nor off");
        assert!(error.to_string().contains("--lock-wakeups"), "{error}");
    }
}
