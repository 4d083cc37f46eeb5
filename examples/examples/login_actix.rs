//! A login on actix-web. What it shows: `Json` in, `regenerate()` gives the
//! session a new token at login, `delete()` logs out, and `LoginGuard`
//! answers `401` to sessions that are not signed in.
//!
//! Run: `cargo run -p examples --example login_actix`, then `curl -c jar -b jar
//! -H 'content-type: application/json' -d '{"name":"ada"}' 127.0.0.1:3000/login`
//! and `curl -b jar 127.0.0.1:3000/me`.

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};
use session_actix::{LoginGuard, Session, SessionConfig, SessionManager, SessionMiddleware};
use session_store_memory::MemoryStore;

#[derive(Default, Clone, Serialize, Deserialize)]
struct Account {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Login {
    name: String,
}

async fn login(session: Session<Account>, body: web::Json<Login>) -> HttpResponse {
    session.regenerate(); // a new token at every change of privilege
    session.data_mut().name = Some(body.into_inner().name);
    HttpResponse::NoContent().finish()
}

async fn me(session: Session<Account>) -> web::Json<Account> {
    web::Json(session.data().clone())
}

async fn logout(session: Session<Account>) -> HttpResponse {
    session.delete();
    HttpResponse::NoContent().finish()
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = SessionConfig::development().store(MemoryStore::new());
    let manager = SessionManager::<Account>::new(config.build()?);
    let guard = LoginGuard::new(|account: &Account| account.name.is_some()).unauthorized();
    HttpServer::new(move || {
        App::new()
            .service(
                web::scope("/me")
                    .wrap(guard.clone())
                    .route("", web::get().to(me)),
            )
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
            .wrap(SessionMiddleware::new(manager.clone()))
    })
    .bind("127.0.0.1:3000")?
    .run()
    .await?;
    Ok(())
}
