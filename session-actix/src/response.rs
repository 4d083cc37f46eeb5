//! The two conversions between core's adapter contract and actix-web: a
//! [`Reply`] becomes a response, and a response's headers are core's
//! [`ResponseHeaders`].

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use session_core::adapter::{header, Reply, ResponseHeaders, VALID_HEADER_VALUE};

/// This middleware's name and how to install it, for core's missing-layer
/// answer.
pub(crate) const LAYER: (&str, &str) = (
    "SessionMiddleware",
    "add .wrap(SessionMiddleware::new(manager)) around it",
);

/// The response for a [`Reply`]; one whose header is not a valid value (an
/// invalid sign-in path) makes the builder answer `500`.
pub(crate) fn into_response(reply: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for header in reply.headers {
        builder.append_header(header);
    }
    builder.body(reply.body.into_owned())
}

/// A response's headers, for [`ResponseHeaders`].
pub(crate) struct Headers<'a>(pub(crate) &'a mut HeaderMap);

impl ResponseHeaders for Headers<'_> {
    fn any_line(&self, name: &'static str, test: &mut dyn FnMut(Option<&str>) -> bool) -> bool {
        let mut values = self.0.get_all(header_name(name));
        values.any(|v| test(v.to_str().ok()))
    }

    fn append(&mut self, name: &'static str, value: String) {
        let value = HeaderValue::try_from(value).expect(VALID_HEADER_VALUE);
        self.0.append(header_name(name), value);
    }

    fn insert(&mut self, name: &'static str, value: &'static str) {
        let value = HeaderValue::from_static(value);
        self.0.insert(header_name(name), value);
    }
}

/// The `HeaderName` of one of core's names: the ones every response with a
/// session meets are the framework's constants, since parsing a name from
/// text (`&str` as a key, or `from_static` at run time) costs several times
/// more than telling these few apart.
fn header_name(name: &'static str) -> HeaderName {
    use actix_web::http::header as names;
    match name {
        header::SET_COOKIE => names::SET_COOKIE,
        header::CACHE_CONTROL => names::CACHE_CONTROL,
        header::VARY => names::VARY,
        // Core's names are lowercase tokens, which `from_static` takes.
        _ => HeaderName::from_static(name),
    }
}
