//! The demo's routes, declared once: every path, its methods, what each
//! reads of the request, who may call it, and the function of
//! [`routes`](crate::routes) or [`ui`](crate::ui) that answers it.
//!
//! Both binaries turn [`table`] into their framework's router: one route
//! per [`Resource`], one handler per [`Endpoint`], the library's
//! `LoginGuard` around the endpoints whose [`Endpoint::guard`] is set, and
//! `405` with [`Resource::allow`] for the other methods. Everything a
//! handler does after extracting the session and reading the body is
//! [`Endpoint::answer`], so the two servers answer alike.
//!
//! ```
//! use examples::table::{table, Method};
//!
//! let routes = table::<examples::DemoSession>();
//! let flash = routes.iter().find(|r| r.path == "/flash").unwrap();
//! assert_eq!(flash.allow(), "GET,HEAD,POST");
//! assert!(flash.endpoints.iter().any(|e| e.method == Method::Post));
//! // Version 1 has no preferences: the path does not exist.
//! assert!(!routes.iter().any(|r| r.path == "/preferences"));
//! ```

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use session_core::{LoginPolicy, Session, SessionManager};

use crate::model::DemoData;
use crate::routes::{self, Reply};
use crate::ui;

/// An HTTP method of the table. `Get` answers `HEAD` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET` (and `HEAD`).
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The methods it serves, as an `Allow` header lists them.
    pub fn allow(self) -> &'static str {
        match self {
            Method::Get => "GET,HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// What an endpoint reads of the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Nothing.
    None,
    /// JSON: `415` unless the `Content-Type` says so
    /// ([`routes::require_json`]).
    Json,
    /// A page's form (`application/x-www-form-urlencoded`).
    Form,
}

/// Why the binary could not read a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over [`routes::BODY_LIMIT`]: `413`.
    TooLarge,
    /// Broken off or otherwise unreadable: `400`.
    Unreadable,
}

/// What a session endpoint's function gets.
pub struct Call<'a, D> {
    /// The session manager, for routes about a user's other sessions.
    pub manager: &'a SessionManager<D>,
    /// This request's session.
    pub session: &'a Session<D>,
    /// The body, read as the endpoint's [`Input`] says (empty for none).
    pub body: &'a [u8],
    /// The path's one parameter (`{id}`), empty where it has none.
    pub param: &'a str,
    /// The client's address, as the server saw it.
    pub peer: Option<IpAddr>,
}

/// The answer of an asynchronous endpoint, on its way.
pub type Pending<'a> = Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;

/// The function that answers an endpoint.
pub enum Handler<D> {
    /// Never touches the session: no store call, no `Set-Cookie`.
    Plain(fn() -> Reply),
    /// Answers from the session at once.
    Session(fn(Call<'_, D>) -> Reply),
    /// Answers from the session after a store call of its own.
    Async(for<'a> fn(Call<'a, D>) -> Pending<'a>),
}

/// One method of a path.
pub struct Endpoint<D> {
    /// Its method.
    pub method: Method,
    /// What it reads of the body.
    pub input: Input,
    /// `Some`: only logged-in sessions reach it; the binary puts its
    /// framework's `LoginGuard` with this policy around it
    /// ([`routes::login_policy`]).
    pub guard: Option<LoginPolicy<D>>,
    /// What answers it.
    pub handler: Handler<D>,
}

/// What the binary gathered of a request for [`Endpoint::answer`].
pub struct Request<'a, D> {
    /// The session manager.
    pub manager: &'a SessionManager<D>,
    /// The session, extracted where [`Endpoint::takes_session`].
    pub session: Option<&'a Session<D>>,
    /// The request's `Content-Type`, if readable.
    pub content_type: Option<&'a str>,
    /// The body, read where the endpoint's [`Input`] is not `None`.
    pub body: Result<&'a [u8], BodyError>,
    /// The path's one parameter, empty where it has none.
    pub param: &'a str,
    /// The client's address.
    pub peer: Option<IpAddr>,
}

impl<D: DemoData> Endpoint<D> {
    /// Whether the binary extracts the session for it (plain endpoints
    /// never load it).
    pub fn takes_session(&self) -> bool {
        !matches!(self.handler, Handler::Plain(_))
    }

    /// The answer: a JSON endpoint's `415`, a body's `413` or `400`, or what
    /// the endpoint's function answers.
    pub async fn answer(&self, request: Request<'_, D>) -> Reply {
        if self.input == Input::Json {
            if let Err(reply) = routes::require_json(request.content_type) {
                return reply;
            }
        }
        let body = match request.body {
            Ok(body) => body,
            Err(BodyError::TooLarge) => return routes::body_too_large(),
            Err(BodyError::Unreadable) => return routes::body_unreadable(),
        };
        if let Handler::Plain(answer) = self.handler {
            return answer();
        }
        let Some(session) = request.session else {
            tracing::error!("a session endpoint was served without its session");
            return routes::internal();
        };
        let call = Call {
            manager: request.manager,
            session,
            body,
            param: request.param,
            peer: request.peer,
        };
        match self.handler {
            Handler::Plain(answer) => answer(),
            Handler::Session(answer) => answer(call),
            Handler::Async(answer) => answer(call).await,
        }
    }
}

/// A path and its methods.
pub struct Resource<D> {
    /// The path as both routers write it (`{id}` for a parameter).
    pub path: &'static str,
    /// Its methods, each at most once.
    pub endpoints: Vec<Endpoint<D>>,
}

impl<D> Resource<D> {
    /// The `Allow` header of its `405` answer: its methods in order.
    pub fn allow(&self) -> String {
        let methods: Vec<&str> = self.endpoints.iter().map(|e| e.method.allow()).collect();
        methods.join(",")
    }

    /// Whether the path has a parameter (`{id}`).
    pub fn has_param(&self) -> bool {
        self.path.contains('{')
    }
}

fn endpoint<D>(method: Method, input: Input, handler: Handler<D>) -> Endpoint<D> {
    Endpoint {
        method,
        input,
        guard: None,
        handler,
    }
}

/// An endpoint of `method` without a body.
fn on<D>(method: Method, handler: Handler<D>) -> Endpoint<D> {
    endpoint(method, Input::None, handler)
}

/// An endpoint only logged-in sessions reach.
fn guarded<D: DemoData>(method: Method, handler: Handler<D>) -> Endpoint<D> {
    Endpoint {
        guard: Some(routes::login_policy()),
        ..on(method, handler)
    }
}

fn at<D>(path: &'static str, endpoints: Vec<Endpoint<D>>) -> Resource<D> {
    Resource { path, endpoints }
}

/// Every route of the contract (`examples/README.md`) that the session
/// type `D` serves: version 1 has no `/preferences`, so there it is an
/// unknown path (`404`).
pub fn table<D: DemoData>() -> Vec<Resource<D>> {
    use Handler::{Async, Plain, Session};
    use Input::{Form, Json};
    use Method::{Delete, Get, Post, Put};
    let mut table = vec![
        at(
            "/",
            vec![on(Get, Async(|c| Box::pin(ui::page(c.manager, c.session))))],
        ),
        at("/csrf", vec![on(Get, Session(|c| ui::csrf(c.session)))]),
        at(
            "/ui/counter",
            vec![on(Post, Session(|c| ui::counter(c.session)))],
        ),
        at(
            "/ui/login",
            vec![endpoint(
                Post,
                Form,
                Session(|c| ui::login(c.session, c.body)),
            )],
        ),
        at(
            "/ui/logout",
            vec![on(Post, Session(|c| ui::logout(c.session)))],
        ),
        at(
            "/ui/flash",
            vec![endpoint(
                Post,
                Form,
                Session(|c| ui::flash(c.session, c.body)),
            )],
        ),
        at(
            "/ui/sessions/revoke-others",
            vec![on(
                Post,
                Async(|c| Box::pin(ui::revoke_others(c.manager, c.session))),
            )],
        ),
        at("/health", vec![on(Get, Plain(routes::health))]),
        at("/metrics", vec![on(Get, Plain(routes::metrics))]),
        at(
            "/counter",
            vec![on(Get, Session(|c| routes::counter(c.session)))],
        ),
        at(
            "/counter/peek",
            vec![on(Get, Session(|c| routes::counter_peek(c.session)))],
        ),
        at(
            "/login",
            vec![endpoint(
                Post,
                Json,
                Session(|c| routes::login(c.session, c.body)),
            )],
        ),
        at(
            "/me",
            vec![guarded(Get, Session(|c| routes::me(c.session)))],
        ),
        at(
            "/logout",
            vec![on(Post, Session(|c| routes::logout(c.session)))],
        ),
        at(
            "/flash",
            vec![
                on(Get, Session(|c| routes::flash_get(c.session))),
                endpoint(
                    Post,
                    Json,
                    Session(|c| routes::flash_post(c.session, c.body)),
                ),
            ],
        ),
        at(
            "/consent",
            vec![endpoint(
                Post,
                Json,
                Session(|c| routes::consent(c.session, c.body, c.peer)),
            )],
        ),
        at(
            "/secret-note",
            vec![
                on(Get, Session(|c| routes::get_secret_note(c.session))),
                endpoint(
                    Put,
                    Json,
                    Session(|c| routes::put_secret_note(c.session, c.body)),
                ),
            ],
        ),
        at(
            "/sessions",
            vec![guarded(
                Get,
                Async(|c| Box::pin(routes::sessions_list(c.manager, c.session))),
            )],
        ),
        at(
            "/sessions/revoke-others",
            vec![guarded(
                Post,
                Async(|c| Box::pin(routes::sessions_revoke_others(c.manager, c.session))),
            )],
        ),
        at(
            "/sessions/{id}",
            vec![guarded(
                Delete,
                Async(|c| Box::pin(routes::sessions_revoke(c.manager, c.session, c.param))),
            )],
        ),
    ];
    if D::VERSION >= 2 {
        table.push(at(
            "/preferences",
            vec![
                on(Get, Session(|c| routes::get_preferences(c.session))),
                endpoint(
                    Put,
                    Json,
                    Session(|c| routes::put_preferences(c.session, c.body)),
                ),
            ],
        ));
    }
    table
}

impl<D> fmt::Debug for Call<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("session", &self.session.id())
            .field("body", &self.body.len())
            .field("param", &self.param)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl<D> fmt::Debug for Request<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("content_type", &self.content_type)
            .field("param", &self.param)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl<D> fmt::Debug for Handler<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Handler::Plain(_) => "Plain",
            Handler::Session(_) => "Session",
            Handler::Async(_) => "Async",
        })
    }
}

impl<D> fmt::Debug for Endpoint<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("method", &self.method)
            .field("input", &self.input)
            .field("guard", &self.guard)
            .field("handler", &self.handler)
            .finish()
    }
}

impl<D> fmt::Debug for Resource<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource")
            .field("path", &self.path)
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{v2, DemoSession};

    #[test]
    fn every_path_is_declared_once_with_distinct_methods() {
        let table = table::<v2::DemoSession>();
        for (i, resource) in table.iter().enumerate() {
            assert!(
                table[..i].iter().all(|r| r.path != resource.path),
                "{} twice",
                resource.path
            );
            let methods: Vec<Method> = resource.endpoints.iter().map(|e| e.method).collect();
            for (j, method) in methods.iter().enumerate() {
                assert!(!methods[..j].contains(method), "{}", resource.path);
            }
        }
    }

    #[test]
    fn only_the_account_routes_are_guarded() {
        let guarded: Vec<&str> = table::<DemoSession>()
            .iter()
            .filter(|r| r.endpoints.iter().any(|e| e.guard.is_some()))
            .map(|r| r.path)
            .collect();
        assert_eq!(
            guarded,
            [
                "/me",
                "/sessions",
                "/sessions/revoke-others",
                "/sessions/{id}"
            ]
        );
    }

    #[test]
    fn health_and_metrics_never_take_the_session() {
        for resource in table::<DemoSession>() {
            let plain = ["/health", "/metrics"].contains(&resource.path);
            for endpoint in &resource.endpoints {
                assert_eq!(endpoint.takes_session(), !plain, "{}", resource.path);
            }
        }
    }
}
