//! The CSRF layer: core's [`CsrfPolicy`] on axum requests.

use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::response::Response;
use http::request::Parts;
use http::{header, HeaderMap, Request};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use session_core::adapter::LazySession;
use session_core::csrf::{self, CsrfCheck, CsrfPolicy, CsrfRefusal, CsrfRequest};
use session_core::SessionData;
use tower_layer::Layer;
use tower_service::Service;

use crate::extract::cookie_values;
use crate::layer::BoxFuture;
use crate::response::{into_response, LAYER};

/// Refuses cross-site requests and unsafe requests without the session's
/// CSRF token, as [`CsrfPolicy`] says (the checks and their threat model
/// are in [`session_core::csrf`]). The token comes from the `X-CSRF-Token`
/// header or the `csrf_token` field of a form body, which the layer reads
/// (up to the policy's limit) and hands on to the handler unchanged.
///
/// Like the [`LoginGuard`](crate::LoginGuard), it must sit inside a
/// [`SessionLayer`](crate::SessionLayer) (add it with `.layer` *before* the
/// `SessionLayer`); the handler shares the session it loads.
///
/// ```
/// use axum::{routing::post, Router};
/// use session_axum::{CsrfLayer, SessionConfig, SessionLayer, SessionManager};
/// use session_core::csrf::CsrfPolicy;
/// # use session_store_memory::MemoryStore;
///
/// # let config = SessionConfig::testing().store(MemoryStore::new()).build().unwrap();
/// let manager = SessionManager::<u32>::new(config);
/// let app: Router = Router::new()
///     .route("/cart", post(|| async { "added" }))
///     .layer(CsrfLayer::<u32>::new(CsrfPolicy::new().origin_only_for("/api/")))
///     .layer(SessionLayer::new(manager));
/// ```
#[derive(Debug)]
pub struct CsrfLayer<T> {
    policy: Arc<CsrfPolicy>,
    _session: PhantomData<fn() -> T>,
}

impl<T> Clone for CsrfLayer<T> {
    fn clone(&self) -> Self {
        CsrfLayer {
            policy: Arc::clone(&self.policy),
            _session: PhantomData,
        }
    }
}

impl<T> CsrfLayer<T> {
    /// A layer that checks what `policy` says.
    pub fn new(policy: CsrfPolicy) -> Self {
        CsrfLayer {
            policy: Arc::new(policy),
            _session: PhantomData,
        }
    }
}

impl<S, T> Layer<S> for CsrfLayer<T> {
    type Service = CsrfService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`CsrfLayer`].
#[derive(Debug, Clone)]
pub struct CsrfService<S, T> {
    inner: S,
    layer: CsrfLayer<T>,
}

impl<S, T> Service<Request<Body>> for CsrfService<S, T>
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
        let policy = Arc::clone(&self.layer.policy);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            match check::<T>(&policy, &parts, body).await {
                Ok(body) => inner.call(Request::from_parts(parts, body)).await,
                Err(refusal) => Ok(refusal),
            }
        })
    }
}

/// Core's check; answers the body to hand on (read and rebuilt if the token
/// was in it), or the refusal.
async fn check<T: SessionData>(
    policy: &CsrfPolicy,
    parts: &Parts,
    body: Body,
) -> Result<Body, Response> {
    let path = parts.uri.path();
    let header_token = match policy.check(&facts(parts)) {
        CsrfCheck::Pass => return Ok(body),
        CsrfCheck::Refuse(refusal) => return Err(into_response(refusal.reply(path))),
        CsrfCheck::Token(token) => token.map(str::to_owned),
    };
    let (token, body) = match header_token {
        Some(token) => (Some(token), body),
        None => {
            let bytes = match Limited::new(body, policy.form_limit()).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(error) if error.is::<LengthLimitError>() => {
                    return Err(into_response(CsrfRefusal::FormTooLarge.reply(path)))
                }
                Err(_) => return Err(into_response(CsrfRefusal::MissingToken.reply(path))),
            };
            (csrf::form_token(&bytes), Body::from(bytes))
        }
    };
    let lazy = parts.extensions.get::<LazySession<T>>();
    csrf::verify(lazy, cookie_values(&parts.headers), token, path, LAYER)
        .await
        .map_err(into_response)?;
    Ok(body)
}

/// The request's facts for core.
fn facts(parts: &Parts) -> CsrfRequest<'_> {
    let headers = &parts.headers;
    CsrfRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        host: text(headers, header::HOST.as_str())
            .or_else(|| parts.uri.authority().map(|a| a.as_str())),
        origin: text(headers, header::ORIGIN.as_str()),
        sec_fetch_site: text(headers, "sec-fetch-site"),
        header_token: text(headers, csrf::HEADER),
        content_type: text(headers, header::CONTENT_TYPE.as_str()),
    }
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
