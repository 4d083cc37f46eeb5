//! The request cycle that adapters drive.
//!
//! 1. When a request arrives, the adapter calls
//!    [`SessionManager::start_request`] (no I/O, no parsing) and keeps the
//!    [`LazySession`] with the request.
//! 2. A handler that wants the session calls [`LazySession::load`] with the
//!    request's `Cookie` headers: the first call loads, later calls share
//!    the same handle.
//! 3. After the handler, the adapter calls [`SessionManager::finish_request`]
//!    with the response status and adds the `Set-Cookie` it answers.
//!
//! A request whose handler never loads its session costs no store call and
//! gets no `Set-Cookie`.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::cookie_header::{find_cookie, SetCookie};
use crate::data::SessionData;
use crate::error::SessionError;
use crate::manager::SessionManager;
use crate::session::Session;

/// The session of one request, loaded on first use. Cheap to clone.
pub struct LazySession<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    manager: SessionManager<T>,
    cell: OnceCell<Session<T>>,
}

impl<T> Clone for LazySession<T> {
    fn clone(&self) -> Self {
        LazySession {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> std::fmt::Debug for LazySession<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazySession")
            .field("loaded", &self.inner.cell.initialized())
            .finish()
    }
}

impl<T: SessionData> LazySession<T> {
    /// The session, loading it from the first session cookie in
    /// `cookie_headers` (every `Cookie` header of the request) on the first
    /// call. Garbage in the headers gives a fresh session; only a store
    /// failure is an error, and a later call tries again.
    pub fn load<'a, I>(
        &self,
        cookie_headers: I,
    ) -> impl Future<Output = Result<Session<T>, SessionError>> + Send + '_
    where
        I: IntoIterator<Item = &'a str>,
    {
        let manager = &self.inner.manager;
        // Parse before the first await, so the future does not hold the headers.
        let value = if self.inner.cell.initialized() {
            None
        } else {
            find_cookie(cookie_headers, manager.config().cookie_name(), |v| {
                manager.read_cookie(v)
            })
        };
        async move {
            self.inner
                .cell
                .get_or_try_init(|| manager.load_value(value))
                .await
                .cloned()
        }
    }

    /// The session if a handler has loaded it.
    pub fn loaded(&self) -> Option<Session<T>> {
        self.inner.cell.get().cloned()
    }

    /// The manager this request belongs to.
    pub fn manager(&self) -> &SessionManager<T> {
        &self.inner.manager
    }
}

impl<T: SessionData> SessionManager<T> {
    /// Begins a request: no I/O and no parsing until a handler asks for the
    /// session.
    pub fn start_request(&self) -> LazySession<T> {
        LazySession {
            inner: Arc::new(Inner {
                manager: self.clone(),
                cell: OnceCell::new(),
            }),
        }
    }

    /// Ends a request: commits the session if a handler loaded it, for a
    /// response with HTTP `status`, and answers the `Set-Cookie` to add.
    pub async fn finish_request(
        &self,
        request: &LazySession<T>,
        status: u16,
    ) -> Result<Option<SetCookie>, SessionError> {
        match request.loaded() {
            Some(session) => self.commit_with_status(&session, status).await,
            None => Ok(None),
        }
    }
}
