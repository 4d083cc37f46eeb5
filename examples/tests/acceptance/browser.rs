//! The page at `/` in a real browser: Debian's Chromium, headless, driven
//! through chromedriver (WebDriver) by `fantoccini`, against each demo on
//! the memory store, with the demo's default cookie settings (`Secure`
//! included, which Chromium accepts on `http://127.0.0.1`).
//!
//! `fantoccini` rather than a CDP client such as `chromiumoxide`: WebDriver
//! is a W3C standard that Debian packages a driver for (`chromium-driver`),
//! the client is small, and it talks plain http to the loopback driver, so
//! it is built without any TLS stack.
//!
//! Skipped, saying so, only where `chromium` or `chromedriver` is not
//! installed (`.ci/run` installs both). The screenshot of each run is saved
//! under the target directory (`tmp/browser-<framework>.png`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::harness::Target;

/// Chromium's flags: headless, and quiet on a closed network (without the
/// networking flags it floods one with refused connections).
const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=900,1100",
];

/// How long a page may take to show what a step expects.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// One browser at a time: the machine is small, and two Chromiums starting
/// together only make each other slow.
static ONE_BROWSER: Mutex<()> = Mutex::const_new(());

/// A program on `PATH`, by any of its names.
fn installed(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

/// chromedriver on a free loopback port, once it accepts connections.
fn start_driver(driver: &Path) -> (Process, String) {
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let process = Process(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            started.elapsed() < STEP_TIMEOUT,
            "chromedriver did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (process, format!("http://{addr}"))
}

async fn open_browser(chromium: &Path, driver_url: &str, profile: &Path) -> Client {
    let mut args: Vec<String> = FLAGS.iter().map(|f| (*f).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let options = serde_json::json!({ "binary": chromium, "args": args });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".to_owned(), options);
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(driver_url)
        .await
        .expect("a Chromium session")
}

/// Serves, on another loopback origin, one page that auto-submits a form to
/// the demo's `/ui/counter`, carrying a token of the attacker's own session.
async fn serve_attacker(target: String, token: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let page = format!(
        "<!doctype html><html><body><p>You won a prize!</p>\
         <form id=\"f\" method=\"post\" action=\"{target}/ui/counter\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\"></form>\
         <script>document.getElementById('f').submit()</script></body></html>"
    );
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = vec![0u8; 8192];
            let _ = stream.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    base
}

/// The text of the element `css`, once `expected` says it is right.
async fn wait_text(browser: &Client, css: &str, expected: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        if let Ok(element) = browser.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if expected(&text) {
                    return text;
                }
                assert!(started.elapsed() < STEP_TIMEOUT, "{css} shows {text:?}");
            }
        }
        assert!(started.elapsed() < STEP_TIMEOUT, "{css} did not appear");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(browser: &Client, css: &str) {
    let button = browser.find(Locator::Css(css)).await.expect(css);
    button.click().await.expect("a click");
}

async fn type_into(browser: &Client, css: &str, text: &str) {
    let field = browser.find(Locator::Css(css)).await.expect(css);
    field.send_keys(text).await.expect("typing");
}

/// A token of a session that is not the browser's: what an attacker gets
/// by visiting the demo himself.
async fn attackers_token(base: &str) -> String {
    let client = reqwest::Client::new();
    let body: serde_json::Value = client
        .get(format!("{base}/csrf"))
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("JSON");
    body["token"].as_str().expect("a token").to_owned()
}

/// The page in the browser, on one demo: login, counter, flash, a forged
/// cross-site post, the `HttpOnly` cookie, logout, a screenshot.
pub(crate) async fn the_page_works_in_chromium(target: &Target, framework: &str) {
    let (Some(chromium), Some(driver)) = (
        installed(&["chromium", "chromium-browser"]),
        installed(&["chromedriver"]),
    ) else {
        eprintln!(
            "skipped: the browser test needs Chromium and chromedriver on PATH \
             (Debian packages chromium and chromium-driver; .ci/run installs them)"
        );
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    // The demo's own cookie settings: Secure included.
    let server = target.start_with(&[("SESSION_COOKIE_SECURE", "")]);
    let base = server.base.clone();
    let (_driver, driver_url) = start_driver(&driver);
    let profile = std::env::temp_dir().join(format!(
        "chromium-profile-{}-{framework}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).expect("an empty profile");
    let browser = open_browser(&chromium, &driver_url, &profile).await;

    let result = steps(&browser, &base, framework, &server).await;
    let _ = browser.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    result
}

async fn steps(browser: &Client, base: &str, framework: &str, server: &crate::harness::Server) {
    browser.goto(&format!("{base}/")).await.expect("the page");
    assert_eq!(wait_text(browser, "#count", |t| t == "0").await, "0");
    assert_eq!(wait_text(browser, "#user", |_| true).await, "");

    // Log in through the form.
    type_into(browser, "#login-form input[name=username]", "alice").await;
    type_into(browser, "#login-form input[name=password]", "wonderland").await;
    click(browser, "#login-form input[name=remember]").await;
    click(browser, "#login-form button").await;
    wait_text(browser, "#user", |t| t == "alice").await;
    let sessions = wait_text(browser, "#sessions", |t| t.contains("this one")).await;
    assert_eq!(sessions.lines().count(), 1, "{sessions}");

    // The counter, twice.
    click(browser, "#counter-form button").await;
    wait_text(browser, "#count", |t| t == "1").await;
    click(browser, "#counter-form button").await;
    wait_text(browser, "#count", |t| t == "2").await;

    // A flash message, shown once.
    type_into(
        browser,
        "#flash-form input[name=message]",
        "hello from Chromium",
    )
    .await;
    click(browser, "#flash-form button").await;
    wait_text(browser, "#flash", |t| t == "hello from Chromium").await;
    let cookies = browser
        .execute("return document.cookie", vec![])
        .await
        .expect("a script runs");
    let cookies = cookies.as_str().unwrap_or_default().to_owned();
    assert!(!cookies.contains("_session"), "HttpOnly: {cookies:?}");
    let png = browser.screenshot().await.expect("a screenshot");
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("browser-{framework}.png"));
    std::fs::write(&shot, png).expect("the screenshot is saved");
    eprintln!("screenshot: {}", shot.display());
    browser.goto(&format!("{base}/")).await.expect("the page");
    wait_text(browser, "#count", |t| t == "2").await;
    assert_eq!(
        wait_text(browser, "#flash", |_| true).await,
        "",
        "shown once"
    );

    // A page of another origin auto-submits a form to /ui/counter.
    let attacker = serve_attacker(base.to_owned(), attackers_token(base).await).await;
    browser
        .goto(&format!("{attacker}/"))
        .await
        .expect("the attacker's page");
    let started = Instant::now();
    while !server.log().contains("request refused") {
        assert!(
            started.elapsed() < STEP_TIMEOUT,
            "the forged post never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = server.log();
    assert!(
        log.contains("cross-site") || log.contains("another site"),
        "{log}"
    );
    browser.goto(&format!("{base}/")).await.expect("the page");
    assert_eq!(
        wait_text(browser, "#count", |t| t == "2").await,
        "2",
        "unchanged"
    );
    wait_text(browser, "#user", |t| t == "alice").await;

    // Log out.
    click(browser, "#logout-form button").await;
    wait_text(browser, "#user", |t| t.is_empty()).await;
    wait_text(browser, "#count", |t| t == "0").await;
}

#[tokio::test]
async fn axum_demo_in_chromium() {
    let target = Target {
        program: env!("CARGO_BIN_EXE_axum-demo"),
        store: "memory",
    };
    the_page_works_in_chromium(&target, "axum").await;
}

#[tokio::test]
async fn actix_demo_in_chromium() {
    let target = Target {
        program: env!("CARGO_BIN_EXE_actix-demo"),
        store: "memory",
    };
    the_page_works_in_chromium(&target, "actix").await;
}
