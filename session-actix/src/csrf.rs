//! The CSRF middleware: core's [`CsrfPolicy`] on actix-web requests, run
//! by [`SessionService`](crate::SessionService).

use crate::middleware::{session_service_transform, Step};
use session_core::adapter::Check;
use session_core::csrf::CsrfPolicy;

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
#[derive(Clone, Debug)]
pub struct CsrfMiddleware<T>(Check<T>);

impl<T> CsrfMiddleware<T> {
    /// A middleware that checks what `policy` says.
    pub fn new(policy: CsrfPolicy) -> Self {
        CsrfMiddleware(Check::from(policy))
    }
}

session_service_transform!(CsrfMiddleware, |csrf: &Self| Step::Check(csrf.0.clone()));
