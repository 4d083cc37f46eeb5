//! CSRF across processes: a token is bound to the session in the store,
//! not to the process that handed it out. An axum-demo and an actix-demo
//! on one store each accept the token the other gave, until the session
//! rotates (login) or ends (logout).

use reqwest::Method;

use crate::harness::{shared_store, Agent, Server, Target};

/// `POST /ui/counter` on `server` with `agent`'s session cookie and
/// `token` in the form field: the status (`303` back to `/`, or `403`).
/// The agent keeps the answer's cookie (the cookie store's session is in
/// it).
async fn increment(server: &Server, agent: &mut Agent, token: &str) -> u16 {
    let cookie = format!("_session={}", agent.cookie.as_deref().expect("a session"));
    let form = Some("application/x-www-form-urlencoded");
    let body = format!("csrf_token={token}").into_bytes();
    let answer = server
        .send_typed(
            Method::POST,
            "/ui/counter",
            Some(cookie.as_bytes()),
            Some((form, body)),
        )
        .await;
    if let Some(set) = answer.set_cookie() {
        agent.cookie = (!set.is_removal()).then(|| set.value.clone());
    }
    answer.status
}

/// A token of `agent`'s session, from `GET /csrf` (which starts a session
/// if there is none).
async fn token(agent: &mut Agent) -> String {
    let answer = agent.get("/csrf").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()["token"].as_str().expect("a token").to_owned()
}

/// Each server accepts a token the other handed out; after a login (which
/// rotates the session and its secret) the old token is refused on both,
/// and after a logout the session's tokens are.
pub(crate) async fn a_token_passes_on_the_other_server_until_rotation(
    axum: &Target,
    actix: &Target,
) {
    if axum.in_process() {
        eprintln!("skipped for the {} store: one process's", axum.store);
        return;
    }
    let shared = shared_store(axum.store);
    let env = shared.pairs();
    let (one, two) = (axum.start_with(&env), actix.start_with(&env));
    for (from, to) in [(&one, &two), (&two, &one)] {
        let mut agent = from.agent();
        let given = token(&mut agent).await;
        assert_eq!(
            increment(to, &mut agent, &given).await,
            303,
            "the other server"
        );
        assert_eq!(
            increment(from, &mut agent, &given).await,
            303,
            "the same server"
        );
        let mut there = to.agent_with(agent.cookie.clone());
        assert_eq!(there.get("/counter/peek").await.json()["count"], 2);

        agent.login("alice", "wonderland").await;
        for server in [to, from] {
            assert_eq!(increment(server, &mut agent, &given).await, 403, "rotated");
        }
        let fresh = token(&mut agent).await;
        assert_eq!(
            increment(to, &mut agent, &fresh).await,
            303,
            "the new token"
        );

        let mut before_logout = to.agent_with(agent.cookie.clone());
        assert_eq!(agent.post("/logout", "").await.status, 204);
        if axum.stateless() {
            // The cookie store keeps the session in the cookie: a copy of
            // the old cookie stays valid until it expires.
            continue;
        }
        assert_eq!(
            increment(to, &mut before_logout, &fresh).await,
            403,
            "logged out"
        );
    }
}
