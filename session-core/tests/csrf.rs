//! CSRF tokens against sessions committed to a real store: verification
//! through the request cycle, another session's token, rotation and reset.

use session_core::csrf::{verify, TOKEN_LEN};
use session_core::{SessionConfig, SessionManager};

fn manager() -> SessionManager<u32> {
    let config = SessionConfig::testing()
        .store(session_store_memory::MemoryStore::new())
        .build()
        .expect("config");
    SessionManager::new(config)
}

/// A committed session with a CSRF secret, its cookie and one token.
async fn session_with_token(manager: &SessionManager<u32>) -> (String, String) {
    let request = manager.start_request();
    let token = request.load(None).await.expect("load").csrf_token();
    let cookie = manager
        .finish_request(&request, 200)
        .await
        .expect("commit")
        .expect("asking for a token saves the session");
    (cookie.pair(), token)
}

async fn verified(
    manager: &SessionManager<u32>,
    cookie: Option<&str>,
    token: Option<String>,
) -> Result<(), u16> {
    let request = manager.start_request();
    let result = verify(Some(&request), cookie, token, "/x", ("L", "add L")).await;
    result.map_err(|reply| reply.status)
}

#[tokio::test]
async fn a_token_is_checked_against_the_stored_session_of_the_request() {
    let manager = manager();
    let (cookie, token) = session_with_token(&manager).await;
    let (other_cookie, other_token) = session_with_token(&manager).await;
    assert_eq!(
        verified(&manager, Some(&cookie), Some(token.clone())).await,
        Ok(())
    );
    assert_eq!(
        verified(&manager, Some(&other_cookie), Some(other_token)).await,
        Ok(())
    );
    // Another session's token, no token, no session, a garbled token.
    assert_eq!(
        verified(&manager, Some(&other_cookie), Some(token.clone())).await,
        Err(403)
    );
    assert_eq!(verified(&manager, Some(&cookie), None).await, Err(403));
    assert_eq!(
        verified(&manager, None, Some(token.clone())).await,
        Err(403)
    );
    assert_eq!(
        verified(&manager, Some(&cookie), Some("x".repeat(TOKEN_LEN))).await,
        Err(403)
    );
    // No layer: the missing-layer answer.
    let missing = verify::<u32>(None, None, Some(token), "/x", ("L", "add L")).await;
    assert_eq!(missing.map_err(|r| r.status), Err(500));
}

#[tokio::test]
async fn rotation_replaces_the_secret_and_reset_drops_it() {
    let manager = manager();
    let (cookie, token) = session_with_token(&manager).await;
    let request = manager.start_request();
    let session = request.load(Some(cookie.as_str())).await.expect("load");
    assert!(session.verify_csrf_token(&token));
    assert!(!session.is_modified(), "verifying changes nothing");
    session.regenerate();
    assert!(
        !session.verify_csrf_token(&token),
        "old tokens die with the old id"
    );
    let fresh = session.csrf_token();
    let rotated = manager
        .finish_request(&request, 200)
        .await
        .expect("commit")
        .expect("cookie");
    assert_eq!(
        verified(&manager, Some(&rotated.pair()), Some(fresh.clone())).await,
        Ok(())
    );
    assert_eq!(
        verified(&manager, Some(&rotated.pair()), Some(token)).await,
        Err(403)
    );

    let request = manager.start_request();
    let session = request
        .load(Some(rotated.pair().as_str()))
        .await
        .expect("load");
    session.reset();
    assert!(
        !session.verify_csrf_token(&fresh),
        "a reset session has no secret"
    );
}
