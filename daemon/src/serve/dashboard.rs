//! The web dashboard: `GET /dashboard/` on the TCP listener.
//!
//! Three static files (`dashboard/index.html`, `app.js`, `app.css`, and an
//! icon) embedded in the binary. They hold no data, so they are served
//! without the token; everything the page shows comes from the API, which
//! it calls with `fetch()` and `Authorization: Bearer` (the token is typed
//! once into the page, kept in `sessionStorage`, never put in a URL). The
//! live feed reads `GET /v1/events/stream` through a `ReadableStream`
//! (an `EventSource` cannot send headers), after `GET /v1/events/recent`
//! for totals, the per-minute chart and the last events.
//!
//! [`security_headers`] puts a strict Content-Security-Policy, no-referrer,
//! nosniff, frame denial and `no-store` on every TCP response, pages and
//! API alike.

use super::Daemon;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use std::sync::Arc;

/// The page's policy: its own script, style and icon, API calls to its own
/// origin, nothing inline, no frames, no forms posted anywhere.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// Everything else (JSON, SSE, metrics) is never a document.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const APP_CSS: &str = include_str!("dashboard/app.css");
const ICON_SVG: &str = include_str!("dashboard/icon.svg");

/// Is `path` one of the dashboard's static files (served without the
/// token: they contain no data)?
pub fn is_public(path: &str) -> bool {
    path == "/dashboard" || path.starts_with("/dashboard/")
}

/// The static files: path, content type, body.
const FILES: [(&str, &str, &str); 4] = [
    ("/dashboard/", "text/html; charset=utf-8", INDEX_HTML),
    (
        "/dashboard/app.js",
        "text/javascript; charset=utf-8",
        APP_JS,
    ),
    ("/dashboard/app.css", "text/css; charset=utf-8", APP_CSS),
    ("/dashboard/icon.svg", "image/svg+xml", ICON_SVG),
];

/// `/dashboard` (a redirect) and the files in [`FILES`].
fn static_files<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new().route(
        "/dashboard",
        get(|| async { Redirect::permanent("/dashboard/") }),
    );
    for (path, content_type, body) in FILES {
        r = r.route(path, get(move || file(content_type, body)));
    }
    r
}

/// The dashboard's routes, and `GET /v1/events/recent` (token required on
/// TCP, like every `/v1` route).
pub(super) fn routes() -> Router<Arc<Daemon>> {
    static_files().route("/v1/events/recent", get(recent))
}

async fn file(content_type: &'static str, body: &'static str) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn recent(State(d): State<Arc<Daemon>>) -> axum::Json<serde_json::Value> {
    axum::Json(d.events.recent())
}

/// Middleware: the security headers on every response (set only where a
/// handler did not set its own).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let page = is_public(req.uri().path());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let csp = if page { PAGE_CSP } else { API_CSP };
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    fn app() -> Router {
        static_files()
            .route("/v1/status", get(|| async { "{}" }))
            .layer(axum::middleware::from_fn(security_headers))
    }

    async fn get_path(path: &str) -> Response {
        app()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn pages_and_api_responses_carry_the_security_headers() {
        for (path, csp) in [("/dashboard/", PAGE_CSP), ("/v1/status", API_CSP)] {
            let res = get_path(path).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            let h = res.headers();
            assert_eq!(h[header::CONTENT_SECURITY_POLICY], csp, "{path}");
            assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
            assert_eq!(h[header::CACHE_CONTROL], "no-store");
        }
        let js = get_path("/dashboard/app.js").await;
        assert_eq!(
            js.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
    }

    #[test]
    fn the_page_has_nothing_inline_and_names_only_its_own_files() {
        // The CSP forbids inline script and style: the page must not need them.
        assert!(!INDEX_HTML.contains("<script>"));
        assert!(!INDEX_HTML.contains("style="));
        assert!(!INDEX_HTML.contains("<style"));
        let handlers = INDEX_HTML
            .split(|c: char| c.is_whitespace() || c == '<')
            .filter(|w| w.starts_with("on") && w.contains('='))
            .count();
        assert_eq!(handlers, 0, "no inline event handlers");
        assert!(INDEX_HTML.contains(r#"<script src="app.js""#));
        assert!(INDEX_HTML.contains(r#"href="app.css""#));
        assert!(!APP_JS.contains("innerHTML"), "text goes in as text");
        assert!(!APP_JS.contains("console.log"), "the token is never logged");
    }

    #[test]
    fn only_the_dashboard_is_public() {
        assert!(is_public("/dashboard"));
        assert!(is_public("/dashboard/"));
        assert!(is_public("/dashboard/app.js"));
        assert!(!is_public("/dashboardx"));
        assert!(!is_public("/v1/events/recent"));
        assert!(!is_public("/"));
    }
}
