//! Sealing and opening a cookie for records of 64 B, 1 KB and 3 KB of data:
//! random bytes stored raw, and JSON deflated. 3 KB of random bytes cannot be
//! a cookie (the sealed value alone would pass 4096 bytes, and opening
//! refuses such values unread), so the raw case stops at 2900 bytes, about
//! the most that fits.
//!
//! Run: `cargo bench -p session-store-cookie --bench seal_open`.
//! `cargo test --benches` runs each case once, as a smoke test.

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use session_core::time::{Duration, OffsetDateTime};
use session_core::{store::Record, KeyRing, SessionId};
use session_store_cookie::CookieStore;

const RAW_SIZES: [usize; 3] = [64, 1024, 2900];
const DEFLATE_SIZES: [usize; 3] = [64, 1024, 3 * 1024];
const NAME: &str = "_session";

/// Data that does not compress: what sealed fields or tokens look like.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Data that compresses: the JSON of a shopping cart, cut to `len` bytes
/// (the store sees bytes; it does not parse them).
fn json(len: usize) -> Vec<u8> {
    let mut out = String::from("{\"items\":[");
    let mut n = 0;
    while out.len() < len {
        let qty = n % 7 + 1;
        out.push_str(&format!("{{\"sku\":\"SKU-{n:05}\",\"qty\":{qty}}},"));
        n += 1;
    }
    out.truncate(len);
    out.into_bytes()
}

fn record(data: Vec<u8>) -> Record {
    let now = OffsetDateTime::now_utc();
    Record::new(
        SessionId::random(),
        data,
        now,
        now + Duration::hours(1),
        now + Duration::hours(24),
    )
    .with_version(3)
    .with_owner(Some("user-42".into()))
}

fn seal_open(c: &mut Criterion) {
    let ring = KeyRing::new(["benchmark secret, thirty-two bytes or more"]).expect("long enough");
    let cases = [
        (
            "raw",
            CookieStore::new(ring.clone()),
            noise as fn(usize) -> Vec<u8>,
            RAW_SIZES,
        ),
        (
            "deflate",
            CookieStore::builder(ring).compress_above(0).build(),
            json,
            DEFLATE_SIZES,
        ),
    ];
    let now = OffsetDateTime::now_utc();
    let mut group = c.benchmark_group("cookie");
    for (label, store, data, sizes) in &cases {
        for &size in sizes {
            let record = record(data(size));
            let value = store.seal_record(NAME, &record);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("seal/{label}"), size),
                &record,
                |b, r| b.iter(|| store.seal_record(NAME, r)),
            );
            group.bench_with_input(
                BenchmarkId::new(format!("open/{label}"), size),
                &value,
                |b, v| b.iter(|| store.open_value(NAME, v, now).expect("opens")),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, seal_open);
criterion_main!(benches);
