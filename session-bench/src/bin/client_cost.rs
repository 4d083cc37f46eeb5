//! What one Redis command costs the client, in instructions: fred (the
//! client of our Redis store) against redis-rs (the `redis` crate, what
//! axum_session's Redis store is built on), for the commands a session
//! request sends. For `valgrind --tool=callgrind`:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect=client_cost::measured \
//!     target/release/client_cost fred get 4000 [--tasks 1] [--redis URL]
//! ```
//!
//! Only `measured` is collected (connecting and loading the script are
//! left out): divide the total by the command count for instructions per
//! command. `CLIENT` is `fred` or `redis-rs`; `COMMAND` is `get` (a
//! 100-byte value), `set` (the same with `PXAT`) or `script` (`EVALSHA` of
//! a script of two keys and three arguments that only answers 1, as the
//! serialize policy's commit is sent). `--tasks N` sends them from N tasks
//! at once, so that a client may write several commands together.
//!
//! fred is configured as the store configures it (a timeout, fail-fast and
//! one attempt per command), redis-rs with its defaults (a multiplexed
//! connection); both on one current-thread tokio runtime.

use std::rc::Rc;

use fred::interfaces::{ClientLike, KeysInterface};
use fred::prelude::{Client, Config};
use fred::types::config::Options;
use fred::types::{ClusterHash, CustomCommand, Expiration, Value};
use session_bench::BoxError;

const USAGE: &str =
    "usage: client_cost (fred|redis-rs) (get|set|script) COMMANDS [--tasks N] [--redis URL]";

/// The script: two keys and three arguments, as `save_held` takes them.
const SCRIPT: &str = "return 1";

/// A value of the size of a small session record.
const VALUE: [u8; 100] = [7; 100];

#[derive(Clone, Copy)]
enum Command {
    Get,
    Set,
    Script,
}

/// A connected client of either kind.
enum Connection {
    Fred(Client, Options),
    RedisRs(redis::aio::MultiplexedConnection),
}

fn main() {
    if let Err(error) = run() {
        eprintln!("client_cost: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [client, command, count, rest @ ..] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let command = match command.as_str() {
        "get" => Command::Get,
        "set" => Command::Set,
        "script" => Command::Script,
        _ => return Err(USAGE.into()),
    };
    let count: usize = count.parse()?;
    let (mut tasks, mut url) = (1usize, "redis://127.0.0.1:6379".to_owned());
    let mut flags = rest.iter();
    while let Some(flag) = flags.next() {
        let value = flags.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--tasks" => tasks = value.parse()?,
            "--redis" => url = value.clone(),
            _ => return Err(USAGE.into()),
        }
    }
    if tasks == 0 {
        return Err("--tasks must be at least 1".into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let connection = local.block_on(&runtime, connect(client, &url))?;
    let sha = local.block_on(&runtime, load_script(&url))?;
    let run = Run {
        command,
        count,
        tasks,
        keys: Rc::new(Keys::new()),
        sha: Rc::new(sha),
    };
    measured(&runtime, &local, connection, &run)?;
    eprintln!("{client} {} x {count} from {tasks} tasks: done", args[1]);
    Ok(())
}

/// What to send, how often, from how many tasks.
struct Run {
    command: Command,
    count: usize,
    tasks: usize,
    keys: Rc<Keys>,
    sha: Rc<String>,
}

/// This run's keys, under a prefix of its own.
struct Keys {
    record: String,
    lock: String,
}

impl Keys {
    fn new() -> Self {
        let tag = &session_core::crypto::token::random_token()[..8];
        Keys {
            record: format!("bench:client:{tag}:{{r}}"),
            lock: format!("bench:client:{tag}:lock:{{r}}"),
        }
    }
}

async fn connect(client: &str, url: &str) -> Result<Connection, BoxError> {
    Ok(match client {
        "fred" => {
            let client = Client::new(Config::from_url(url)?, None, None, None);
            client.init().await?;
            let options = Options {
                timeout: Some(std::time::Duration::from_secs(2)),
                fail_fast: true,
                max_attempts: Some(1),
                ..Options::default()
            };
            Connection::Fred(client, options)
        }
        "redis-rs" => {
            let client = redis::Client::open(url)?;
            Connection::RedisRs(client.get_multiplexed_async_connection().await?)
        }
        _ => return Err(USAGE.into()),
    })
}

/// Loads the script (so that every call is one `EVALSHA`); its SHA1.
async fn load_script(url: &str) -> Result<String, BoxError> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(SCRIPT)
        .query_async(&mut connection)
        .await?;
    Ok(sha)
}

/// The measured commands; `#[inline(never)]` so callgrind can toggle on it.
#[inline(never)]
fn measured(
    runtime: &tokio::runtime::Runtime,
    local: &tokio::task::LocalSet,
    connection: Connection,
    run: &Run,
) -> Result<(), BoxError> {
    let connection = Rc::new(connection);
    let (command, count, tasks) = (run.command, run.count, run.tasks);
    local.block_on(runtime, async {
        let handles: Vec<_> = (0..tasks)
            .map(|task| {
                let (connection, keys, sha) =
                    (connection.clone(), run.keys.clone(), run.sha.clone());
                let share = count / tasks + usize::from(task < count % tasks);
                tokio::task::spawn_local(async move {
                    for _ in 0..share {
                        send(&connection, command, &keys, &sha).await?;
                    }
                    Ok::<_, BoxError>(())
                })
            })
            .collect();
        for handle in handles {
            handle.await??;
        }
        Ok(())
    })
}

/// One command, its reply read and dropped.
async fn send(
    connection: &Connection,
    command: Command,
    keys: &Keys,
    sha: &str,
) -> Result<(), BoxError> {
    let at = i64::try_from(std::time::UNIX_EPOCH.elapsed()?.as_millis())? + 60_000;
    match connection {
        Connection::Fred(client, options) => {
            let client = client.with_options(options);
            match command {
                Command::Get => {
                    let _: Value = client.get(keys.record.as_str()).await?;
                }
                Command::Set => {
                    let value = Value::Bytes(VALUE.to_vec().into());
                    let expire = Some(Expiration::PXAT(at));
                    let _: Value = client
                        .set(keys.record.as_str(), value, expire, None, false)
                        .await?;
                }
                Command::Script => {
                    let command = CustomCommand::new_static("EVALSHA", ClusterHash::Random, false);
                    let args: Vec<Value> = vec![
                        sha.into(),
                        2.into(),
                        keys.record.as_str().into(),
                        keys.lock.as_str().into(),
                        Value::Bytes(VALUE.to_vec().into()),
                        at.into(),
                        "0123456789abcdef0123456789abcdef".into(),
                    ];
                    let _: Value = client.custom(command, args).await?;
                }
            }
        }
        Connection::RedisRs(connection) => {
            let mut connection = connection.clone();
            let mut cmd = match command {
                Command::Get => redis::cmd("GET"),
                Command::Set => redis::cmd("SET"),
                Command::Script => redis::cmd("EVALSHA"),
            };
            match command {
                Command::Get => cmd.arg(&keys.record),
                Command::Set => cmd.arg(&keys.record).arg(&VALUE[..]).arg("PXAT").arg(at),
                Command::Script => cmd
                    .arg(sha)
                    .arg(2)
                    .arg(&keys.record)
                    .arg(&keys.lock)
                    .arg(&VALUE[..])
                    .arg(at)
                    .arg("0123456789abcdef0123456789abcdef"),
            };
            let _: redis::Value = cmd.query_async(&mut connection).await?;
        }
    }
    Ok(())
}
