//! What stands between the local page and everything else on the machine or the web
//! (docs/ui.md): a local page is still a server.
//!
//! - Every request needs the secret: the address `greenbulk ui` prints carries it once, as
//!   `?token=`; the answer puts it in an `HttpOnly`, `SameSite=Strict` cookie and sends the
//!   browser on to the same page without it (so it is not left in the history), by a page of
//!   its own rather than a redirect: a browser opened on `greenbulk-ui-PORT.html` (a `file://`
//!   page) would count a redirect as a step from another site, and withhold the cookie.
//! - The `Host` must be `127.0.0.1:PORT` or `localhost:PORT`: a page elsewhere that makes its
//!   own name point at 127.0.0.1 (DNS rebinding) gets nothing.
//! - State-changing requests are POSTs carrying the page's CSRF token (checked by each form's
//!   handler), and a cross-site `Origin` is refused before that.
//! - No CORS headers; a content security policy that allows nothing from outside and no
//!   inline script; no referrer beyond the page itself (with none at all a browser posts
//!   `Origin: null`, and the origin check could not tell the page from a stranger); nothing
//!   cached.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::App;

/// The cookie that carries the secret, named for the page's port: a browser sends a cookie
/// of 127.0.0.1 to every port there, and two pages must not take each other's (docs/ui.md).
pub(super) fn cookie_name(port: u16) -> String {
    format!("greenbulk-session-{port}")
}

/// A fresh secret: 128 bits from the operating system's generator, as hex.
pub(super) fn secret() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal, in a time that does not tell how much of it matched.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Checks the host and the secret of every request, and adds the safety headers to every
/// answer.
pub(super) async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let mut response = check(&app, request, next).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn check(app: &App, request: Request, next: Next) -> Response {
    if !host_is_ours(request.headers(), app.port) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "This page answers only at 127.0.0.1 or localhost.",
        );
    }
    if request.method() == Method::POST && !origin_is_ours(request.headers(), app.port) {
        return refuse(StatusCode::FORBIDDEN, "A page elsewhere may not post here.");
    }
    let query_token = request.uri().query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .map(str::to_string)
    });
    if let Some(token) = query_token {
        if !same(&token, &app.secret) {
            return refuse(
                StatusCode::FORBIDDEN,
                "This address's secret is not this greenbulk's: open the address `greenbulk ui` \
                 printed when it started.",
            );
        }
        // The page the browser was opened on has done its work.
        app.forget_opened_from();
        // The secret moves into the cookie, and out of the address bar and the history. The
        // page's own path only: `//host/…` (or `/\host/…`, which browsers read alike) would
        // be another site's address.
        let path = request.uri().path();
        let path = if path.starts_with("//") || path.starts_with("/\\") {
            "/"
        } else {
            path
        };
        // A page that moves on by itself (replacing itself in the history), not a redirect:
        // the move is then this site's own, and a Strict cookie goes with it.
        let page = maud::html! {
            (maud::DOCTYPE)
            meta charset="utf-8";
            meta http-equiv="refresh" content=(format!("0;url={path}"));
            title { "greenbulk" }
            p { a href=(path) { "Open greenbulk" } }
        };
        let mut response = axum::response::Html(page.into_string()).into_response();
        let cookie = format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/",
            cookie_name(app.port),
            app.secret
        );
        response.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("hex is a valid header"),
        );
        return response;
    }
    if !cookie_is_ours(request.headers(), &cookie_name(app.port), &app.secret) {
        return refuse(
            StatusCode::FORBIDDEN,
            "This page needs the address `greenbulk ui` printed when it started (it carries a \
             secret): open that one.",
        );
    }
    next.run(request).await
}

fn host_is_ours(headers: &HeaderMap, port: u16) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    host == format!("127.0.0.1:{port}") || host == format!("localhost:{port}")
}

/// A POST's `Origin`, when the browser gives one, must be the page's own.
fn origin_is_ours(headers: &HeaderMap, port: u16) -> bool {
    match headers.get(header::ORIGIN).and_then(|h| h.to_str().ok()) {
        None => true,
        Some(origin) => {
            origin == format!("http://127.0.0.1:{port}")
                || origin == format!("http://localhost:{port}")
        }
    }
}

fn cookie_is_ours(headers: &HeaderMap, name: &str, secret: &str) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
        .any(|value| same(value, secret))
}

/// A refusal: plain text, nothing of the page.
pub(super) fn refuse(status: StatusCode, why: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            // A connection refused once is not kept for more: a program without the secret
            // cannot hold one open (see `serve_until`).
            (header::CONNECTION, "close"),
        ],
        format!("greenbulk: {why}\n"),
    )
        .into_response()
}
