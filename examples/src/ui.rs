//! The demo as a web page: `GET /`, the forms' `/ui/...` routes and
//! `GET /csrf`, written once for both servers.
//!
//! The page is rendered here (no template engine, no script, no external
//! asset). Every form carries the session's CSRF token in a hidden
//! `csrf_token` field; the servers' CSRF layer checks it before these
//! functions run, so they only do the work and answer `303` back to `/`.

use serde::{Deserialize, Serialize};
use session_core::csrf::CsrfPolicy;
use session_core::time::format_description::well_known::Rfc3339;
use session_core::{Session, SessionManager};

use crate::model::{Account, DemoData};
use crate::routes::{check_length, sign_in, Reply, TEXT_LIMIT};

/// Where every form goes back to.
const HOME: &str = "/";

/// What both servers' CSRF layer checks: the page's forms (`/ui/...`) need
/// the token and a same-origin request; the JSON routes only the origin, so
/// that curl and scripts, which send no `Origin`, keep working while a
/// browser page of another origin is refused.
pub fn csrf_policy() -> CsrfPolicy {
    CsrfPolicy::origin_only().token_and_origin_for("/ui/")
}

#[derive(Serialize)]
struct Token {
    token: String,
}

/// `GET /csrf`: `{"token": "..."}`, a token for scripts that send it in the
/// `X-CSRF-Token` header.
pub fn csrf<D: DemoData>(session: &Session<D>) -> Reply {
    Reply::json(
        200,
        &Token {
            token: session.csrf_token(),
        },
    )
}

/// `POST /ui/counter`: one more.
pub fn counter<D: DemoData>(session: &Session<D>) -> Reply {
    session.update(|d| {
        let count = d.count_mut();
        *count = count.saturating_add(1);
    });
    Reply::see_other(HOME)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// The checkbox: present (`true`) when ticked.
    #[serde(default)]
    remember: bool,
}

/// `POST /ui/login` (`username`, `password`, `remember`): logs in as
/// `POST /login` does; a refusal becomes a flash message on the page.
pub fn login<D: DemoData>(session: &Session<D>, body: &[u8]) -> Reply {
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(body) else {
        session.flash("the login form could not be read");
        return Reply::see_other(HOME);
    };
    if let Err((_, message)) = sign_in(session, &form.username, &form.password, form.remember) {
        session.flash(message);
    }
    Reply::see_other(HOME)
}

/// `POST /ui/logout`: ends the session.
pub fn logout<D: DemoData>(session: &Session<D>) -> Reply {
    session.delete();
    Reply::see_other(HOME)
}

#[derive(Deserialize)]
struct FlashForm {
    #[serde(default)]
    message: String,
}

/// `POST /ui/flash` (`message`): a flash message for the next page.
pub fn flash<D: DemoData>(session: &Session<D>, body: &[u8]) -> Reply {
    match serde_urlencoded::from_bytes::<FlashForm>(body) {
        Ok(form) if check_length("message", &form.message, TEXT_LIMIT).is_ok() => {
            session.flash(form.message);
        }
        _ => session.flash(format!("a message has at most {TEXT_LIMIT} characters")),
    }
    Reply::see_other(HOME)
}

/// `POST /ui/sessions/revoke-others`: ends the user's other sessions
/// (`SessionManager::revoke_others`).
pub async fn revoke_others<D: DemoData>(
    manager: &SessionManager<D>,
    session: &Session<D>,
) -> Reply {
    let Some(owner) = session.owner() else {
        return Reply::see_other(HOME);
    };
    match manager.revoke_others(&owner, &session.id()).await {
        Ok(revoked) => session.flash(format!("{revoked} other session(s) ended")),
        Err(error) => {
            error.log("revoke_others");
            session.flash("this store cannot end other sessions");
        }
    }
    Reply::see_other(HOME)
}

/// One of the user's sessions, as the page lists it.
struct Listed {
    id: session_core::SessionId,
    current: bool,
    created_at: String,
    expires_at: String,
}

/// The user's sessions, newest first (`SessionManager::sessions_of`), where
/// the store can list them; else an empty list.
async fn sessions_of<D: DemoData>(
    manager: &SessionManager<D>,
    owner: &str,
    current: &session_core::SessionId,
) -> Vec<Listed> {
    let entries = match manager.sessions_of(owner, Some(current)).await {
        Ok(entries) => entries,
        Err(error) => {
            tracing::debug!(%error, "the store does not list a user's sessions");
            return Vec::new();
        }
    };
    let at = |t: session_core::time::OffsetDateTime| {
        t.truncate_to_second().format(&Rfc3339).unwrap_or_default()
    };
    entries
        .into_iter()
        .map(|entry| Listed {
            current: entry.current,
            created_at: entry.created_at.map(at).unwrap_or_else(|| "?".to_owned()),
            expires_at: at(entry.expires_at),
            id: entry.id,
        })
        .collect()
}

/// `GET /`: the page. Shows the flash messages once (they are taken).
pub async fn page<D: DemoData>(manager: &SessionManager<D>, session: &Session<D>) -> Reply {
    let (count, user) = {
        let data = session.data();
        (data.count(), data.user().username().map(str::to_owned))
    };
    let flash: Vec<String> = session.take_flash().into_iter().map(|m| m.text).collect();
    let sessions = match session.owner() {
        Some(owner) => sessions_of(manager, &owner, &session.id()).await,
        None => Vec::new(),
    };
    let token = session.csrf_token();
    let html = render(&Page {
        count,
        user: user.as_deref(),
        flash: &flash,
        sessions: &sessions,
        token: &token,
    });
    Reply {
        status: 200,
        body: crate::routes::Body::Html(html),
    }
}

struct Page<'a> {
    count: u64,
    user: Option<&'a str>,
    flash: &'a [String],
    sessions: &'a [Listed],
    token: &'a str,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}\
section{border:1px solid #ccc;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}\
h1{font-size:1.5rem}h2{font-size:1.1rem}#count{font-size:2rem;font-weight:bold}\
#flash li{background:#fff6d5;padding:.25rem .5rem;margin:.25rem 0}\
input,button{font:inherit;margin:.2rem 0}code{font-size:.85em}";

fn render(page: &Page<'_>) -> String {
    let token = escape(page.token);
    let form = |id: &str, action: &str, fields: &str, button: &str| {
        format!(
            "<form id=\"{id}\" method=\"post\" action=\"{action}\">\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">{fields}\
             <button type=\"submit\">{button}</button></form>"
        )
    };
    let user = match page.user {
        Some(name) => format!("Logged in as <strong id=\"user\">{}</strong>", escape(name)),
        None => "Not logged in <strong id=\"user\"></strong>".to_owned(),
    };
    let flash: String = page
        .flash
        .iter()
        .map(|m| format!("<li>{}</li>", escape(m)))
        .collect();
    let sessions: String = page
        .sessions
        .iter()
        .map(|s| {
            let this = if s.current { " (this one)" } else { "" };
            format!(
                "<li><code>{}</code>{this}: created {}, expires {}</li>",
                escape(s.id.as_str().get(..8).unwrap_or_default()),
                escape(&s.created_at),
                escape(&s.expires_at)
            )
        })
        .collect();
    let login_fields = "<label>Name <input name=\"username\" autocomplete=\"username\"></label> \
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label> \
         <label><input name=\"remember\" type=\"checkbox\" value=\"true\"> remember me</label> ";
    let flash_fields = "<input name=\"message\" maxlength=\"500\" aria-label=\"message\"> ";
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>typed-sessions demo</title><style>{STYLE}</style></head><body>\
         <h1>typed-sessions demo</h1>\
         <section><h2>Messages</h2><ul id=\"flash\">{flash}</ul>{flash_form}</section>\
         <section><h2>Counter</h2><p>Count: <span id=\"count\">{count}</span></p>{counter_form}</section>\
         <section><h2>Account</h2><p>{user}</p>{login_form}{logout_form}</section>\
         <section><h2>Your sessions</h2><ul id=\"sessions\">{sessions}</ul>{revoke_form}</section>\
         </body></html>\n",
        count = page.count,
        flash_form = form("flash-form", "/ui/flash", flash_fields, "Flash it"),
        counter_form = form("counter-form", "/ui/counter", "", "Increment"),
        login_form = form("login-form", "/ui/login", login_fields, "Log in"),
        logout_form = form("logout-form", "/ui/logout", "", "Log out"),
        revoke_form = form(
            "revoke-others-form",
            "/ui/sessions/revoke-others",
            "",
            "End my other sessions"
        ),
    )
}

/// Text as HTML: the five characters that could end an element or an
/// attribute are escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_is_escaped() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
