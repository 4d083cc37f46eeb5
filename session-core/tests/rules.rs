//! One test per rule that core enforces (ARCHITECTURE.md, "One request, step
//! by step"); each fails if its rule is broken.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{manager, pair, request, Cart, Counting};
use session_core::{
    adapter::SetCookie,
    store::{Record, SessionStore, StoreError},
    Codec, Concurrency, ErrorClass, EventKind, IdleRefresh, Session, SessionError, SessionId,
    SessionManager,
};

fn add(item: &'static str) -> impl Fn(&Session<Cart>) {
    move |s| s.data_mut().items.push(item.into())
}

fn read(s: &Session<Cart>) {
    let _ = s.data().items.len();
}

/// The cookie of a new session that a first request wrote (one item).
async fn tea_cookie(m: &SessionManager<Cart>) -> String {
    pair(&request(m, None, 200, Some(&add("tea"))).await.unwrap())
}

/// Runs a request with `cookie` whose handler asserts that the session is
/// new (`true`: the cookie's session was gone) or not; answers its
/// `Set-Cookie`.
async fn assert_new(
    m: &SessionManager<Cart>,
    cookie: &str,
    new: bool,
    why: &str,
) -> Option<SetCookie> {
    let check = |s: &Session<Cart>| assert_eq!(s.is_new(), new, "{why}");
    request(m, Some(cookie), 200, Some(&check)).await.unwrap()
}

#[test]
fn handle_is_clone_send_sync() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    check::<Session<Cart>>();
    check::<session_core::adapter::LazySession<Cart>>();
    check::<session_core::SessionManager<Cart>>();
}

#[tokio::test]
async fn lazy_untouched_session_costs_nothing() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let first = request(&m, None, 200, Some(&add("tea"))).await.unwrap();
    let before = store.calls.total();
    // A handler that never asks for the session, even with a valid cookie.
    let out = request(&m, Some(&pair(&first)), 200, None).await.unwrap();
    assert!(out.is_none(), "no Set-Cookie");
    assert_eq!(store.calls.total(), before, "no store call");
}

#[tokio::test]
async fn new_session_is_written_only_once_it_holds_data() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let out = request(&m, None, 200, Some(&read)).await.unwrap();
    assert!(out.is_none());
    assert_eq!(store.calls.total(), 0);
    assert!(store.inner.is_empty());

    let out = request(&m, None, 200, Some(&add("tea"))).await.unwrap();
    assert!(out.is_some());
    assert_eq!(
        store.calls.get(&store.calls.create),
        1,
        "one create, nothing else"
    );
    assert_eq!(store.calls.total(), 1);
}

#[tokio::test]
async fn unchanged_session_is_touched_at_commit_not_rewritten() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b.refresh_fraction(0.0));
    let cookie = tea_cookie(&m).await;
    let before = store.calls.total();
    let out = request(&m, Some(&cookie), 200, Some(&read)).await.unwrap();
    assert_eq!(
        store.calls.total() - before,
        2,
        "a plain load, then a touch"
    );
    assert_eq!(store.calls.get(&store.calls.load_touch), 0);
    assert_eq!(
        store.calls.get(&store.calls.touch),
        1,
        "the commit touched, which also proves the record is still there"
    );
    assert_eq!(store.calls.get(&store.calls.save), 0);
    // The touch sends the cookie again, with the same token.
    assert_eq!(pair(&out), cookie);
}

#[tokio::test]
async fn reads_within_the_refresh_fraction_write_nothing_and_send_no_cookie() {
    let store = Counting::new();
    // A tenth of the idle timeout by default: 200 ms of 2 s.
    let m = manager::<Cart>(&store, |b| b.idle_timeout(Duration::from_secs(2)));
    assert_eq!(m.config().refresh_slack(), Duration::from_millis(200));
    let cookie = tea_cookie(&m).await;
    let before = store.calls.total();
    for _ in 0..3 {
        let out = request(&m, Some(&cookie), 200, Some(&read)).await.unwrap();
        assert!(out.is_none(), "no Set-Cookie within the slack: {out:?}");
    }
    assert_eq!(store.calls.total() - before, 3, "one plain load each");
    tokio::time::sleep(Duration::from_millis(250)).await;
    let out = request(&m, Some(&cookie), 200, Some(&read)).await.unwrap();
    assert_eq!(
        pair(&out),
        cookie,
        "past the slack the cookie goes out again"
    );
    assert_eq!(
        store.calls.get(&store.calls.touch),
        1,
        "and the record is touched"
    );
    // Touched: the next reads are within the slack again.
    let out = request(&m, Some(&cookie), 200, Some(&read)).await.unwrap();
    assert!(out.is_none(), "{out:?}");
    assert_eq!(store.calls.get(&store.calls.touch), 1);
}

#[tokio::test]
async fn the_refresh_fraction_is_configurable_and_checked() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| {
        b.idle_timeout(Duration::from_secs(100))
            .refresh_fraction(0.25)
    });
    assert_eq!(m.config().refresh_slack(), Duration::from_secs(25));
    let every_read = manager::<Cart>(&store, |b| b.refresh_fraction(0.0));
    assert_eq!(every_read.config().refresh_slack(), Duration::ZERO);
    for bad in [-0.1, 1.0, 2.0, f64::NAN, f64::INFINITY] {
        let built = session_core::SessionConfig::testing()
            .shared_store(Arc::new(store.clone()))
            .refresh_fraction(bad)
            .build();
        assert!(
            matches!(
                built,
                Err(session_core::ConfigError::InvalidRefreshSlack(_))
            ),
            "{bad}"
        );
    }
}

/// The session expires at the idle expiry last written, never later: a
/// session read within the slack ends one idle timeout after its last
/// touch, however often it was read since.
#[tokio::test]
async fn reads_within_the_slack_do_not_extend_the_session() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| {
        b.idle_timeout(Duration::from_millis(1000))
            .refresh_fraction(0.9)
    });
    let cookie = tea_cookie(&m).await;
    // Reads at 300 ms and 600 ms: the expiry would move by less than 900 ms.
    for wait in [300, 300] {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let out = assert_new(&m, &cookie, false, "").await;
        assert!(out.is_none(), "{out:?}");
    }
    assert_eq!(store.calls.get(&store.calls.touch), 0);
    // 1100 ms after the write, 500 ms after the last read: expired.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_new(&m, &cookie, true, "expired at the written expiry").await;
}

#[tokio::test]
async fn on_write_policy_neither_touches_nor_resends() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b.idle_refresh(IdleRefresh::OnWrite));
    let cookie = tea_cookie(&m).await;
    let out = request(&m, Some(&cookie), 200, Some(&read)).await.unwrap();
    assert!(out.is_none());
    assert_eq!(store.calls.get(&store.calls.load), 1);
    assert_eq!(
        store.calls.get(&store.calls.touch) + store.calls.get(&store.calls.save),
        0
    );
}

#[tokio::test]
async fn threshold_policy_touches_only_past_the_threshold() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| {
        b.idle_timeout(Duration::from_millis(600))
            .idle_refresh(IdleRefresh::WhenRemainingBelow(0.5))
    });
    let cookie = tea_cookie(&m).await;
    assert!(request(&m, Some(&cookie), 200, Some(&read))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store.calls.get(&store.calls.touch),
        0,
        "plenty of time left"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let out = request(&m, Some(&cookie), 200, Some(&read)).await.unwrap();
    assert_eq!(
        store.calls.get(&store.calls.touch),
        1,
        "past half: one touch"
    );
    assert_eq!(
        store.calls.get(&store.calls.save),
        0,
        "a touch, never a rewrite"
    );
    assert_eq!(pair(&out), cookie);
    // The touch really extended it: 400 ms later it is still alive.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let alive = Arc::new(Mutex::new(Vec::new()));
    let seen = alive.clone();
    request(
        &m,
        Some(&cookie),
        200,
        Some(&move |s: &Session<Cart>| seen.lock().unwrap().extend(s.data().items.clone())),
    )
    .await
    .unwrap();
    assert_eq!(*alive.lock().unwrap(), ["tea"]);
}

#[tokio::test]
async fn unknown_tokens_are_never_adopted() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let planted = format!("_session={}", session_core::crypto::token::random_token());
    let out = request(&m, Some(&planted), 200, Some(&add("tea")))
        .await
        .unwrap();
    let issued = pair(&out);
    assert_ne!(issued, planted, "the client got a fresh token");
    assert_eq!(store.inner.len(), 1);
    let planted_id = SessionId::from_token(planted.trim_start_matches("_session="));
    assert!(store.inner.load(&planted_id, None).await.unwrap().is_none());
}

#[tokio::test]
async fn garbage_cookies_give_fresh_sessions_without_store_calls() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let long = format!("_session={}", "A".repeat(10_000));
    let many = vec!["_session=x"; 50].join("; ");
    for cookie in [
        "",
        "_session=",
        "_session=%%%",
        "_session=ÿÿÿ",
        long.as_str(),
        many.as_str(),
        "garbage;;=;",
    ] {
        let seen = Arc::new(AtomicUsize::new(0));
        let s2 = seen.clone();
        let out = request(
            &m,
            Some(cookie),
            200,
            Some(&move |s: &Session<Cart>| {
                assert!(s.is_new());
                s2.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .await
        .unwrap();
        assert!(out.is_none());
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }
    assert_eq!(
        store.calls.total(),
        0,
        "malformed tokens never reach the store"
    );
}

#[tokio::test]
async fn first_well_formed_cookie_of_many_is_used() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let good = tea_cookie(&m).await;
    let headers = [
        format!("_session=bad; other=1; {good}"),
        "_session=later".to_owned(),
    ];
    let lazy = m.start_request();
    let session = lazy.load(headers.iter().map(String::as_str)).await.unwrap();
    assert_eq!(session.data().items, ["tea"]);
}

#[tokio::test]
async fn idle_timeout_expires_sessions() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b.idle_timeout(Duration::from_millis(300)));
    let cookie = tea_cookie(&m).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let out = assert_new(&m, &cookie, true, "").await;
    assert!(out.is_none());
}

#[tokio::test]
async fn requests_slide_the_idle_timeout_but_not_the_absolute_one() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| {
        b.idle_timeout(Duration::from_millis(300))
            .absolute_timeout(Duration::from_millis(900))
    });
    let cookie = tea_cookie(&m).await;
    // Used every 150 ms: the idle timeout never strikes...
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_new(&m, &cookie, false, "").await;
    }
    // ...but the absolute one does, however busy the session is.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        request(&m, Some(&cookie), 200, Some(&read)).await.unwrap();
    }
    assert_new(&m, &cookie, true, "absolute expiry").await;
}

/// `Max-Age` covers the absolute lifetime, not the idle one: the store
/// enforces the idle expiry, so the browser's copy need not follow it, and
/// a touch sends the same expiry again.
#[tokio::test]
async fn max_age_is_the_remaining_absolute_lifetime() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| {
        b.idle_timeout(Duration::from_secs(60))
            .absolute_timeout(Duration::from_secs(7200))
            .refresh_fraction(0.0)
    });
    let out = request(&m, None, 200, Some(&add("tea")))
        .await
        .unwrap()
        .unwrap();
    assert!(out.as_str().contains("Max-Age=7200"), "{}", out.as_str());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let touched = request(&m, Some(out.pair().as_str()), 200, Some(&read))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.calls.get(&store.calls.touch), 1);
    assert!(
        touched.as_str().contains("Max-Age=7198") || touched.as_str().contains("Max-Age=7199"),
        "the same absolute expiry: {}",
        touched.as_str()
    );
}

#[tokio::test]
async fn max_age_is_the_remaining_lifetime() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| {
        b.idle_timeout(Duration::from_secs(3600))
            .absolute_timeout(Duration::from_secs(600))
    });
    let out = request(&m, None, 200, Some(&add("tea")))
        .await
        .unwrap()
        .unwrap();
    let header = out.as_str();
    assert!(header.contains("Max-Age=600"), "{header}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(header.contains(attr), "{attr}: {header}");
    }
}

#[tokio::test]
async fn regenerate_moves_the_session_and_removes_the_old_record() {
    let store = Counting::new();
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let m = manager::<Cart>(&store, move |b| {
        b.on_regenerated(move |e| {
            let items = e.data::<Cart>().map(|d| d.items.clone());
            log.lock()
                .unwrap()
                .push((e.id.clone(), e.previous_id.cloned(), items));
        })
    });
    let old = tea_cookie(&m).await;
    let old_id = SessionId::from_token(old.trim_start_matches("_session="));
    let before = store.calls.total();
    let new = pair(
        &request(
            &m,
            Some(&old),
            200,
            Some(&|s: &Session<Cart>| {
                s.regenerate();
                s.data_mut().user = Some("alice".into());
            }),
        )
        .await
        .unwrap(),
    );
    assert_ne!(new, old);
    assert_eq!(store.calls.total() - before, 2, "load, rotate");
    assert_eq!(store.calls.get(&store.calls.rotate), 1);
    assert!(
        store.inner.load(&old_id, None).await.unwrap().is_none(),
        "old record gone"
    );
    {
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].1.as_ref(), Some(&old_id));
        assert_eq!(events[0].2.as_deref(), Some(&["tea".to_owned()][..]));
    }
    // the old cookie is now an anonymous session; the new one has the data
    let seen = Arc::new(Mutex::new(None));
    let s2 = seen.clone();
    request(
        &m,
        Some(&new),
        200,
        Some(&move |s: &Session<Cart>| *s2.lock().unwrap() = s.data().user.clone()),
    )
    .await
    .unwrap();
    assert_eq!(seen.lock().unwrap().as_deref(), Some("alice"));
    assert_new(&m, &old, true, "").await;
}

#[tokio::test]
async fn delete_removes_the_record_and_expires_the_cookie() {
    let store = Counting::new();
    let deleted = Arc::new(AtomicUsize::new(0));
    let d2 = deleted.clone();
    let m = manager::<Cart>(&store, move |b| {
        b.on_deleted(move |_| {
            d2.fetch_add(1, Ordering::SeqCst);
        })
    });
    let cookie = tea_cookie(&m).await;
    let out = request(
        &m,
        Some(&cookie),
        200,
        Some(&|s: &Session<Cart>| s.delete()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(out.is_removal());
    assert!(out.as_str().contains("Max-Age=0"));
    assert!(store.inner.is_empty());
    assert_eq!(deleted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn server_errors_do_not_save_unless_configured() {
    for save_on_5xx in [false, true] {
        let store = Counting::new();
        let m = manager::<Cart>(&store, |b| b.save_on_server_error(save_on_5xx));
        let out = request(&m, None, 500, Some(&add("tea"))).await.unwrap();
        assert_eq!(out.is_some(), save_on_5xx);
        assert_eq!(store.inner.len(), usize::from(save_on_5xx));
    }
}

#[tokio::test]
async fn reject_policy_refuses_stale_saves() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b.concurrency(Concurrency::Reject));
    let cookie = tea_cookie(&m).await;
    // Two requests load the same version...
    let (a, b) = (m.start_request(), m.start_request());
    let sa = a.load(Some(cookie.as_str())).await.unwrap();
    let sb = b.load(Some(cookie.as_str())).await.unwrap();
    sa.data_mut().items.push("milk".into());
    sb.data_mut().items.push("sugar".into());
    m.finish_request(&a, 200).await.unwrap();
    let err = m.finish_request(&b, 200).await.unwrap_err();
    assert!(
        matches!(err, SessionError::Store(StoreError::Conflict { .. })),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Conflict);
    assert_eq!(err.status_code(), 409);
    // ...and the acknowledged write is what the store holds.
    let id = SessionId::from_token(cookie.trim_start_matches("_session="));
    assert_eq!(m.get(&id).await.unwrap().data.items, ["tea", "milk"]);
}

#[tokio::test]
async fn last_write_wins_policy_accepts_both() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let cookie = tea_cookie(&m).await;
    let (a, b) = (m.start_request(), m.start_request());
    a.load(Some(cookie.as_str()))
        .await
        .unwrap()
        .data_mut()
        .items
        .push("milk".into());
    b.load(Some(cookie.as_str()))
        .await
        .unwrap()
        .data_mut()
        .items
        .push("sugar".into());
    m.finish_request(&a, 200).await.unwrap();
    m.finish_request(&b, 200).await.unwrap();
    let id = SessionId::from_token(cookie.trim_start_matches("_session="));
    assert_eq!(m.get(&id).await.unwrap().data.items, ["tea", "sugar"]);
}

#[tokio::test]
async fn saving_a_session_deleted_meanwhile_is_an_error_not_a_resurrection() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let cookie = tea_cookie(&m).await;
    let lazy = m.start_request();
    let session = lazy.load(Some(cookie.as_str())).await.unwrap();
    // "log out everywhere" happens while this request runs
    assert!(m.delete(&session.id()).await.unwrap());
    session.data_mut().items.push("milk".into());
    let err = m.finish_request(&lazy, 200).await.unwrap_err();
    assert!(
        matches!(err, SessionError::Store(StoreError::NotFound)),
        "{err:?}"
    );
    assert!(store.inner.is_empty(), "not recreated");
}

#[tokio::test]
async fn flash_messages_are_shown_once_and_wait_until_read() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let cookie = pair(
        &request(&m, None, 200, Some(&|s: &Session<Cart>| s.flash("saved")))
            .await
            .unwrap(),
    );
    let take = |into: Arc<Mutex<Vec<String>>>| {
        move |s: &Session<Cart>| {
            into.lock()
                .unwrap()
                .extend(s.take_flash().into_iter().map(|f| f.text))
        }
    };
    // an unrelated request does not consume it
    request(&m, Some(&cookie), 200, Some(&read)).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    request(&m, Some(&cookie), 200, Some(&take(seen.clone())))
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), ["saved"]);
    let again = Arc::new(Mutex::new(Vec::new()));
    request(&m, Some(&cookie), 200, Some(&take(again.clone())))
        .await
        .unwrap();
    assert!(again.lock().unwrap().is_empty(), "shown once");
}

#[tokio::test]
async fn keep_flash_keeps_messages_for_one_more_request() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let cookie = pair(
        &request(&m, None, 200, Some(&|s: &Session<Cart>| s.flash("hi")))
            .await
            .unwrap(),
    );
    request(
        &m,
        Some(&cookie),
        200,
        Some(&|s: &Session<Cart>| {
            assert_eq!(s.take_flash().len(), 1);
            s.keep_flash();
        }),
    )
    .await
    .unwrap();
    request(
        &m,
        Some(&cookie),
        200,
        Some(&|s: &Session<Cart>| assert_eq!(s.take_flash().len(), 1)),
    )
    .await
    .unwrap();
    request(
        &m,
        Some(&cookie),
        200,
        Some(&|s: &Session<Cart>| assert!(s.take_flash().is_empty())),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn owners_can_be_logged_out_everywhere() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let mut cookies = Vec::new();
    for owner in ["alice", "alice", "bob"] {
        let out = request(
            &m,
            None,
            200,
            Some(&move |s: &Session<Cart>| s.set_owner(Some(owner))),
        )
        .await
        .unwrap();
        cookies.push(pair(&out));
    }
    assert_eq!(m.delete_by_owner("alice").await.unwrap(), 2);
    assert_eq!(m.count().await.unwrap(), 1);
    assert_new(&m, &cookies[0], true, "").await;
    assert_new(&m, &cookies[2], false, "").await;
}

#[tokio::test]
async fn provider_api_get_find_delete_clear() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let session = m.create();
    session.data_mut().items.push("tea".into());
    m.commit(&session).await.unwrap().unwrap();
    let id = session.id();
    assert_eq!(m.get(&id).await.unwrap().data.items, ["tea"]);
    let missing = SessionId::random();
    assert!(matches!(
        m.get(&missing).await,
        Err(SessionError::NotFound(_))
    ));
    assert!(m.find(&missing).await.unwrap().is_none());
    assert!(
        m.commit(&session).await.unwrap().is_none(),
        "a second commit writes nothing"
    );
    m.clear().await.unwrap();
    assert!(m.find(&id).await.unwrap().is_none());
    assert!(!m.delete(&id).await.unwrap());
}

#[tokio::test]
async fn undecodable_records_are_fresh_sessions() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b.codec(Codec::Bincode));
    let token = session_core::crypto::token::random_token();
    let now = session_core::time::OffsetDateTime::now_utc();
    let record = Record::new(
        SessionId::from_token(&token),
        vec![0xff; 7],
        now,
        now + Duration::from_secs(60),
        now + Duration::from_secs(60),
    )
    .with_version(1);
    store.inner.create(&record).await.unwrap();
    let cookie = format!("_session={token}");
    let out = request(
        &m,
        Some(&cookie),
        200,
        Some(&|s: &Session<Cart>| {
            assert!(s.is_new());
            s.data_mut().items.push("x".into());
        }),
    )
    .await
    .unwrap();
    assert_ne!(pair(&out), cookie, "a fresh token, not the corrupt one");
    assert_eq!(store.inner.len(), 2, "the other record is left alone");
}

#[tokio::test]
async fn callbacks_see_started_and_loaded() {
    let store = Counting::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let m = manager::<Cart>(&store, move |b| {
        b.on_started(move |e| {
            s1.lock()
                .unwrap()
                .push((e.kind, e.data::<Cart>().map(|d| d.items.len())))
        })
        .on_loaded(move |e| {
            s2.lock()
                .unwrap()
                .push((e.kind, e.data::<Cart>().map(|d| d.items.len())))
        })
    });
    let cookie = tea_cookie(&m).await;
    request(&m, Some(&cookie), 200, Some(&read)).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [(EventKind::Started, Some(1)), (EventKind::Loaded, Some(1))]
    );
}

#[tokio::test]
async fn store_keys_are_hashes_never_tokens() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let cookie = tea_cookie(&m).await;
    let token = cookie.trim_start_matches("_session=");
    let ids = store.inner.ids().await.unwrap();
    assert_eq!(ids.len(), 1);
    assert_ne!(ids[0].as_str(), token);
    assert_eq!(ids[0], SessionId::from_token(token));
}

#[tokio::test]
async fn sealed_fields_do_not_show_in_the_store() {
    #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
    struct Notes {
        note: Option<session_core::Sealed<String>>,
    }
    let store = Counting::new();
    let m = manager::<Notes>(&store, |b| b.codec(Codec::Json));
    let session = m.create();
    let sealed = session.seal("note", &"my secret diary".to_owned()).unwrap();
    session.data_mut().note = Some(sealed);
    m.commit(&session).await.unwrap();
    let record = store
        .inner
        .load(&session.id(), None)
        .await
        .unwrap()
        .unwrap();
    let dump = String::from_utf8_lossy(&record.data);
    assert!(!dump.contains("diary"), "{dump}");
    let loaded = m.get(&session.id()).await.unwrap();
    assert_eq!(
        session
            .open("note", loaded.data.note.as_ref().unwrap())
            .unwrap(),
        "my secret diary"
    );
}

#[tokio::test]
async fn store_outage_is_an_unavailable_error() {
    use session_store_memory::{MemoryStore, Overflow};
    let full = MemoryStore::builder().capacity(0, Overflow::Refuse).build();
    let m = session_core::SessionManager::<Cart>::new(
        session_core::SessionConfig::testing()
            .store(full)
            .build()
            .unwrap(),
    );
    let lazy = m.start_request();
    lazy.load(None)
        .await
        .unwrap()
        .data_mut()
        .items
        .push("x".into());
    let err = m.finish_request(&lazy, 200).await.unwrap_err();
    assert_eq!(err.status_code(), 503);
    assert!(!err.public_message().contains("capacity"));
}

#[tokio::test]
async fn a_cookie_name_with_unicode_spaces_is_another_cookie() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b.secure(true).host_prefix(true));
    let set_cookie = request(&m, None, 200, Some(&add("tea"))).await.unwrap();
    let (name, token) = pair(&set_cookie)
        .split_once('=')
        .map(|(n, t)| (n.to_owned(), t.to_owned()))
        .unwrap();
    assert_eq!(name, "__Host-_session");
    // Tossed from a sibling subdomain under a name that browsers keep apart
    // from `__Host-_session` (and that escapes the `__Host-` rules).
    for tossed in [
        format!("\u{2000}{name}={token}"),
        format!("{name}\u{a0}={token}"),
        format!("\u{3000}{name}\u{3000}={token}"),
    ] {
        let lazy = m.start_request();
        let session = lazy.load([tossed.as_str()]).await.unwrap();
        assert!(
            session.is_new(),
            "{tossed:?} was read as the session cookie"
        );
        assert!(session.data().items.is_empty());
    }
    // The real cookie, with the blanks RFC 6265bis allows around it.
    let lazy = m.start_request();
    let plain = format!(" \t{name} \t= {token}\t");
    let session = lazy.load([plain.as_str()]).await.unwrap();
    assert_eq!(session.data().items, ["tea"]);
}

#[tokio::test]
async fn oversized_sessions_are_refused_at_commit_and_nothing_is_written() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let cookie = tea_cookie(&m).await;
    let lazy = m.start_request();
    let session = lazy.load(Some(cookie.as_str())).await.unwrap();
    let id = session.id();
    let writes = store.calls.get(&store.calls.save) + store.calls.get(&store.calls.create);
    // Past the default bound of 64 KiB.
    session.data_mut().items.push("x".repeat(70_000));
    let error = m.finish_request(&lazy, 200).await.unwrap_err();
    assert_eq!(error.status_code(), 500, "{error:?}");
    assert_eq!(error.class(), ErrorClass::Internal);
    assert!(
        matches!(error, SessionError::SessionTooLarge { size, limit: 65_536 } if size > 70_000),
        "{error:?}"
    );
    let after = store.calls.get(&store.calls.save) + store.calls.get(&store.calls.create);
    assert_eq!(after, writes, "nothing was written");
    let stored = m.get(&id).await.unwrap();
    assert_eq!(
        stored.data.items,
        ["tea"],
        "the store holds the previous version"
    );
    assert_eq!(
        store.inner.load(&id, None).await.unwrap().unwrap().version,
        1
    );
}

/// Takes the flash messages of one request, in order.
async fn flash_texts(m: &session_core::SessionManager<Cart>, cookie: &str) -> Vec<String> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = seen.clone();
    request(
        m,
        Some(cookie),
        200,
        Some(&move |s: &Session<Cart>| {
            into.lock()
                .unwrap()
                .extend(s.take_flash().into_iter().map(|f| f.text))
        }),
    )
    .await
    .unwrap();
    let texts = seen.lock().unwrap().clone();
    texts
}

#[tokio::test]
async fn pending_flash_messages_are_capped_to_the_newest() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b);
    let newest: Vec<String> = (68..100).map(|i| i.to_string()).collect();
    // A hundred in one request.
    let cookie = pair(
        &request(
            &m,
            None,
            200,
            Some(&|s: &Session<Cart>| (0..100).for_each(|i| s.flash(i.to_string()))),
        )
        .await
        .unwrap(),
    );
    assert_eq!(flash_texts(&m, &cookie).await, newest);
    // A hundred requests of one each (the demo's `POST /flash`).
    for i in 0..100 {
        request(
            &m,
            Some(&cookie),
            200,
            Some(&move |s: &Session<Cart>| s.flash(i.to_string())),
        )
        .await
        .unwrap();
    }
    assert_eq!(flash_texts(&m, &cookie).await, newest);
}

#[tokio::test]
async fn the_session_bound_is_configurable_and_covers_new_sessions_and_rotations() {
    let store = Counting::new();
    let m = manager::<Cart>(&store, |b| b.max_session_bytes(200));
    // A new session over the bound: not created.
    let big = |s: &Session<Cart>| s.data_mut().items.push("x".repeat(300));
    let error = request(&m, None, 200, Some(&big)).await.unwrap_err();
    assert!(
        matches!(error, SessionError::SessionTooLarge { limit: 200, .. }),
        "{error:?}"
    );
    assert!(store.inner.is_empty());
    assert_eq!(store.calls.total(), 0, "no store call at all");
    // A rotation over the bound: neither moved nor rewritten.
    let cookie = tea_cookie(&m).await;
    let before = store.calls.total();
    let rotate_big = |s: &Session<Cart>| {
        s.regenerate();
        s.data_mut().items.push("x".repeat(300));
    };
    let error = request(&m, Some(&cookie), 200, Some(&rotate_big))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SessionError::SessionTooLarge { .. }),
        "{error:?}"
    );
    assert_eq!(store.calls.total(), before + 1, "only the load");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = seen.clone();
    request(
        &m,
        Some(&cookie),
        200,
        Some(&move |s: &Session<Cart>| *into.lock().unwrap() = s.data().items.clone()),
    )
    .await
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), ["tea"], "the old token still works");
}
