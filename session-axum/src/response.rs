//! The two conversions between core's adapter contract and axum: a
//! [`Reply`] becomes a response, and a response's headers are core's
//! [`ResponseHeaders`].

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use session_core::adapter::{header, Reply, ResponseHeaders, VALID_HEADER_VALUE};

/// This layer's name and how to install it, for core's missing-layer answer.
pub(crate) const LAYER: (&str, &str) = (
    "SessionLayer",
    "add .layer(SessionLayer::new(manager)) outside it",
);

/// The response for a [`Reply`]; one whose header is not a valid value (an
/// invalid sign-in path) is a `500`.
pub(crate) fn into_response(reply: Reply) -> Response {
    let mut builder = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Body::from(reply.body.into_owned()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A response's headers, for [`ResponseHeaders`].
pub(crate) struct Headers<'a>(pub(crate) &'a mut HeaderMap);

impl ResponseHeaders for Headers<'_> {
    fn any_line(&self, name: &'static str, test: &mut dyn FnMut(Option<&str>) -> bool) -> bool {
        let mut values = self.0.get_all(header_name(name)).iter();
        values.any(|v| test(v.to_str().ok()))
    }

    fn append(&mut self, name: &'static str, value: String) {
        // Takes the buffer over without a copy.
        let value = HeaderValue::try_from(value).expect(VALID_HEADER_VALUE);
        self.0.append(header_name(name), value);
    }

    fn insert(&mut self, name: &'static str, value: &'static str) {
        self.0
            .insert(header_name(name), HeaderValue::from_static(value));
    }
}

/// The `HeaderName` of one of core's names: the ones every response with a
/// session meets are http's constants, since parsing a name from text
/// (`&str` as a key, or `from_static` at run time) costs several times
/// more than telling these few apart.
fn header_name(name: &'static str) -> HeaderName {
    match name {
        header::SET_COOKIE => http::header::SET_COOKIE,
        header::CACHE_CONTROL => http::header::CACHE_CONTROL,
        header::VARY => http::header::VARY,
        // Core's names are lowercase tokens, which `from_static` takes.
        _ => HeaderName::from_static(name),
    }
}
