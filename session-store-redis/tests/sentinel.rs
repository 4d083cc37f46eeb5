//! A Sentinel setup on loopback ports (a primary and one sentinel), started
//! by the test; skipped, with the reason printed, without redis-server.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, have, record, unique_prefix, Raw, RedisServer, Scratch};
use session_core::store::SessionStore;
use session_store_redis::RedisStore;

struct Sentinel {
    child: Child,
    port: u16,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_sentinel(scratch: &Scratch, primary: &RedisServer) -> Sentinel {
    let port = free_port();
    let conf = scratch.0.join(format!("sentinel-{port}.conf"));
    let text = format!(
        "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {} 1\n",
        scratch.0.display(),
        primary.port
    );
    std::fs::write(&conf, text).expect("sentinel config");
    let child = Command::new("redis-server")
        .arg(&conf)
        .arg("--sentinel")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server --sentinel starts");
    let sentinel = Sentinel { child, port };
    for _ in 0..100 {
        if let Ok(mut raw) = Raw::connect(&format!("127.0.0.1:{port}")).await {
            let reply = raw
                .cmd(&["SENTINEL", "get-master-addr-by-name", "mymaster"])
                .await;
            if reply.is_ok_and(|r| r.text().contains(&primary.port.to_string())) {
                return sentinel;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the sentinel did not come up");
}

#[tokio::test]
async fn the_store_finds_its_primary_through_a_sentinel() {
    if !have("redis-server") {
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let scratch = Scratch::new("sentinel");
    let primary = RedisServer::start(&scratch).await;
    let sentinel = start_sentinel(&scratch, &primary).await;
    let url = format!(
        "redis-sentinel://127.0.0.1:{}/0?sentinelServiceName=mymaster",
        sentinel.port
    );
    let store = RedisStore::builder()
        .prefix(unique_prefix("sentinel"))
        .connect(&url)
        .await
        .unwrap();

    let r = record(60_000);
    store.create(&r).await.unwrap();
    assert_eq!(store.load(&r.id, None).await.unwrap(), Some(r.clone()));
    // The record is on the primary the sentinel named.
    let mut raw = Raw::connect(&primary.address()).await.unwrap();
    assert_eq!(
        raw.cmd(&["EXISTS", &store.record_key(&r.id)])
            .await
            .unwrap()
            .int(),
        1
    );
    store.clear().await.unwrap();
    assert_eq!(store.count().await.unwrap(), 0);

    // The session locks, on two stores that found the primary this way.
    let second = RedisStore::builder()
        .prefix(store.prefix())
        .connect(&url)
        .await
        .unwrap();
    let pair = common::Pair(store, second);
    common::all_lease_checks(&pair).await;
    pair.0.clear().await.unwrap();
}
