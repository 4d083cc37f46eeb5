//! Requests to an axum or actix-web app in process, without sockets: the
//! whole session layer, extractor and handler, minus the network. The
//! profiling harness (`profile` binary) and the `http_cycle` micro
//! benchmarks use it, so that an instruction count per request compares the
//! libraries' own work.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{Service as ActixService, ServiceResponse};
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

/// A future of the in-process drivers; not `Send`, since actix-web's
/// services are not.
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// One app called in process, whatever its framework: what the profiling
/// harness drives.
pub trait Driver {
    /// One request of the next user in turn; answers the count.
    fn next<'a>(&'a mut self, path: &'a str) -> LocalFuture<'a, Result<CountBody, BoxError>>;
}

impl Driver for InProcess {
    fn next<'a>(&'a mut self, path: &'a str) -> LocalFuture<'a, Result<CountBody, BoxError>> {
        Box::pin(InProcess::next(self, path))
    }
}

/// An initialised actix-web app (the service `actix_web::test::init_service`
/// makes) and a set of users' cookie jars: the whole middleware, extractor
/// and handler, minus the network, as [`InProcess`] is for axum. Needs an
/// actix system (`actix_web::rt::System`).
pub struct ActixInProcess<S> {
    service: S,
    jars: Vec<CookieJar>,
    next: usize,
}

impl<S> std::fmt::Debug for ActixInProcess<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActixInProcess")
            .field("users", &self.jars.len())
            .finish_non_exhaustive()
    }
}

impl<S, B> ActixInProcess<S>
where
    S: ActixService<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
    B::Error: Into<Box<dyn std::error::Error>>,
{
    /// An app with `users` users, who each get a session with one
    /// `GET /counter` when `with_sessions` is set.
    pub async fn new(service: S, users: usize, with_sessions: bool) -> Result<Self, BoxError> {
        let mut app = ActixInProcess {
            service,
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
        let mut request = actix_web::test::TestRequest::get().uri(path);
        if let Some(cookie) = jar.header() {
            request = request.insert_header(("cookie", cookie.to_str()?));
        }
        let response = self
            .service
            .call(request.to_request())
            .await
            .map_err(|e| format!("GET {path} failed: {e}"))?;
        for value in response.headers().get_all("set-cookie") {
            jar.store(value.to_str()?);
        }
        if !response.status().is_success() {
            return Err(format!("GET {path} answered {}", response.status()).into());
        }
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .map_err(|e| format!("GET {path}: the body does not read: {}", e.into()))?;
        Ok(serde_json::from_slice(&body)?)
    }
}

impl<S, B> Driver for ActixInProcess<S>
where
    S: ActixService<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
    B::Error: Into<Box<dyn std::error::Error>>,
{
    fn next<'a>(&'a mut self, path: &'a str) -> LocalFuture<'a, Result<CountBody, BoxError>> {
        let user = self.next;
        self.next = (self.next + 1) % self.jars.len();
        Box::pin(self.request(user, path))
    }
}
