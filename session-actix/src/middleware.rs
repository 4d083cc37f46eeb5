//! The actix-web middleware that runs the request cycle around every
//! request, and the one service of every middleware of this crate: the
//! cycle, or core's [`Check`] (of the login guard and the CSRF middleware)
//! on actix-web requests.

use std::rc::Rc;

pub(crate) use actix_web::body::{self, BodyStream, EitherBody, MessageBody};
pub(crate) use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use session_core::adapter::{header, Check, CheckedRequest, ClientInfo, LazySession, Reply};
use session_core::csrf::CsrfRefusal;
use session_core::{SessionData, SessionManager};

use crate::extract::{cookie_values, SessionExt};
use crate::response::{into_response, Headers, LAYER};

/// Wraps an `App` (or a scope) so that its handlers can extract
/// [`Session<T>`](crate::Session). Register it with `App::wrap`.
///
/// Per request it starts the session cycle (no I/O), and after the handler
/// it saves what changed and appends the `Set-Cookie` header. A request
/// whose handler never extracts the session costs nothing.
///
/// A response that sets (or removes) the session cookie gets
/// `Cache-Control: no-store` unless the handler set a `Cache-Control` of
/// its own, and a response whose handler loaded the session gets
/// `Vary: Cookie` (appended: an existing `Vary` is kept, `Cookie` is not
/// repeated and `Vary: *` stays alone), so that shared caches neither store
/// a session cookie nor serve one user's page to another. See
/// [`SessionConfig::cache_headers_for`](session_core::SessionConfig::cache_headers_for); `cache_headers(false)` on the
/// configuration builder turns this off. The error of an inner middleware
/// passes through untouched unless a `Set-Cookie` rides on its response
/// (then that response gets the caching headers too).
///
/// If saving fails, the response is replaced by the error's status (`503`
/// when the store is down, `500` for a session over its size limit) with a
/// short `text/plain` body; the detail is logged with `tracing`, never sent.
#[derive(Clone, Debug)]
pub struct SessionMiddleware<T>(SessionManager<T>);

impl<T: SessionData> SessionMiddleware<T> {
    /// A middleware for the sessions of `manager`.
    pub fn new(manager: SessionManager<T>) -> Self {
        SessionMiddleware(manager)
    }
}

/// The `Transform` impl of a middleware type of this crate: a
/// [`SessionService`] that runs the [`Step`] made by `$step` from it.
macro_rules! session_service_transform {
    ($middleware:ident, $step:expr) => {
        impl<S, B, T> actix_web::dev::Transform<S, $crate::middleware::ServiceRequest>
            for $middleware<T>
        where
            S: $crate::middleware::Service<
                    $crate::middleware::ServiceRequest,
                    Response = $crate::middleware::ServiceResponse<B>,
                    Error = actix_web::Error,
                > + 'static,
            B: $crate::middleware::MessageBody + 'static,
            T: session_core::SessionData,
        {
            type Response = $crate::middleware::ServiceResponse<$crate::middleware::EitherBody<B>>;
            type Error = actix_web::Error;
            type Transform = $crate::middleware::SessionService<S, T>;
            type InitError = ();
            type Future = std::future::Ready<Result<Self::Transform, ()>>;

            fn new_transform(&self, inner: S) -> Self::Future {
                let (inner, step) = (std::rc::Rc::new(inner), ($step)(self));
                std::future::ready(Ok($crate::middleware::SessionService { inner, step }))
            }
        }
    };
}
pub(crate) use session_service_transform;

session_service_transform!(SessionMiddleware, |m: &Self| Step::Cycle(m.0.clone()));

/// The service of every middleware of this crate: the request cycle of a
/// [`SessionMiddleware`], or the check of a [`LoginGuard`](crate::LoginGuard)
/// or a [`CsrfMiddleware`](crate::CsrfMiddleware), around the inner service.
#[derive(Debug)]
pub struct SessionService<S, T> {
    pub(crate) inner: Rc<S>,
    pub(crate) step: Step<T>,
}

/// What a [`SessionService`] does before the inner service.
#[derive(Clone, Debug)]
pub(crate) enum Step<T> {
    /// Start the cycle, and commit after the handler.
    Cycle(SessionManager<T>),
    /// Let the request through only if it passes.
    Check(Check<T>),
}

impl<S, B, T> Service<ServiceRequest> for SessionService<S, T>
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
        let manager = match &self.step {
            Step::Cycle(manager) => manager,
            Step::Check(check) => {
                let inner = Rc::clone(&self.inner);
                return Box::pin(run_check(check.clone(), inner, req));
            }
        };
        let lazy = manager.start_request_with(|| {
            let agent = req.headers().get(header::USER_AGENT).map(|v| v.as_bytes());
            ClientInfo::from_header(req.peer_addr().map(|peer| peer.ip()), agent)
        });
        req.extensions_mut().insert(lazy.clone());
        let handled = self.inner.call(req);
        Box::pin(async move {
            let mut response = match handled.await {
                Ok(response) => response,
                Err(error) => return Err(finish_error(&lazy, error).await),
            };
            let status = response.status().as_u16();
            let headers = &mut Headers(response.headers_mut());
            match lazy.commit(status, headers).await {
                Ok(_) => Ok(response.map_into_left_body()),
                Err(reply) => Ok(refuse(response.into_parts().0, reply)),
            }
        })
    }
}

/// An inner middleware failed: commit for the status its error stands for
/// (a logout still happens), and carry the cookie, with the caching headers,
/// on the error's response. Without a cookie the error passes through as
/// it is, so that outer error handlers still see its type.
async fn finish_error<T: SessionData>(lazy: &LazySession<T>, error: Error) -> Error {
    let status = error.as_response_error().status_code().as_u16();
    let mut response = error.error_response();
    let headers = &mut Headers(response.headers_mut());
    let response = match lazy.commit(status, headers).await {
        Ok(false) => return error,
        Ok(true) => response,
        Err(reply) => into_response(reply),
    };
    InternalError::from_response(error, response).into()
}

/// Core's check on the request, with the path the router matches
/// (percent-decoded where safe), then the inner service (a form body read
/// for its token is put back), or the refusal.
async fn run_check<S, B, T>(
    check: Check<T>,
    inner: Rc<S>,
    mut req: ServiceRequest,
) -> Result<ServiceResponse<EitherBody<B>>, Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    T: SessionData,
{
    let mut payload = req.take_payload();
    let checked = CheckedRequest {
        method: req.method().as_str(),
        path: req.match_info().as_str(),
        target: req.uri().path_and_query().map_or("/", |pq| pq.as_str()),
        authority: req.uri().authority().map(|a| a.as_str()),
        session: req.get_session::<T>(),
        layer: LAYER,
    };
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let read = |limit| read_form(std::mem::replace(&mut payload, Payload::None), limit);
    let form = check.run(checked, header, cookie_values(req.headers()), read);
    match form.await {
        Ok(form) => req.set_payload(form.map_or(payload, Payload::from)),
        Err(refusal) => return Ok(refuse(req.into_parts().0, refusal)),
    }
    Ok(inner.call(req).await?.map_into_left_body())
}

/// The whole body, if it is at most `limit` bytes.
async fn read_form(payload: Payload, limit: usize) -> Result<Bytes, CsrfRefusal> {
    match body::to_bytes_limited(BodyStream::new(payload), limit).await {
        Ok(Ok(form)) => Ok(form),
        Ok(Err(_)) => Err(CsrfRefusal::MissingToken),
        Err(_) => Err(CsrfRefusal::FormTooLarge),
    }
}

/// The response for `reply`, in place of the handler's.
fn refuse<B>(req: HttpRequest, reply: Reply) -> ServiceResponse<EitherBody<B>> {
    ServiceResponse::new(req, into_response(reply)).map_into_right_body()
}
