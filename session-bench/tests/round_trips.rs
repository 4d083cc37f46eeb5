//! The premise of the round-trip figure, on a private `redis-server`: Redis
//! counts one read per round trip of a client, however many commands the
//! client pipelines in it, and the counter's own readings are left out.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::io::{BufReader, Write};
use std::net::TcpStream;

use session_bench::redis::{read_resp, ReadCounter, RedisServer, Resp};

/// A client that writes raw RESP, to control what goes in one write.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(server: &RedisServer) -> Self {
        Client {
            reader: BufReader::new(TcpStream::connect(server.addr()).unwrap()),
        }
    }

    /// Writes `commands` in one write, then reads one answer per command.
    fn pipeline(&mut self, commands: &[&[&str]]) -> Vec<Resp> {
        let mut out = Vec::new();
        for args in commands {
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for arg in *args {
                out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
            }
        }
        self.reader.get_mut().write_all(&out).unwrap();
        commands
            .iter()
            .map(|_| read_resp(&mut self.reader).unwrap())
            .collect()
    }
}

#[test]
fn one_read_per_round_trip_whatever_the_commands_in_it() {
    let server = match RedisServer::start() {
        Ok(server) => server,
        Err(error) => {
            eprintln!("skipped: {error}");
            return;
        }
    };
    let mut counter = ReadCounter::connect(server.addr()).unwrap();
    assert_eq!(
        counter.own_reads(),
        1,
        "a reading costs its own INFO's read"
    );
    let mut client = Client::connect(&server);

    // Nothing in between: nothing counted.
    let before = counter.reading().unwrap();
    assert_eq!(counter.reads_since(before).unwrap(), 0, "idle");

    // Two commands in one write: one round trip.
    let before = counter.reading().unwrap();
    let answers = client.pipeline(&[&["SET", "rt:k", "v"], &["PEXPIRE", "rt:k", "60000"]]);
    assert_eq!(
        answers,
        [Resp::Simple("OK".into()), Resp::Integer(1)],
        "both ran"
    );
    assert_eq!(counter.reads_since(before).unwrap(), 1, "pipelined");

    // The same commands one after the other: two round trips.
    let before = counter.reading().unwrap();
    client.pipeline(&[&["GET", "rt:k"]]);
    client.pipeline(&[&["PEXPIRE", "rt:k", "60000"]]);
    assert_eq!(counter.reads_since(before).unwrap(), 2, "sequential");

    // 50 requests of one round trip each: 50.
    let before = counter.reading().unwrap();
    for _ in 0..50 {
        client.pipeline(&[&["GET", "rt:k"], &["PEXPIRE", "rt:k", "60000"]]);
    }
    assert_eq!(
        counter.reads_since(before).unwrap(),
        50,
        "fifty round trips"
    );
}
