//! Requests to an axum app in process, without sockets: the whole session
//! layer, extractor and handler, minus the network. The profiling harness
//! (`profile` binary) and the `http_cycle` micro benchmarks use it, so that
//! an instruction count per request compares the libraries' own work.

use axum::body::Body;
use axum::Router;
use http::header::{COOKIE, SET_COOKIE};
use http::Request;
use http_body_util::BodyExt;
use tower_service::Service;

use crate::apps::CountBody;
use crate::loadgen::CookieJar;
use crate::BoxError;

/// An axum app and a set of users' cookie jars.
#[derive(Debug)]
pub struct InProcess {
    router: Router,
    jars: Vec<CookieJar>,
    next: usize,
}

impl InProcess {
    /// An app with `users` users, who each get a session with one
    /// `GET /counter` when `with_sessions` is set.
    pub async fn new(router: Router, users: usize, with_sessions: bool) -> Result<Self, BoxError> {
        let mut app = InProcess {
            router,
            jars: vec![CookieJar::default(); users.max(1)],
            next: 0,
        };
        if with_sessions {
            for user in 0..app.jars.len() {
                app.request(user, "/counter").await?;
            }
        }
        Ok(app)
    }

    /// One request of user `user`, with their cookies; answers the count.
    pub async fn request(&mut self, user: usize, path: &str) -> Result<CountBody, BoxError> {
        let jar = &mut self.jars[user];
        let mut request = Request::get(path);
        if let Some(cookie) = jar.header() {
            request = request.header(COOKIE, cookie.clone());
        }
        let response = self.router.call(request.body(Body::empty())?).await?;
        for value in response.headers().get_all(SET_COOKIE) {
            jar.store(value.to_str()?);
        }
        if !response.status().is_success() {
            return Err(format!("GET {path} answered {}", response.status()).into());
        }
        let body = response.into_body().collect().await?.to_bytes();
        Ok(serde_json::from_slice(&body)?)
    }

    /// One request of the next user in turn.
    pub async fn next(&mut self, path: &str) -> Result<CountBody, BoxError> {
        let user = self.next;
        self.next = (self.next + 1) % self.jars.len();
        self.request(user, path).await
    }
}
