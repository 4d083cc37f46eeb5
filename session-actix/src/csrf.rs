//! The CSRF middleware: core's [`CsrfPolicy`] on actix-web requests.

use std::future::{ready, Ready};
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderMap};
use actix_web::web::BytesMut;
use actix_web::{Error, HttpMessage, HttpResponse};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use session_core::csrf::{self, CsrfCheck, CsrfPolicy, CsrfRefusal, CsrfRequest};
use session_core::SessionData;

use crate::extract::{cookie_values, SessionExt};
use crate::response::{into_response, LAYER};

/// Refuses cross-site requests and unsafe requests without the session's
/// CSRF token, as [`CsrfPolicy`] says (the checks and their threat model
/// are in [`session_core::csrf`]). The token comes from the `X-CSRF-Token`
/// header or the `csrf_token` field of a form body, which the middleware
/// reads (up to the policy's limit) and hands on to the handler unchanged.
///
/// Like the [`LoginGuard`](crate::LoginGuard), it must run inside a
/// [`SessionMiddleware`](crate::SessionMiddleware): the **last** `.wrap`
/// runs first, so write `.wrap(CsrfMiddleware::<T>::new(..)).wrap(SessionMiddleware::new(..))`.
/// The handler shares the session it loads.
///
/// ```
/// use actix_web::{web, App};
/// use session_actix::{CsrfMiddleware, SessionConfig, SessionManager, SessionMiddleware};
/// use session_core::csrf::CsrfPolicy;
/// # use session_store_memory::MemoryStore;
///
/// # let config = SessionConfig::testing().store(MemoryStore::new()).build().unwrap();
/// let manager = SessionManager::<u32>::new(config);
/// let app = App::new()
///     .route("/cart", web::post().to(|| async { "added" }))
///     .wrap(CsrfMiddleware::<u32>::new(CsrfPolicy::new().origin_only_for("/api/")))
///     .wrap(SessionMiddleware::new(manager));
/// ```
#[derive(Debug)]
pub struct CsrfMiddleware<T> {
    policy: Arc<CsrfPolicy>,
    _session: PhantomData<fn() -> T>,
}

impl<T> Clone for CsrfMiddleware<T> {
    fn clone(&self) -> Self {
        CsrfMiddleware {
            policy: Arc::clone(&self.policy),
            _session: PhantomData,
        }
    }
}

impl<T> CsrfMiddleware<T> {
    /// A middleware that checks what `policy` says.
    pub fn new(policy: CsrfPolicy) -> Self {
        CsrfMiddleware {
            policy: Arc::new(policy),
            _session: PhantomData,
        }
    }
}

impl<S, B, T> Transform<S, ServiceRequest> for CsrfMiddleware<T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    T: SessionData,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = CsrfService<S, T>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, inner: S) -> Self::Future {
        ready(Ok(CsrfService {
            inner: Rc::new(inner),
            policy: Arc::clone(&self.policy),
            _session: PhantomData,
        }))
    }
}

/// The service made by [`CsrfMiddleware`].
#[derive(Debug)]
pub struct CsrfService<S, T> {
    inner: Rc<S>,
    policy: Arc<CsrfPolicy>,
    _session: PhantomData<fn() -> T>,
}

impl<S, B, T> Service<ServiceRequest> for CsrfService<S, T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    T: SessionData,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Error>>;

    forward_ready!(inner);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let inner = Rc::clone(&self.inner);
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            if let Err(refusal) = check::<T>(&policy, &mut req).await {
                return Ok(req.into_response(refusal).map_into_right_body());
            }
            Ok(inner.call(req).await?.map_into_left_body())
        })
    }
}

/// Core's check; a form body read for its token is put back for the handler.
async fn check<T: SessionData>(
    policy: &CsrfPolicy,
    req: &mut ServiceRequest,
) -> Result<(), HttpResponse> {
    let path = req.match_info().as_str().to_owned();
    let header_token = match policy.check(&facts(req, &path)) {
        CsrfCheck::Pass => return Ok(()),
        CsrfCheck::Refuse(refusal) => return Err(into_response(refusal.reply(&path))),
        CsrfCheck::Token(token) => token.map(str::to_owned),
    };
    let token = match header_token {
        Some(token) => Some(token),
        None => {
            let body = read_form(req, policy.form_limit())
                .await
                .map_err(|refusal| into_response(refusal.reply(&path)))?;
            let token = csrf::form_token(&body);
            req.set_payload(Payload::from(body.freeze()));
            token
        }
    };
    let lazy = req.get_session::<T>();
    csrf::verify(
        lazy.as_ref(),
        cookie_values(req.headers()),
        token,
        &path,
        LAYER,
    )
    .await
    .map_err(into_response)
}

/// The whole body, if it is at most `limit` bytes.
async fn read_form(req: &mut ServiceRequest, limit: usize) -> Result<BytesMut, CsrfRefusal> {
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| CsrfRefusal::MissingToken)?;
        if body.len() + chunk.len() > limit {
            return Err(CsrfRefusal::FormTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The request's facts for core.
fn facts<'a>(req: &'a ServiceRequest, path: &'a str) -> CsrfRequest<'a> {
    let headers = req.headers();
    CsrfRequest {
        method: req.method().as_str(),
        path,
        host: text(headers, header::HOST.as_str())
            .or_else(|| req.uri().authority().map(|a| a.as_str())),
        origin: text(headers, header::ORIGIN.as_str()),
        sec_fetch_site: text(headers, "sec-fetch-site"),
        header_token: text(headers, csrf::HEADER),
        content_type: text(headers, header::CONTENT_TYPE.as_str()),
    }
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
