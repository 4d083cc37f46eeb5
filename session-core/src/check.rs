//! What an adapter's checking layers (its login guard and its CSRF layer)
//! do before the handler, as one type: an adapter writes one service for
//! both, and reads the request for them in one place.

use std::future::Future;
use std::sync::Arc;

use crate::adapter::{check_login, GuardedRequest, LazySession, Reply};
use crate::csrf::{CsrfPolicy, CsrfRefusal, CsrfRequest};
use crate::data::SessionData;
use crate::guard::LoginPolicy;

/// The check one of an adapter's layers runs before the handler.
///
/// ```
/// use session_core::adapter::Check;
/// use session_core::csrf::CsrfPolicy;
/// use session_core::LoginPolicy;
///
/// let guard = Check::<u32>::from(LoginPolicy::new(|count: &u32| *count > 0));
/// let csrf = Check::<u32>::from(CsrfPolicy::new());
/// assert!(matches!(guard.clone(), Check::Login(_)));
/// assert!(matches!(csrf, Check::Csrf(_)));
/// ```
#[non_exhaustive]
pub enum Check<T> {
    /// A login guard's: the session must pass the policy
    /// ([`check_login`]).
    Login(Arc<LoginPolicy<T>>),
    /// A CSRF layer's: the origin and the token ([`CsrfPolicy::guard`]).
    Csrf(Arc<CsrfPolicy>),
}

impl<T> Clone for Check<T> {
    fn clone(&self) -> Self {
        match self {
            Check::Login(policy) => Check::Login(Arc::clone(policy)),
            Check::Csrf(policy) => Check::Csrf(Arc::clone(policy)),
        }
    }
}

impl<T> std::fmt::Debug for Check<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Login(policy) => f.debug_tuple("Login").field(policy).finish(),
            Check::Csrf(policy) => f.debug_tuple("Csrf").field(policy).finish(),
        }
    }
}

impl<T> From<LoginPolicy<T>> for Check<T> {
    fn from(policy: LoginPolicy<T>) -> Self {
        Check::Login(Arc::new(policy))
    }
}

impl<T> From<CsrfPolicy> for Check<T> {
    fn from(policy: CsrfPolicy) -> Self {
        Check::Csrf(Arc::new(policy))
    }
}

/// A request as a checking layer sees it, filled by the adapter.
pub struct CheckedRequest<'a, T> {
    /// The method, uppercase as sent (`POST`).
    pub method: &'a str,
    /// The path as the router matches it, without the query string.
    pub path: &'a str,
    /// The path and query, for the sign-in page's `redirect_to`.
    pub target: &'a str,
    /// The URI's authority (an HTTP/2 request carries no `Host`).
    pub authority: Option<&'a str>,
    /// The request's session cycle, if the adapter's layer runs around it.
    pub session: Option<LazySession<T>>,
    /// The layer's name and how to install it, for [`Reply::missing_layer`].
    pub layer: (&'static str, &'static str),
}

impl<T> std::fmt::Debug for CheckedRequest<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl<T: SessionData> Check<T> {
    /// Runs the check on `request`: `header` answers the first line of a
    /// header by lowercase name as text, `cookie_headers` are the request's
    /// `Cookie` lines, and `read_form(limit)` reads the body when the CSRF
    /// token is to come from a form (see [`CsrfPolicy::guard`]). Answers
    /// the body it read, for the adapter to hand on to the handler, or the
    /// [`Reply`] that answers in the handler's place.
    ///
    /// Both checks load the session through the request's cycle, so the
    /// handler shares it; the cookie headers are read before the future
    /// first awaits.
    pub async fn run<'a, B, Fut>(
        &self,
        request: CheckedRequest<'a, T>,
        header: impl Fn(&'static str) -> Option<&'a str>,
        cookie_headers: impl IntoIterator<Item = &'a str>,
        read_form: impl FnOnce(usize) -> Fut,
    ) -> Result<Option<B>, Reply>
    where
        B: AsRef<[u8]>,
        Fut: Future<Output = Result<B, CsrfRefusal>>,
    {
        match self {
            Check::Login(policy) => {
                let guarded = GuardedRequest {
                    path: request.path,
                    target: request.target,
                    session: request.session,
                    layer: request.layer,
                };
                check_login(policy, guarded, cookie_headers).await?;
                Ok(None)
            }
            Check::Csrf(policy) => {
                let facts =
                    CsrfRequest::read(request.method, request.path, request.authority, header);
                let (session, layer) = (request.session, request.layer);
                policy
                    .guard(facts, session, cookie_headers, layer, read_form)
                    .await
            }
        }
    }
}
