//! The login guard: a middleware that lets only signed-in sessions through.

use crate::middleware::{session_service_transform, Step};
use session_core::adapter::Check;
use session_core::LoginPolicy;

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

session_service_transform!(LoginGuard, |guard: &Self| Step::Check(Check::from(
    guard.0.clone()
)));
