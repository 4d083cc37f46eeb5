//! The login guard: a layer that lets only signed-in sessions through.

use session_core::adapter::Check;
use session_core::{LoginPolicy, SessionData};

use crate::layer::{session_service_layer, Step};

/// Lets a request through only if its session passes a predicate (for
/// example "has a user id"), except on allow-listed paths. The others are
/// redirected with `303 See Other` to the sign-in page,
/// `/login?redirect_to=<the original path and query, percent-encoded>`, or
/// answered `401 Unauthorized` with [`unauthorized`](Self::unauthorized).
/// The rules are those of [`LoginPolicy`].
///
/// The allow-list is matched against the request *path* only (never the
/// query string, so `/private?x=/login` is guarded). A path with a `.` or
/// `..` segment never matches it. The sign-in path is always allowed.
///
/// The guard must sit inside a [`SessionLayer`](crate::SessionLayer) (add it
/// with `.layer` or `.route_layer` *before* the `SessionLayer`): it loads the
/// session through the same per-request cycle, so the handler gets the same
/// session without a second store call. Without the layer it answers `500`;
/// if the store fails, the store error's status (`503`). It sees the path as
/// its router does: under `Router::nest`, install it on the outer router so
/// that `redirect_to` keeps the full path.
///
/// The sign-in handler must check that `redirect_to` is a local path (one
/// leading `/`) before redirecting to it.
#[derive(Clone, Debug)]
pub struct LoginGuard<T>(LoginPolicy<T>);

session_core::login_guard_builder!(LoginGuard);

session_service_layer!(LoginGuard, |guard: &Self| Step::Check(Check::from(
    guard.0.clone()
)));
