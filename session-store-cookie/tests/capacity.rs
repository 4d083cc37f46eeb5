//! How much typed data fits into the 4096-byte `Set-Cookie`, measured
//! through `SessionManager` with the default cookie attributes
//! (`_session`, `HttpOnly`, `Secure`, `SameSite=Lax`, `Path=/`,
//! `Max-Age=3600`). The README quotes these numbers; the ranges below keep
//! it honest. Run with `--nocapture` to see them.
// The capacity table is printed for the reader of the test output.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::print_stdout))]

use serde::{Deserialize, Serialize};
use session_core::{Codec, KeyRing, SessionConfig, SessionError, SessionManager};
use session_store_cookie::CookieStore;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Notes {
    text: String,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Cart {
    items: Vec<Item>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    sku: String,
    qty: u32,
}

fn manager<T: session_core::SessionData>(codec: Codec, compress: bool) -> SessionManager<T> {
    let ring = KeyRing::new(["capacity secret, thirty-two bytes or more"]).unwrap();
    let builder = CookieStore::builder(ring.clone());
    let store = if compress {
        builder.compress_above(256).build()
    } else {
        builder.build()
    };
    let config = SessionConfig::builder()
        .keys(ring)
        .codec(codec)
        .store(store);
    SessionManager::new(config.build().unwrap())
}

/// Whether a new session holding `data` fits; other errors fail the test.
async fn fits<T: session_core::SessionData>(manager: &SessionManager<T>, data: T) -> bool {
    let session = manager.create();
    *session.data_mut() = data;
    match manager.commit(&session).await {
        Ok(cookie) => {
            assert!(cookie.expect("a cookie").as_str().len() <= 4096);
            true
        }
        // Data that deflates well can be over the session bound (64 KiB
        // encoded) before it is over the cookie limit: it does not fit either.
        Err(SessionError::CookieTooLarge { .. } | SessionError::SessionTooLarge { .. }) => false,
        Err(other) => panic!("unexpected error {other}"),
    }
}

/// The largest `n` in `0..=max` for which `make(n)` fits (fitting is
/// monotonic in `n` for this data).
async fn largest<T: session_core::SessionData>(
    manager: &SessionManager<T>,
    max: usize,
    make: impl Fn(usize) -> T,
) -> usize {
    let (mut low, mut high) = (0, max);
    assert!(fits(manager, make(low)).await);
    assert!(!fits(manager, make(high)).await, "{max} should not fit");
    while high - low > 1 {
        let mid = (low + high) / 2;
        if fits(manager, make(mid)).await {
            low = mid;
        } else {
            high = mid;
        }
    }
    low
}

/// Hex text of a xorshift stream: deflate can only halve it.
fn hex(len: usize) -> String {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b"0123456789abcdef"[(state & 15) as usize])
        })
        .collect()
}

fn cart(n: usize) -> Cart {
    Cart {
        items: (0..n)
            .map(|i| Item {
                sku: format!("SKU-{:06}", i * 7919 % 1_000_000),
                qty: (i % 5 + 1) as u32,
            })
            .collect(),
    }
}

#[tokio::test]
async fn how_much_fits() {
    let text = |n| Notes { text: hex(n) };
    let bincode_text = largest(&manager(Codec::Bincode, false), 8192, text).await;
    let json_text = largest(&manager(Codec::Json, false), 8192, text).await;
    let deflated_hex = largest(&manager(Codec::Bincode, true), 16384, text).await;
    let bincode_cart = largest(&manager(Codec::Bincode, false), 1000, cart).await;
    let json_cart = largest(&manager(Codec::Json, false), 1000, cart).await;
    let deflated_cart = largest(&manager(Codec::Bincode, true), 5000, cart).await;
    let deflated_json_cart = largest(&manager(Codec::Json, true), 5000, cart).await;
    println!("string field, bincode:         {bincode_text} bytes");
    println!("string field, JSON:            {json_text} bytes");
    println!("hex string, bincode + deflate: {deflated_hex} bytes");
    println!("cart items, bincode:           {bincode_cart}");
    println!("cart items, JSON:              {json_cart}");
    println!("cart items, bincode + deflate: {deflated_cart}");
    println!("cart items, JSON + deflate:    {deflated_json_cart}");

    // Raw: about three quarters of what is left after the attributes (base64)
    // minus the record header and the seal.
    assert!((2900..=2950).contains(&bincode_text), "{bincode_text}");
    assert!((2870..=2920).contains(&json_text), "{json_text}");
    assert!(deflated_hex > 4500, "{deflated_hex}");
    assert!(
        deflated_cart > 2 * bincode_cart,
        "{deflated_cart} vs {bincode_cart}"
    );
    assert!(
        deflated_json_cart > 2 * json_cart,
        "{deflated_json_cart} vs {json_cart}"
    );
}
