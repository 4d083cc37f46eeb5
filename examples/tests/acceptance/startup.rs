//! Starting the binaries: a bad environment exits non-zero with one line on
//! stderr; no configuration at all works, with a warning about the secret.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use examples::StoreKind;

use crate::harness::{default_server_url, Target};

const PROGRAMS: [&str; 2] = [
    env!("CARGO_BIN_EXE_axum-demo"),
    env!("CARGO_BIN_EXE_actix-demo"),
];

/// What a server that must not start printed, once it exited.
struct Failure {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_expecting_exit(program: &str, env: &[(&str, &str)]) -> Failure {
    let mut command = Command::new(program);
    for var in [
        "SESSION_STORE",
        "SESSION_SECRET",
        "SESSION_IDLE_TIMEOUT_SECS",
        "SESSION_ABSOLUTE_TIMEOUT_SECS",
        "SESSION_COOKIE_SECURE",
        "SESSION_NAMESPACE",
        "SESSION_CONCURRENCY",
    ] {
        command.env_remove(var);
    }
    for var in StoreKind::all().filter_map(|kind| kind.entry().url_var) {
        command.env_remove(var);
    }
    let mut child = command
        .env("BIND", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("a status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} kept running with {env:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Failure {
        code: status.code(),
        stdout,
        stderr,
    }
}

#[track_caller]
fn assert_one_line_failure(program: &str, env: &[(&str, &str)], expected: &str) {
    let failure = run_expecting_exit(program, env);
    let context = format!("{program} {env:?}: {:?}", failure.stderr);
    assert!(matches!(failure.code, Some(code) if code != 0), "{context}");
    assert!(!failure.stdout.contains("listening"), "{context}");
    let lines: Vec<&str> = failure
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "{context}");
    assert!(lines[0].contains(expected), "{context}");
}

#[test]
fn bad_values_exit_with_one_line() {
    let cases = [
        ("SESSION_STORE", "nope"),
        ("SESSION_SECRET", "short"),
        ("SESSION_SECRET", "0123456789abcdef0123456789abcdef,short"),
        ("SESSION_IDLE_TIMEOUT_SECS", "abc"),
        ("SESSION_ABSOLUTE_TIMEOUT_SECS", "0"),
        ("SESSION_COOKIE_SECURE", "maybe"),
        ("SESSION_NAMESPACE", "Bad-Name"),
        ("SESSION_CONCURRENCY", "lock"),
        ("BIND", "not-an-address"),
    ];
    for program in PROGRAMS {
        for (name, value) in cases {
            assert_one_line_failure(program, &[(name, value)], name);
        }
    }
}

#[test]
fn serialize_with_the_cookie_store_exits_with_one_line() {
    for program in PROGRAMS {
        let env = [
            ("SESSION_STORE", "cookie"),
            ("SESSION_SECRET", crate::harness::TEST_SECRET),
            ("SESSION_CONCURRENCY", "serialize"),
        ];
        assert_one_line_failure(program, &env, "no server state to lock");
    }
}

#[test]
fn a_cap_per_user_with_the_cookie_store_exits_with_one_line() {
    for program in PROGRAMS {
        let env = [
            ("SESSION_STORE", "cookie"),
            ("SESSION_SECRET", crate::harness::TEST_SECRET),
            ("SESSION_MAX_PER_USER", "2"),
        ];
        assert_one_line_failure(program, &env, "max_sessions_per_owner");
    }
}

/// `url` made unreachable: a server's port becomes 1 on loopback (nothing
/// listens there, so connecting is refused); a database file (a URL
/// without a port) moves into a directory that does not exist.
fn unreachable(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // `user@`, kept as it is.
    let user = authority.rfind('@').map_or("", |at| &authority[..=at]);
    let has_port = authority[user.len()..]
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    if has_port {
        format!("{scheme}://{user}127.0.0.1:1{tail}")
    } else {
        format!("{scheme}:///nonexistent-dir-of-the-tests/{rest}")
    }
}

#[test]
fn unreachable_stores_exit_with_one_line() {
    // Every store on a server of the demo's table, at its default URL made
    // unreachable.
    let cases: Vec<(&str, &str, String)> = StoreKind::all()
        .filter_map(|kind| {
            let var = kind.entry().url_var?;
            let url = default_server_url(kind.name()).expect("a default URL");
            Some((kind.name(), var, unreachable(&url)))
        })
        .collect();
    for program in PROGRAMS {
        for (store, name, url) in &cases {
            let env = [("SESSION_STORE", *store), (*name, url.as_str())];
            let expected = format!("could not open the {store} store");
            assert_one_line_failure(program, &env, &expected);
        }
    }
}

#[test]
fn a_database_url_of_another_database_exits_with_one_line() {
    for program in PROGRAMS {
        let env = [
            ("SESSION_STORE", "postgres"),
            ("DATABASE_URL", "mysql://root:hunter2@127.0.0.1:3306/test"),
        ];
        assert_one_line_failure(program, &env, "DATABASE_URL");
        let failure = run_expecting_exit(program, &env);
        assert!(!failure.stderr.contains("hunter2"), "{:?}", failure.stderr);
    }
}

#[test]
fn a_busy_port_exits_with_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = taken.local_addr().unwrap().to_string();
    for program in PROGRAMS {
        assert_one_line_failure(program, &[("BIND", &addr)], "could not listen");
    }
}

#[tokio::test]
async fn no_configuration_works_and_warns_about_the_secret() {
    for program in PROGRAMS {
        let target = Target { program, store: "" };
        let server = target.start_with(&[
            ("SESSION_SECRET", ""),
            ("SESSION_COOKIE_SECURE", ""),
            ("SESSION_NAMESPACE", ""),
            ("RUST_LOG", "warn"),
        ]);
        let answer = server.agent().get("/counter").await;
        assert_eq!(answer.json()["count"], 1, "{answer:?}");
        assert!(answer.set_cookie().expect("a cookie").has("Secure"));
        let deadline = Instant::now() + Duration::from_secs(2);
        while !server.log().contains("SESSION_SECRET is not set") {
            assert!(Instant::now() < deadline, "no warning: {}", server.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
