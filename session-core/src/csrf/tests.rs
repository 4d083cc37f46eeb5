//! Every decision of the policy (the token check against stored sessions
//! is in `tests/csrf.rs`).

use super::*;

const FORM: &str = "application/x-www-form-urlencoded";

fn post<'a>(path: &'a str) -> CsrfRequest<'a> {
    CsrfRequest {
        method: "POST",
        path,
        host: Some("app.example:8080"),
        ..CsrfRequest::default()
    }
}

fn from(site: Option<&'static str>, origin: Option<&'static str>) -> CsrfRequest<'static> {
    CsrfRequest {
        sec_fetch_site: site,
        origin,
        content_type: Some(FORM),
        ..post("/cart")
    }
}

#[test]
fn safe_methods_pass_unchecked() {
    let policy = CsrfPolicy::new();
    for method in ["GET", "HEAD", "OPTIONS", "TRACE"] {
        let request = CsrfRequest {
            method,
            sec_fetch_site: Some("cross-site"),
            ..post("/")
        };
        assert_eq!(policy.check(&request), CsrfCheck::Pass, "{method}");
    }
    for method in ["POST", "PUT", "PATCH", "DELETE", "PROPFIND"] {
        let request = CsrfRequest {
            method,
            ..post("/")
        };
        assert_eq!(
            policy.check(&request),
            CsrfCheck::Refuse(CsrfRefusal::MissingToken),
            "{method}"
        );
    }
}

#[test]
fn the_origin_check_follows_sec_fetch_site_then_origin() {
    let policy = CsrfPolicy::new().allow_origin("https://admin.example");
    let token = CsrfCheck::Token(None);
    let refuse = CsrfCheck::Refuse;
    let cases = [
        (from(Some("same-origin"), None), token),
        (from(Some("none"), None), token),
        (from(Some("Same-Origin"), None), token),
        (
            from(Some("same-site"), Some("http://app.example:9090")),
            refuse(CsrfRefusal::CrossSite),
        ),
        (
            from(Some("cross-site"), Some("https://evil.example")),
            refuse(CsrfRefusal::CrossSite),
        ),
        // Sec-Fetch-Site wins over an Origin that names the host.
        (
            from(Some("cross-site"), Some("http://app.example:8080")),
            refuse(CsrfRefusal::CrossSite),
        ),
        (
            from(Some("cross-site"), Some("https://admin.example")),
            token,
        ),
        (from(None, Some("http://app.example:8080")), token),
        (from(None, Some("HTTPS://APP.EXAMPLE:8080")), token),
        (
            from(None, Some("http://app.example")),
            refuse(CsrfRefusal::ForeignOrigin),
        ),
        (
            from(None, Some("http://app.example:8080.evil")),
            refuse(CsrfRefusal::ForeignOrigin),
        ),
        (from(None, Some("null")), refuse(CsrfRefusal::ForeignOrigin)),
        (from(None, Some("https://admin.example")), token),
        (
            from(None, Some("https://admin.example/")),
            refuse(CsrfRefusal::ForeignOrigin),
        ),
        (from(None, None), token),
    ];
    for (request, expected) in cases {
        assert_eq!(policy.check(&request), expected, "{request:?}");
    }
    let no_host = CsrfRequest {
        host: None,
        ..from(None, Some("http://app.example:8080"))
    };
    assert_eq!(policy.check(&no_host), refuse(CsrfRefusal::ForeignOrigin));
}

#[test]
fn the_token_comes_from_the_header_else_a_form_body() {
    let policy = CsrfPolicy::new();
    let header = CsrfRequest {
        header_token: Some("abc"),
        content_type: Some(FORM),
        ..post("/")
    };
    assert_eq!(policy.check(&header), CsrfCheck::Token(Some("abc")));
    let form = CsrfRequest {
        content_type: Some("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
        ..post("/")
    };
    assert_eq!(policy.check(&form), CsrfCheck::Token(None));
    for other in [
        None,
        Some("application/json"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let request = CsrfRequest {
            content_type: other,
            ..post("/")
        };
        assert_eq!(
            policy.check(&request),
            CsrfCheck::Refuse(CsrfRefusal::MissingToken)
        );
    }
}

#[test]
fn rules_exempt_or_check_by_origin_first_match_wins() {
    let policy = CsrfPolicy::origin_only()
        .exempt("/hook")
        .token_and_origin_for("/ui/")
        .origin_only_for("/ui/api");
    let cross = |path| CsrfRequest {
        sec_fetch_site: Some("cross-site"),
        ..post(path)
    };
    assert_eq!(policy.check(&cross("/hook")), CsrfCheck::Pass);
    assert_eq!(
        policy.check(&cross("/hook/x")),
        CsrfCheck::Refuse(CsrfRefusal::CrossSite)
    );
    assert_eq!(
        policy.check(&post("/json")),
        CsrfCheck::Pass,
        "origin only: no headers pass"
    );
    assert_eq!(
        policy.check(&cross("/json")),
        CsrfCheck::Refuse(CsrfRefusal::CrossSite)
    );
    assert_eq!(
        policy.check(&post("/ui/counter")),
        CsrfCheck::Refuse(CsrfRefusal::MissingToken)
    );
    assert_eq!(
        policy.check(&post("/ui/api")),
        CsrfCheck::Refuse(CsrfRefusal::MissingToken),
        "the earlier rule"
    );
    assert_eq!(
        policy.check(&post("/ui")),
        CsrfCheck::Pass,
        "a prefix rule needs the slash"
    );
    // Dot segments never match a rule: the mode applies.
    let strict = CsrfPolicy::new().exempt("/hook/");
    assert_eq!(
        policy.check(&cross("/hook/../x")),
        CsrfCheck::Refuse(CsrfRefusal::CrossSite)
    );
    assert_eq!(
        strict.check(&post("/hook/../cart")),
        CsrfCheck::Refuse(CsrfRefusal::MissingToken)
    );
    assert_eq!(strict.check(&post("/hook/in")), CsrfCheck::Pass);
}

#[test]
fn refusals_answer_short_bodies() {
    for (refusal, status, body) in [
        (CsrfRefusal::CrossSite, 403, "cross-site request refused"),
        (
            CsrfRefusal::ForeignOrigin,
            403,
            "cross-site request refused",
        ),
        (
            CsrfRefusal::MissingToken,
            403,
            "missing or invalid CSRF token",
        ),
        (
            CsrfRefusal::InvalidToken,
            403,
            "missing or invalid CSRF token",
        ),
        (CsrfRefusal::FormTooLarge, 413, "form too large"),
    ] {
        let reply = refusal.reply("/x");
        assert_eq!((reply.status, reply.body.as_ref()), (status, body));
        assert_eq!(
            reply.headers,
            [("content-type", crate::adapter::TEXT_PLAIN.to_owned())]
        );
    }
}

#[test]
fn form_fields_are_found_and_decoded() {
    assert_eq!(
        form_token(b"csrf_token=a&csrf_token=b").as_deref(),
        Some("a")
    );
    assert_eq!(form_token(b"csrf_token").as_deref(), Some(""));
    assert_eq!(form_token(b"xcsrf_token=a&csrf_tokenx=b"), None);
    assert_eq!(
        form_token(b"a=%ZZ&csrf_token=%41+b").as_deref(),
        Some("A b")
    );
    assert_eq!(form_token(&[0xff, b'=', b'&', b'c']), None);
    assert_eq!(form_token(b""), None);
}
