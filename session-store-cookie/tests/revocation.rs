//! How long the cookie store keeps a revocation: until every cookie that can
//! carry the revoked id has expired, however long the session's absolute
//! timeout ("remember me" for 30 days), and never just a fixed day.
//!
//! The hook below records the `until` that the store asks for, so the tests
//! check it against explicit timestamps instead of waiting.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use session_core::time::{self, OffsetDateTime};
use session_core::{
    store::{CookieSealing, Record, SessionStore, StoreError},
    KeyRing, SessionConfig, SessionId, SessionManager,
};
use session_store_cookie::{CookieStore, Revocation, RevocationList, DEFAULT_REVOCATION_TTL};

const SECRET: &str = "revocation tests secret, thirty-two bytes or more";
const NAME: &str = "_session";

/// Records every revocation it is asked for, and answers from them.
#[derive(Debug, Default)]
struct Recording {
    revoked: Mutex<Vec<(SessionId, OffsetDateTime)>>,
}

impl Recording {
    /// The `until` of the revocation of `id`, if any.
    fn until(&self, id: &SessionId) -> Option<OffsetDateTime> {
        let revoked = self.revoked.lock().unwrap();
        revoked
            .iter()
            .filter(|(r, _)| r == id)
            .map(|(_, u)| *u)
            .max()
    }
}

#[async_trait::async_trait]
impl Revocation for Recording {
    async fn revoke(&self, id: &SessionId, until: OffsetDateTime) -> Result<(), StoreError> {
        self.revoked.lock().unwrap().push((id.clone(), until));
        Ok(())
    }

    async fn is_revoked(&self, id: &SessionId) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc();
        Ok(self.until(id).is_some_and(|until| until > now))
    }
}

fn store(hook: Arc<Recording>) -> CookieStore {
    CookieStore::builder(KeyRing::new([SECRET]).unwrap())
        .shared_revocation(hook)
        .build()
}

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct App {
    user: Option<String>,
}

/// A record live from `now` until `absolute`.
fn record(now: OffsetDateTime, absolute: OffsetDateTime) -> Record {
    Record::new(SessionId::random(), b"{}".to_vec(), now, absolute, absolute)
        .with_version(1)
        .with_owner(Some("user-7".into()))
}

#[tokio::test]
async fn a_long_lived_session_stays_revoked_until_its_absolute_expiry() {
    let hook = Arc::new(Recording::default());
    let store = store(hook.clone());
    let now = OffsetDateTime::now_utc();
    let absolute = now + time::Duration::days(60);
    let record = record(now, absolute);
    let value = store.seal_record(NAME, &record);
    // The request cycle opens the cookie, then the handler logs out.
    let opened = CookieSealing::open(&store, NAME, &value, now)
        .await
        .unwrap();
    assert_eq!(opened.expect("opens").record.id, record.id);
    assert!(store.delete(&record.id).await.unwrap());

    let until = hook.until(&record.id).expect("revoked");
    assert!(
        until >= absolute,
        "revoked until {until}, but the cookie lives until {absolute}"
    );
    // In particular still revoked a day and more after the logout, when the
    // copied cookie would still open.
    let a_day_later = now + time::Duration::hours(25);
    assert!(until > a_day_later);
    assert!(store.open_value(NAME, &value, a_day_later).is_some());
}

#[tokio::test]
async fn remember_me_through_the_manager_logout_and_rotation() {
    let hook = Arc::new(Recording::default());
    let store = store(hook.clone());
    let thirty_days = Duration::from_secs(30 * 24 * 3600);
    let config = SessionConfig::testing()
        .keys(store.keys().clone())
        .store(store.clone())
        .idle_timeout(thirty_days)
        .absolute_timeout(thirty_days)
        .build()
        .unwrap();
    let manager = SessionManager::<App>::new(config);

    for rotate in [false, true] {
        let session = manager.create();
        session.data_mut().user = Some("alice".into());
        let cookie = manager.commit(&session).await.unwrap().unwrap().pair();
        let value = cookie.strip_prefix("_session=").unwrap();
        let absolute = store
            .open_value(NAME, value, OffsetDateTime::now_utc())
            .unwrap()
            .record
            .absolute_expires_at;

        let loaded = manager.load(Some(value)).await.unwrap();
        let id = loaded.id();
        if rotate {
            loaded.regenerate();
        } else {
            loaded.delete();
        }
        manager.commit(&loaded).await.unwrap();

        let until = hook.until(&id).expect("the old id is revoked");
        assert!(
            until >= absolute,
            "rotate: {rotate}: revoked until {until}, cookie lives until {absolute}"
        );
        assert!(until > OffsetDateTime::now_utc() + time::Duration::days(29));
    }
}

#[tokio::test]
async fn an_id_this_store_never_opened_is_revoked_for_the_configured_ttl_at_least() {
    let hook = Arc::new(Recording::default());
    let ttl = Duration::from_secs(7 * 24 * 3600);
    let store = CookieStore::builder(KeyRing::new([SECRET]).unwrap())
        .shared_revocation(hook.clone())
        .revocation_ttl(ttl)
        .build();
    let before = OffsetDateTime::now_utc();
    let id = SessionId::random();
    assert!(store.delete(&id).await.unwrap());
    let until = hook.until(&id).unwrap();
    assert!(until >= before + ttl, "{until}");
    assert!(until <= OffsetDateTime::now_utc() + ttl + time::Duration::seconds(2));
    assert_eq!(DEFAULT_REVOCATION_TTL, Duration::from_secs(24 * 3600));
}

#[tokio::test]
async fn the_in_process_list_holds_the_revocation_that_long() {
    let list = Arc::new(RevocationList::new());
    let store = CookieStore::builder(KeyRing::new([SECRET]).unwrap())
        .shared_revocation(list.clone())
        .build();
    let now = OffsetDateTime::now_utc();
    let absolute = now + time::Duration::days(30);
    let record = record(now, absolute);
    let value = store.seal_record(NAME, &record);
    assert!(CookieSealing::open(&store, NAME, &value, now)
        .await
        .unwrap()
        .is_some());
    store.delete(&record.id).await.unwrap();
    assert!(CookieSealing::open(&store, NAME, &value, now)
        .await
        .unwrap()
        .is_none());
    let until = list.revoked_until(&record.id).expect("listed");
    assert!(until >= absolute);
    assert!(list.is_revoked_at(&record.id, now + time::Duration::days(2)));
    assert!(list.is_revoked_at(&record.id, absolute - time::Duration::seconds(1)));
    assert!(!list.is_revoked_at(&record.id, until));
    assert!(!list.is_revoked_at(&SessionId::random(), now));
}

/// "Sign out that device" on the cookie store: the application keeps the id
/// of each login's session (`Session::id`, safe to store and show), and
/// later ends one by id from another request with `SessionManager::delete`.
/// With a revocation hook the cookie (and any copy of it) then opens a
/// fresh session; without one, the delete answers `false` and the cookie
/// still opens: the limit the hook is there for.
#[tokio::test]
async fn an_application_revokes_a_cookie_session_by_the_id_it_kept() {
    for hooked in [true, false] {
        let keys = KeyRing::new([SECRET]).unwrap();
        let mut builder = CookieStore::builder(keys.clone());
        if hooked {
            builder = builder.revocation(RevocationList::new());
        }
        let config = SessionConfig::testing()
            .keys(keys)
            .store(builder.build())
            .build()
            .unwrap();
        let manager = SessionManager::<App>::new(config);

        let login = manager.create();
        login.data_mut().user = Some("alice".into());
        login.set_owner(Some("alice"));
        let cookie = manager.commit(&login).await.unwrap().unwrap().pair();
        let kept_id = login.id();
        let value = cookie.strip_prefix("_session=").unwrap().to_owned();
        // A second device of the same user stays signed in.
        let other = manager.create();
        other.data_mut().user = Some("alice".into());
        let other_cookie = manager.commit(&other).await.unwrap().unwrap().pair();
        let other_value = other_cookie.strip_prefix("_session=").unwrap();

        assert_eq!(manager.delete(&kept_id).await.unwrap(), hooked);
        let after = manager.load(Some(&value)).await.unwrap();
        if hooked {
            assert!(after.is_new(), "a revoked cookie opens a fresh session");
            assert_ne!(after.id(), kept_id);
            assert_eq!(after.data().user, None);
        } else {
            assert_eq!(after.id(), kept_id, "without a hook the cookie still opens");
        }
        let still = manager.load(Some(other_value)).await.unwrap();
        assert_eq!(still.data().user.as_deref(), Some("alice"));
    }
}
