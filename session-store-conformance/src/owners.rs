//! A user's sessions: listing an owner's records from the store's owner
//! index, the cap per owner under parallel logins, and, through the
//! manager, listing with metadata, revoking, and remember-me.

use std::sync::Arc;
use std::time::Duration;

use session_core::adapter::ClientInfo;
use session_core::store::{OwnerLimitPolicy, SessionStore};
use session_core::{Metadata, SessionConfig, SessionError, SessionManager};

use crate::records::{expired, record, Counter};
use crate::Fixture;

/// `records_by_owner` answers the owner's live records as stored (data,
/// expiries, version), exactly that owner (case included), follows an
/// owner change, and leaves out expired and ownerless records.
pub async fn records_by_owner_lists_the_owners_live_records(fx: &dyn Fixture) {
    let store = fx.store();
    let mut a = record(60_000);
    a.owner = Some("Ada".into());
    a.data = vec![0xC1, 0, 1, 2, 255];
    let mut b = record(60_000);
    b.owner = Some("Ada".into());
    let mut other = record(60_000);
    other.owner = Some("ada".into());
    let mut gone = expired();
    gone.owner = Some("Ada".into());
    let nobody = record(60_000);
    for r in [&a, &b, &other, &gone, &nobody] {
        store.create(r).await.unwrap();
    }
    let mut listed = store.records_by_owner("Ada").await.unwrap();
    listed.sort_by(|x, y| x.id.cmp(&y.id));
    let mut want = vec![a.clone(), b.clone()];
    want.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(listed, want);
    assert_eq!(store.records_by_owner("ada").await.unwrap(), vec![other]);
    b.owner = Some("Grace".into());
    b.version = 2;
    store.save(&b, Some(1)).await.unwrap();
    assert_eq!(store.records_by_owner("Ada").await.unwrap(), vec![a]);
    assert_eq!(store.records_by_owner("Grace").await.unwrap(), vec![b]);
    assert!(store.records_by_owner("nobody").await.unwrap().is_empty());
}

pub(crate) fn manager(
    store: Arc<dyn SessionStore>,
    limit: Option<(u32, OwnerLimitPolicy)>,
) -> SessionManager<Counter> {
    let mut builder = SessionConfig::testing()
        .shared_store(store)
        .metadata(Metadata::all());
    if let Some((max, policy)) = limit {
        builder = builder
            .max_sessions_per_owner(max)
            .owner_limit_policy(policy);
    }
    SessionManager::new(builder.build().unwrap())
}

/// Logs `owner` in on a new session; answers the commit's outcome.
pub(crate) async fn login(
    manager: &SessionManager<Counter>,
    owner: &str,
) -> Result<(), SessionError> {
    let session = manager.create();
    session.data_mut().n = 1;
    session.set_owner(Some(owner));
    manager.commit(&session).await.map(|_| ())
}

/// Twelve simultaneous logins of one owner under a cap of three leave
/// exactly three sessions: with evict-oldest every login succeeds and the
/// oldest end; with refuse exactly three logins succeed and the others get
/// [`SessionError::OwnerLimitReached`], their sessions removed. An owner
/// below the cap is untouched, and another owner is never affected.
pub async fn parallel_logins_never_exceed_the_owner_limit(fx: &dyn Fixture) {
    let store = fx.store();
    for policy in [OwnerLimitPolicy::EvictOldest, OwnerLimitPolicy::Refuse] {
        store.clear().await.unwrap();
        let manager = manager(Arc::clone(&store), Some((3, policy)));
        login(&manager, "bystander").await.unwrap();
        let logins: Vec<_> = (0..12)
            .map(|_| {
                let manager = manager.clone();
                tokio::spawn(async move { login(&manager, "crowd").await })
            })
            .collect();
        let mut succeeded = 0;
        for login in logins {
            match login.await.unwrap() {
                Ok(()) => succeeded += 1,
                Err(SessionError::OwnerLimitReached { max: 3 }) => {
                    assert_eq!(policy, OwnerLimitPolicy::Refuse)
                }
                Err(other) => panic!("{policy:?}: {other}"),
            }
        }
        let left = store.ids_by_owner("crowd").await.unwrap();
        assert_eq!(left.len(), 3, "{policy:?}");
        if policy == OwnerLimitPolicy::Refuse {
            assert_eq!(succeeded, 3);
        } else {
            assert_eq!(succeeded, 12);
        }
        assert_eq!(store.ids_by_owner("bystander").await.unwrap().len(), 1);
    }
}

/// Logging in a fourth time under a cap of three ends the oldest session,
/// and the newest is the one that stays.
pub async fn a_login_over_the_limit_ends_the_oldest_session(fx: &dyn Fixture) {
    let store = fx.store();
    let manager = manager(Arc::clone(&store), Some((3, OwnerLimitPolicy::EvictOldest)));
    let mut ids = Vec::new();
    for _ in 0..4 {
        let session = manager.create();
        session.set_owner(Some("serial"));
        manager.commit(&session).await.unwrap();
        ids.push(session.id());
        // Creation times a store keeps to the millisecond must differ.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(store.load(&ids[0], None).await.unwrap().is_none());
    let mut left = store.ids_by_owner("serial").await.unwrap();
    left.sort();
    let mut want = ids[1..].to_vec();
    want.sort();
    assert_eq!(left, want);
}

/// Through the manager: the owner's sessions newest first with their
/// metadata, the current one marked; revoking one by id only for its owner;
/// revoking all but the current one.
pub async fn listing_and_revoking_through_the_manager(fx: &dyn Fixture) {
    let store = fx.store();
    let manager = manager(Arc::clone(&store), None);
    let lazy = manager.start_request_with(|| {
        ClientInfo::new(Some("192.0.2.7".parse().unwrap()), Some("Firefox/140"))
    });
    let first = lazy.load([]).await.unwrap();
    first.set_owner(Some("lister"));
    manager.finish_request(&lazy, 200).await.unwrap();
    let mut ids = vec![first.id()];
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let session = manager.create();
        session.set_owner(Some("lister"));
        manager.commit(&session).await.unwrap();
        ids.push(session.id());
    }
    login(&manager, "someone-else").await.unwrap();
    let current = ids[1].clone();
    let listed = manager.sessions_of("lister", Some(&current)).await.unwrap();
    let listed_ids: Vec<_> = listed.iter().map(|e| e.id.clone()).collect();
    assert_eq!(listed_ids, ids.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(
        listed.iter().map(|e| e.current).collect::<Vec<_>>(),
        [false, true, false]
    );
    let oldest = &listed[2];
    assert_eq!(oldest.ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(oldest.user_agent.as_deref(), Some("Firefox/140"));
    let created = oldest.created_at.unwrap();
    let seen = oldest.last_seen_at.unwrap();
    assert!(seen >= created, "{seen} before {created}");
    assert!(listed[0].created_at.unwrap() > created);

    // Someone else's id, an unknown one: not revoked.
    let strangers = store.ids_by_owner("someone-else").await.unwrap();
    assert!(!manager.revoke("lister", &strangers[0]).await.unwrap());
    assert!(store.load(&strangers[0], None).await.unwrap().is_some());
    assert!(manager.revoke("lister", &ids[0]).await.unwrap());
    assert!(!manager.revoke("lister", &ids[0]).await.unwrap());
    assert_eq!(manager.revoke_others("lister", &current).await.unwrap(), 1);
    let left = manager.sessions_of("lister", Some(&current)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].current);
    assert_eq!(store.ids_by_owner("someone-else").await.unwrap().len(), 1);
}

/// The `Max-Age` of a `Set-Cookie`, in seconds.
fn max_age(cookie: &session_core::adapter::SetCookie) -> u64 {
    cookie
        .as_str()
        .split("; ")
        .find_map(|attribute| attribute.strip_prefix("Max-Age="))
        .and_then(|secs| secs.parse().ok())
        .unwrap_or(0)
}

/// A remembered session keeps its own timeouts in the store: a later
/// request and a rotation still see them, and its cookie's `Max-Age` says
/// so.
pub async fn remembered_sessions_keep_their_timeouts_across_rotation(fx: &dyn Fixture) {
    let manager = manager(fx.store(), None);
    let month = Duration::from_secs(30 * 24 * 3600);
    let session = manager.create();
    session.set_owner(Some("rememberer"));
    session.remember(month);
    let cookie = manager.commit(&session).await.unwrap().unwrap();
    assert!(max_age(&cookie) > 29 * 24 * 3600, "{cookie:?}");
    let value = cookie.pair();
    let value = value.split_once('=').unwrap().1;

    let later = manager.load(Some(value)).await.unwrap();
    assert!(later.is_remembered());
    assert_eq!(later.idle_timeout(), month);
    later.regenerate();
    let rotated = manager.commit(&later).await.unwrap().unwrap();
    assert!(max_age(&rotated) > 29 * 24 * 3600, "{rotated:?}");
    let value = rotated.pair();
    let value = value.split_once('=').unwrap().1;
    let again = manager.load(Some(value)).await.unwrap();
    assert!(!again.is_new());
    assert_eq!(again.idle_timeout(), month);
    let listed = manager.sessions_of("rememberer", None).await.unwrap();
    assert!(listed[0].remembered);
}
