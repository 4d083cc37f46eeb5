//! For adapter authors: what a framework adapter (`session-axum`,
//! `session-actix`) needs to run the request cycle, and the behaviour both
//! adapters share, written once here so that an adapter is framework glue
//! only.
//!
//! 1. Per request, [`SessionManager::start_request`](crate::SessionManager::start_request)
//!    gives a [`LazySession`]; keep it in the request's extensions.
//! 2. An extractor calls [`LazySession::load`] with every `Cookie` header.
//! 3. After the handler,
//!    [`SessionManager::finish_request`](crate::SessionManager::finish_request)
//!    answers the [`SetCookie`] to append.
//! 4. [`SessionConfig::cache_headers_for`](crate::SessionConfig::cache_headers_for)
//!    with the [`ResponseFacts`] says which [`CacheHeaders`] to add.

pub use crate::cookie_header::SetCookie;
pub use crate::cycle::{CacheHeaders, LazySession, ResponseFacts};
