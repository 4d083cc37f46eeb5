//! The login guard: a middleware that lets only signed-in sessions through.

use std::future::{ready, Ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::Error;
use futures_util::future::LocalBoxFuture;
use session_core::adapter::{check_login, GuardedRequest, Reply};
use session_core::{LoginPolicy, SessionData};

use crate::extract::{cookie_values, SessionExt};
use crate::response::{into_response, LAYER};

/// Lets a request through only if its session passes a predicate (for
/// example "has a user id"), except on allow-listed paths. The others are
/// redirected with `303 See Other` to the sign-in page,
/// `/login?redirect_to=<the original path and query, percent-encoded>`, or
/// answered `401 Unauthorized` with [`unauthorized`](Self::unauthorized).
/// The rules are those of [`LoginPolicy`].
///
/// The allow-list is matched against the request *path* as the router sees
/// it, never the query string (so `/private?x=/login` is guarded). A path
/// with a `.` or `..` segment never matches it. The sign-in path is always
/// allowed.
///
/// The guard must run inside a [`SessionMiddleware`](crate::SessionMiddleware):
/// in actix-web the **last** `.wrap` runs first, so write
/// `.wrap(LoginGuard::new(..)).wrap(SessionMiddleware::new(..))` (on the
/// app, or the guard on a `web::scope`). It loads the session through the
/// same per-request cycle, so the handler gets the same session without a
/// second store call. Without the middleware it answers `500`; if the store
/// fails, the store error's status (`503`).
///
/// The sign-in handler must check that `redirect_to` is a local path (one
/// leading `/`) before redirecting to it.
#[derive(Clone, Debug)]
pub struct LoginGuard<T>(LoginPolicy<T>);

session_core::login_guard_builder!(LoginGuard);

impl<S, B, T> Transform<S, ServiceRequest> for LoginGuard<T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    T: SessionData,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = LoginGuardService<S, T>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, inner: S) -> Self::Future {
        let (inner, policy) = (Rc::new(inner), Arc::new(self.0.clone()));
        ready(Ok(LoginGuardService { inner, policy }))
    }
}

/// The service made by [`LoginGuard`].
#[derive(Debug)]
pub struct LoginGuardService<S, T> {
    inner: Rc<S>,
    policy: Arc<LoginPolicy<T>>,
}

impl<S, B, T> Service<ServiceRequest> for LoginGuardService<S, T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    T: SessionData,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Error>>;

    forward_ready!(inner);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let (inner, policy) = (Rc::clone(&self.inner), Arc::clone(&self.policy));
        Box::pin(async move {
            if let Err(refusal) = check(&policy, &req).await {
                let refusal = into_response(refusal);
                return Ok(req.into_response(refusal).map_into_right_body());
            }
            Ok(inner.call(req).await?.map_into_left_body())
        })
    }
}

/// Core's [`check_login`] on the path the router matches (percent-decoded
/// where safe).
async fn check<T: SessionData>(policy: &LoginPolicy<T>, req: &ServiceRequest) -> Result<(), Reply> {
    let request = GuardedRequest {
        path: req.match_info().as_str(),
        target: req.uri().path_and_query().map_or("/", |pq| pq.as_str()),
        session: req.get_session::<T>(),
        layer: LAYER,
    };
    check_login(policy, request, cookie_values(req.headers())).await
}
