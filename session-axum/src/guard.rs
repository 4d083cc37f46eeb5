//! The login guard: a layer that lets only signed-in sessions through.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::response::Response;
use http::request::Parts;
use http::Request;
use session_core::adapter::{check_login, GuardedRequest, LazySession};
use session_core::{LoginPolicy, SessionData};
use tower_layer::Layer;
use tower_service::Service;

use crate::extract::cookie_values;
use crate::layer::BoxFuture;
use crate::response::{into_response, LAYER};

/// Lets a request through only if its session passes a predicate (for
/// example "has a user id"), except on allow-listed paths. The others are
/// redirected with `303 See Other` to the sign-in page,
/// `/login?redirect_to=<the original path and query, percent-encoded>`, or
/// answered `401 Unauthorized` with [`unauthorized`](Self::unauthorized).
/// The rules are those of [`LoginPolicy`].
///
/// The allow-list is matched against the request *path* only (never the
/// query string, so `/private?x=/login` is guarded). A path with a `.` or
/// `..` segment never matches it. The sign-in path is always allowed.
///
/// The guard must sit inside a [`SessionLayer`](crate::SessionLayer) (add it
/// with `.layer` or `.route_layer` *before* the `SessionLayer`): it loads the
/// session through the same per-request cycle, so the handler gets the same
/// session without a second store call. Without the layer it answers `500`;
/// if the store fails, the store error's status (`503`). It sees the path as
/// its router does: under `Router::nest`, install it on the outer router so
/// that `redirect_to` keeps the full path.
///
/// The sign-in handler must check that `redirect_to` is a local path (one
/// leading `/`) before redirecting to it.
#[derive(Clone, Debug)]
pub struct LoginGuard<T>(LoginPolicy<T>);

session_core::login_guard_builder!(LoginGuard);

impl<S, T> Layer<S> for LoginGuard<T> {
    type Service = LoginGuardService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        let policy = Arc::new(self.0.clone());
        LoginGuardService { inner, policy }
    }
}

/// The service made by [`LoginGuard`].
#[derive(Clone, Debug)]
pub struct LoginGuardService<S, T> {
    inner: S,
    policy: Arc<LoginPolicy<T>>,
}

impl<S, T> Service<Request<Body>> for LoginGuardService<S, T>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    T: SessionData,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The ready service goes into the future; a fresh clone stays here.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            if let Err(refusal) = check(&policy, &parts).await {
                return Ok(refusal);
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

/// Core's [`check_login`] on the request's path, as the router sees it.
async fn check<T: SessionData>(policy: &LoginPolicy<T>, parts: &Parts) -> Result<(), Response> {
    let request = GuardedRequest {
        path: parts.uri.path(),
        target: parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
        session: parts.extensions.get::<LazySession<T>>().cloned(),
        layer: LAYER,
    };
    check_login(policy, request, cookie_values(&parts.headers))
        .await
        .map_err(into_response)
}
