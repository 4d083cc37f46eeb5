//! The CSRF layer: core's [`CsrfPolicy`] on axum requests, run by
//! [`SessionService`](crate::SessionService).

use session_core::adapter::Check;
use session_core::csrf::CsrfPolicy;
use session_core::SessionData;

use crate::layer::{session_service_layer, Step};

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
#[derive(Clone, Debug)]
pub struct CsrfLayer<T>(Check<T>);

impl<T> CsrfLayer<T> {
    /// A layer that checks what `policy` says.
    pub fn new(policy: CsrfPolicy) -> Self {
        CsrfLayer(Check::from(policy))
    }
}

session_service_layer!(CsrfLayer, |csrf: &Self| Step::Check(csrf.0.clone()));
