//! The cookie store through the request cycle of `SessionManager`: round
//! trips, secret rotation, binding to the cookie name, sealed expiry, the
//! size limit with and without compression, id rotation, revocation, and
//! the operations it refuses.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use session_core::{
    adapter::SetCookie, store::StoreError, IdleRefresh, KeyRing, SessionConfig,
    SessionConfigBuilder, SessionError, SessionId, SessionManager,
};
use session_store_cookie::{CookieStore, Revocation, RevocationList};

const OLD: &str = "the old secret, at least thirty-two bytes";
const NEW: &str = "the new secret, at least thirty-two bytes too";

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct App {
    user: Option<String>,
    notes: String,
    visits: u32,
}

fn ring(secrets: &[&str]) -> KeyRing {
    KeyRing::new(secrets).expect("long secrets")
}

fn manager(
    store: CookieStore,
    tweak: impl FnOnce(SessionConfigBuilder) -> SessionConfigBuilder,
) -> SessionManager<App> {
    let keys = store.keys().clone();
    let builder = SessionConfig::testing().keys(keys).store(store);
    SessionManager::new(tweak(builder).build().expect("valid configuration"))
}

/// One request: loads the session from `cookie` (a `name=value` pair), lets
/// `handler` use it, and answers the session's id, whether it was new, and
/// the `Set-Cookie` of the response.
async fn request(
    manager: &SessionManager<App>,
    cookie: Option<&str>,
    handler: impl FnOnce(&session_core::Session<App>),
) -> Result<(SessionId, bool, Option<SetCookie>, App), SessionError> {
    let lazy = manager.start_request();
    let session = lazy.load(cookie).await?;
    let is_new = session.is_new();
    handler(&session);
    let data = session.data().clone();
    let set_cookie = manager.finish_request(&lazy, 200).await?;
    Ok((session.id(), is_new, set_cookie, data))
}

/// A fresh session holding `notes`, and its cookie pair.
async fn started(manager: &SessionManager<App>, notes: &str) -> (SessionId, String) {
    let (id, is_new, set_cookie, _) = request(manager, None, |s| s.data_mut().notes = notes.into())
        .await
        .unwrap();
    assert!(is_new);
    (
        id,
        set_cookie
            .expect("a new session with data sets a cookie")
            .pair(),
    )
}

#[tokio::test]
async fn round_trip_keeps_data_and_id_and_hides_them() {
    let m = manager(CookieStore::new(ring(&[NEW])), |b| b);
    let (id, cookie) = started(&m, "hello sealed world").await;
    assert!(cookie.starts_with("_session="), "{cookie}");
    assert!(
        !cookie.contains("hello"),
        "data must not be readable: {cookie}"
    );

    let (same, is_new, _, data) = request(&m, Some(&cookie), |s| s.data_mut().visits += 1)
        .await
        .unwrap();
    assert!(!is_new);
    assert_eq!(same, id);
    assert_eq!(data.notes, "hello sealed world");
    assert_eq!(data.visits, 1);
}

#[tokio::test]
async fn tampered_foreign_or_garbage_cookies_are_fresh_sessions() {
    let m = manager(CookieStore::new(ring(&[NEW])), |b| b);
    let (id, cookie) = started(&m, "x").await;
    let value = cookie.strip_prefix("_session=").unwrap();
    let mut flipped = value.as_bytes().to_vec();
    flipped[value.len() / 2] = if flipped[value.len() / 2] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let foreign = started(&manager(CookieStore::new(ring(&[OLD])), |b| b), "y")
        .await
        .1;
    let bad = [
        format!("_session={}", String::from_utf8(flipped).unwrap()),
        format!("_session={}", &value[..value.len() - 1]),
        format!("_session={value}A"),
        format!("_session={}=", value),
        "_session=".to_owned(),
        "_session=%%%".to_owned(),
        foreign,
    ];
    for cookie in &bad {
        let (fresh, is_new, _, data) = request(&m, Some(cookie), |_| {}).await.unwrap();
        assert!(is_new, "{cookie} was adopted");
        assert_ne!(fresh, id);
        assert_eq!(data, App::default());
    }
}

#[tokio::test]
async fn rotated_secrets_open_old_cookies_and_reseal_them() {
    let old = manager(CookieStore::new(ring(&[OLD])), |b| b);
    let (id, old_cookie) = started(&old, "before rotation").await;

    // Only writes refresh the cookie here, so any Set-Cookie below is the
    // reseal of a stale key.
    let rotated = manager(CookieStore::new(ring(&[NEW, OLD])), |b| {
        b.idle_refresh(IdleRefresh::OnWrite)
    });
    let (same, is_new, set_cookie, data) =
        request(&rotated, Some(&old_cookie), |_| {}).await.unwrap();
    assert!(!is_new);
    assert_eq!(same, id);
    assert_eq!(data.notes, "before rotation");
    let resealed = set_cookie
        .expect("a cookie sealed with an old key is resealed")
        .pair();
    assert_ne!(resealed, old_cookie);

    // The resealed cookie needs only the new secret; untouched, it is not resent.
    let new_only = manager(CookieStore::new(ring(&[NEW])), |b| {
        b.idle_refresh(IdleRefresh::OnWrite)
    });
    let (same, is_new, set_cookie, data) =
        request(&new_only, Some(&resealed), |_| {}).await.unwrap();
    assert!(!is_new);
    assert_eq!(same, id);
    assert_eq!(data.notes, "before rotation");
    assert!(set_cookie.is_none(), "a current cookie is not resent");

    // Without the old secret the old cookie is a stranger.
    let (_, is_new, _, _) = request(&new_only, Some(&old_cookie), |_| {}).await.unwrap();
    assert!(is_new);
}

#[tokio::test]
async fn reseal_old_keys_off_waits_for_a_change() {
    let old = manager(CookieStore::new(ring(&[OLD])), |b| b);
    let (_, old_cookie) = started(&old, "x").await;
    let store = CookieStore::builder(ring(&[NEW, OLD]))
        .reseal_old_keys(false)
        .build();
    let rotated = manager(store, |b| b.idle_refresh(IdleRefresh::OnWrite));

    let (_, is_new, set_cookie, _) = request(&rotated, Some(&old_cookie), |_| {}).await.unwrap();
    assert!(!is_new);
    assert!(set_cookie.is_none(), "no change, no reseal");

    let (_, _, set_cookie, _) = request(&rotated, Some(&old_cookie), |s| s.data_mut().visits = 2)
        .await
        .unwrap();
    let cookie = set_cookie.expect("a change sets the cookie").pair();
    let new_only = manager(CookieStore::new(ring(&[NEW])), |b| b);
    let (_, is_new, _, data) = request(&new_only, Some(&cookie), |_| {}).await.unwrap();
    assert!(!is_new, "the change was sealed with the new secret");
    assert_eq!(data.visits, 2);
}

#[tokio::test]
async fn a_value_moved_to_another_cookie_name_does_not_open() {
    let keys = ring(&[NEW]);
    let m = manager(CookieStore::new(keys.clone()), |b| b);
    let other = manager(CookieStore::new(keys), |b| b.cookie_name("other"));
    let (id, cookie) = started(&m, "bound to _session").await;
    let moved = cookie.replacen("_session=", "other=", 1);
    let (fresh, is_new, _, data) = request(&other, Some(&moved), |_| {}).await.unwrap();
    assert!(is_new);
    assert_ne!(fresh, id);
    assert_eq!(data, App::default());
}

#[tokio::test]
async fn the_sealed_idle_expiry_is_enforced_whatever_the_browser_kept() {
    let m = manager(CookieStore::new(ring(&[NEW])), |b| {
        b.idle_timeout(Duration::from_millis(300))
    });
    let (id, cookie) = started(&m, "short-lived").await;
    let (same, is_new, _, _) = request(&m, Some(&cookie), |_| {}).await.unwrap();
    assert!(!is_new, "still alive right away");
    assert_eq!(same, id);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (fresh, is_new, _, data) = request(&m, Some(&cookie), |_| {}).await.unwrap();
    assert!(is_new, "an idle-expired cookie must not open");
    assert_ne!(fresh, id);
    assert_eq!(data, App::default());
}

#[tokio::test]
async fn the_sealed_absolute_expiry_is_enforced_despite_refreshes() {
    let m = manager(CookieStore::new(ring(&[NEW])), |b| {
        b.absolute_timeout(Duration::from_millis(300))
            .refresh_fraction(0.0)
    });
    let (_, mut cookie) = started(&m, "x").await;
    // Each request reseals the cookie with a fresh idle expiry, but the
    // absolute expiry sealed at creation never moves.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, is_new, set_cookie, _) = request(&m, Some(&cookie), |_| {}).await.unwrap();
        assert!(!is_new);
        cookie = set_cookie.expect("idle refresh resends").pair();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, is_new, _, _) = request(&m, Some(&cookie), |_| {}).await.unwrap();
    assert!(is_new);
}

/// A read reseals only when the idle expiry must move by at least the
/// refresh fraction of the idle timeout; the reads in between only open
/// the cookie, and the sealed idle expiry (the last reseal's) still ends
/// the session: early by at most that fraction, never late.
#[tokio::test]
async fn reads_reseal_only_past_the_refresh_fraction() {
    let m = manager(CookieStore::new(ring(&[NEW])), |b| {
        b.idle_timeout(Duration::from_millis(1000))
            .refresh_fraction(0.5)
    });
    let (id, cookie) = started(&m, "x").await;
    // 200 ms and 400 ms after the seal: the expiry would move by less
    // than 500 ms, so nothing is sealed or sent.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (same, is_new, set_cookie, _) = request(&m, Some(&cookie), |_| {}).await.unwrap();
        assert!(!is_new);
        assert_eq!(same, id);
        assert!(
            set_cookie.is_none(),
            "no reseal within the bound: {set_cookie:?}"
        );
    }
    // Past the bound the read reseals, with a later idle expiry.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, is_new, set_cookie, _) = request(&m, Some(&cookie), |_| {}).await.unwrap();
    assert!(!is_new);
    let resealed = set_cookie.expect("resealed past the bound").pair();
    assert_ne!(resealed, cookie);
    // 1100 ms after the first seal: the first cookie has expired, the
    // resealed one has not.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, is_new, _, _) = request(&m, Some(&cookie), |_| {}).await.unwrap();
    assert!(is_new, "the first seal's idle expiry ends it");
    let (same, is_new, _, _) = request(&m, Some(&resealed), |_| {}).await.unwrap();
    assert!(!is_new);
    assert_eq!(same, id);
}

/// Text that deflate cannot shrink much: hex of a xorshift stream.
fn noise(len: usize) -> String {
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

#[tokio::test]
async fn oversized_sessions_fail_at_save_and_compression_makes_room() {
    let plain = manager(CookieStore::new(ring(&[NEW])), |b| b);
    let big = "a".repeat(4000);
    let err = request(&plain, None, |s| s.data_mut().notes = big.clone())
        .await
        .unwrap_err();
    match err {
        SessionError::CookieTooLarge { size, limit } => {
            assert_eq!(limit, 4096);
            assert!(
                size > 4096 + 1000,
                "{size}: the whole sealed header is measured"
            );
        }
        other => panic!("expected CookieTooLarge, got {other:?}"),
    }

    let compressing = manager(
        CookieStore::builder(ring(&[NEW]))
            .compress_above(256)
            .build(),
        |b| b,
    );
    let (id, cookie) = started(&compressing, &big).await;
    assert!(cookie.len() < 500, "{} bytes", cookie.len());
    let (same, _, _, data) = request(&compressing, Some(&cookie), |_| {}).await.unwrap();
    assert_eq!(same, id);
    assert_eq!(data.notes, big);

    // Hex halves at best: 8000 digits stay over the limit, refused, never truncated.
    let err = request(&compressing, None, |s| s.data_mut().notes = noise(8000))
        .await
        .unwrap_err();
    assert!(matches!(err, SessionError::CookieTooLarge { size, limit: 4096 } if size > 4096));
}

/// What an `on_regenerated` callback saw: the new id and the previous one.
type Rotation = (SessionId, Option<SessionId>);

#[tokio::test]
async fn regenerate_changes_the_id_that_callbacks_see() {
    let seen: Arc<Mutex<Vec<Rotation>>> = Arc::default();
    let log = Arc::clone(&seen);
    let m = manager(CookieStore::new(ring(&[NEW])), move |b| {
        b.on_regenerated(move |event| {
            let previous = event.previous_id.cloned();
            log.lock().unwrap().push((event.id.clone(), previous));
        })
    });
    let (old_id, cookie) = started(&m, "anonymous").await;
    let (new_id, _, set_cookie, _) = request(&m, Some(&cookie), |s| {
        s.data_mut().user = Some("alice".into());
        s.regenerate();
    })
    .await
    .unwrap();
    let new_cookie = set_cookie.expect("rotation sets a cookie").pair();

    assert_ne!(new_id, old_id);
    assert_ne!(new_cookie, cookie);
    assert_eq!(*seen.lock().unwrap(), [(new_id.clone(), Some(old_id))]);
    let (loaded, _, _, data) = request(&m, Some(&new_cookie), |_| {}).await.unwrap();
    assert_eq!(loaded, new_id);
    assert_eq!(data.user.as_deref(), Some("alice"));
}

#[tokio::test]
async fn without_revocation_a_copied_cookie_outlives_logout() {
    // The documented replay limit: nothing on the server remembers logout.
    let m = manager(CookieStore::new(ring(&[NEW])), |b| b);
    let (id, cookie) = started(&m, "x").await;
    let (_, _, removal, _) = request(&m, Some(&cookie), |s| s.delete()).await.unwrap();
    assert!(removal.expect("logout removes the cookie").is_removal());
    let (same, is_new, _, _) = request(&m, Some(&cookie), |_| {}).await.unwrap();
    assert!(!is_new);
    assert_eq!(same, id);
}

#[tokio::test]
async fn revocation_ends_replay_after_logout_and_rotation() {
    let revoked = Arc::new(RevocationList::new());
    let store = CookieStore::builder(ring(&[NEW]))
        .shared_revocation(revoked.clone())
        .build();
    let m = manager(store, |b| b);

    // Logout: the copied cookie is a fresh session afterwards.
    let (id, cookie) = started(&m, "x").await;
    let (_, _, removal, _) = request(&m, Some(&cookie), |s| s.delete()).await.unwrap();
    assert!(removal.unwrap().is_removal());
    assert!(revoked.is_revoked(&id).await.unwrap());
    let (fresh, is_new, _, data) = request(&m, Some(&cookie), |_| {}).await.unwrap();
    assert!(is_new, "a revoked cookie was replayed");
    assert_ne!(fresh, id);
    assert_eq!(data, App::default());

    // Login rotation: the pre-login cookie dies, the new one lives.
    let (before, cookie) = started(&m, "anonymous").await;
    let (after, _, set_cookie, _) = request(&m, Some(&cookie), |s| s.regenerate())
        .await
        .unwrap();
    let (_, is_new, _, _) = request(&m, Some(&cookie), |_| {}).await.unwrap();
    assert!(is_new, "the pre-rotation cookie was replayed");
    let (same, is_new, _, _) = request(&m, Some(&set_cookie.unwrap().pair()), |_| {})
        .await
        .unwrap();
    assert!(!is_new);
    assert_eq!(same, after);
    assert_ne!(before, after);
    assert!(m.delete(&after).await.unwrap(), "deleting by id revokes");
}

/// A revocation backend that is down: its errors must surface as store
/// errors (a 503), never as an accepted cookie.
#[derive(Debug)]
struct Down;

#[async_trait::async_trait]
impl Revocation for Down {
    async fn revoke(
        &self,
        _: &SessionId,
        _: session_core::time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        Err(StoreError::Timeout(Duration::from_millis(300)))
    }
    async fn is_revoked(&self, _: &SessionId) -> Result<bool, StoreError> {
        Err(StoreError::Timeout(Duration::from_millis(300)))
    }
}

#[tokio::test]
async fn a_failing_revocation_check_is_a_503_not_a_login() {
    let keys = ring(&[NEW]);
    let (_, cookie) = started(&manager(CookieStore::new(keys.clone()), |b| b), "x").await;
    let m = manager(CookieStore::builder(keys).revocation(Down).build(), |b| b);
    let err = request(&m, Some(&cookie), |_| {}).await.unwrap_err();
    assert_eq!(err.status_code(), 503, "{err}");
    // No cookie at all needs no check.
    assert!(request(&m, None, |_| {}).await.is_ok());
}

#[tokio::test]
async fn server_side_operations_are_unsupported() {
    let m = manager(CookieStore::new(ring(&[NEW])), |b| b);
    let (id, _) = started(&m, "x").await;
    let unsupported = |e: SessionError| match e {
        SessionError::Store(StoreError::Unsupported { store, operation }) => {
            assert_eq!(store, "cookie");
            operation
        }
        other => panic!("expected Unsupported, got {other:?}"),
    };
    let by_id = "loading by id (the session lives in its cookie; with a revocation hook, delete ends an id)";
    assert_eq!(unsupported(m.get(&id).await.unwrap_err()), by_id);
    assert_eq!(unsupported(m.find(&id).await.unwrap_err()), by_id);
    assert_eq!(unsupported(m.clear().await.unwrap_err()), "clear");
    assert_eq!(unsupported(m.count().await.unwrap_err()), "count");
    // A user's sessions: no list of cookies to read, so listing, revoking
    // one (its owner must be read first) and revoking the others all say
    // why, and nothing is ended.
    let listing = "listing sessions by owner (the server keeps no list of cookies)";
    assert_eq!(
        unsupported(m.sessions_of("alice", None).await.unwrap_err()),
        listing
    );
    assert_eq!(
        unsupported(m.revoke_others("alice", &id).await.unwrap_err()),
        listing
    );
    assert_eq!(
        unsupported(m.revoke("alice", &id).await.unwrap_err()),
        by_id
    );
    let error = m.sessions_of("alice", None).await.unwrap_err();
    assert_eq!(error.status_code(), 500, "{error}");
    assert_eq!(
        error.to_string(),
        format!("the cookie store does not support {listing}")
    );
    assert!(unsupported(m.delete_by_owner("alice").await.unwrap_err())
        .starts_with("deleting sessions by owner"));
    assert_eq!(
        unsupported(m.delete_where(|_| true).await.unwrap_err()),
        "deleting by predicate"
    );
    let store = m.store();
    assert_eq!(
        store.ids().await.unwrap_err().to_string(),
        "the cookie store does not support listing"
    );
    assert!(matches!(
        store.ids_by_owner("alice").await,
        Err(StoreError::Unsupported { .. })
    ));
    // Nothing to delete on the server without a revocation hook.
    assert!(!m.delete(&id).await.unwrap());
}

/// The cookie store keeps no server state to lock, so the serialize policy
/// is refused when the configuration is built, with a message that says so.
#[test]
fn serialize_is_refused_at_build_time() {
    let refused = SessionConfig::testing()
        .store(CookieStore::new(ring(&[NEW])))
        .concurrency(session_core::Concurrency::Serialize)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            refused,
            session_core::ConfigError::SerializeUnsupported {
                store: "cookie",
                ..
            }
        ),
        "{refused:?}"
    );
    let line = refused.to_string();
    assert!(line.contains("no server state to lock"), "{line}");
    assert!(!line.contains('\n'), "{line}");
}
