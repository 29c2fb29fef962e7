//! The API with nothing listening: the real router and handlers over the
//! policies of a home, driven one request at a time from synchronous code.
//!
//! It exists so that the request handling can be fuzzed in process
//! (`fuzz/fuzz_targets/api_bodies.rs`) and its regressions pinned in unit
//! tests, without sockets, a token or an audit log. Everything else is the
//! daemon's own code: the same [`api::router`](super::api), the same
//! approvals table, the same compiled policy.

use super::approvals::Approvals;
use super::events::Events;
use super::metrics::Metrics;
use super::policy::PolicyStore;
use super::{Daemon, Mode};
use crate::RampartHome;
use axum::body::Body;
use axum::http::{Request, header};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// Largest response body read back (the API's answers are far smaller).
const MAX_RESPONSE: usize = 8 << 20;

/// The daemon's API over the policies in `home`, answered in process.
#[derive(Debug)]
pub struct InMemoryApi {
    runtime: tokio::runtime::Runtime,
    daemon: Arc<Daemon>,
    router: axum::Router,
}

/// One answer: the status and the body (empty for an event stream, which
/// never ends by itself).
#[derive(Debug, Clone)]
pub struct InMemoryReply {
    /// The HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

impl InMemoryApi {
    /// Compile the policies of `home` (publishing its snapshot, as the
    /// daemon does at start) and build the router. `approval_timeout` bounds
    /// how long `POST /v1/ask` waits; zero answers at once with a deny.
    pub fn new(home: RampartHome, approval_timeout: Duration) -> std::io::Result<InMemoryApi> {
        home.ensure_dirs()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let policy = PolicyStore::start(home.clone(), None);
        let daemon = Arc::new(Daemon {
            home,
            mode: Mode::Enforce,
            approval_timeout,
            policy,
            approvals: Approvals::default(),
            events: Events::default(),
            metrics: Metrics::default(),
            started: Instant::now(),
            tcp_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            user_home: crate::user_home().to_string_lossy().into_owned(),
            audit: None,
        });
        let router = super::api::router(daemon.clone());
        Ok(InMemoryApi {
            runtime,
            daemon,
            router,
        })
    }

    /// Send one request. `Err` when `method` or `uri` cannot make a
    /// request at all (the HTTP parser would have refused it first).
    pub fn request(
        &self,
        method: &[u8],
        uri: &str,
        body: Vec<u8>,
    ) -> Result<InMemoryReply, String> {
        let len = body.len();
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, len)
            .body(Body::from(body))
            .map_err(|e| e.to_string())?;
        let router = self.router.clone();
        self.runtime.block_on(async move {
            let Ok(resp) = router.oneshot(req).await;
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = if content_type.starts_with("text/event-stream") {
                Vec::new()
            } else {
                axum::body::to_bytes(resp.into_body(), MAX_RESPONSE)
                    .await
                    .map_err(|e| format!("reading the response: {e}"))?
                    .to_vec()
            };
            Ok(InMemoryReply {
                status,
                content_type,
                body,
            })
        })
    }

    /// Calls waiting for approval now.
    pub fn pending(&self) -> usize {
        self.daemon.approvals.pending_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(name: &str) -> (InMemoryApi, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("rampart-inmem-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let api = InMemoryApi::new(RampartHome::at(&dir), Duration::ZERO).expect("api");
        (api, dir)
    }

    fn error_of(r: &InMemoryReply) -> String {
        let v: serde_json::Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{} not JSON ({e}): {:?}", r.status, r.body));
        v["error"].as_str().expect("an error message").to_string()
    }

    #[test]
    fn the_in_memory_api_decides_by_the_builtin_policy() {
        let (api, dir) = api("decide");
        let r = api
            .request(
                b"POST",
                "/v1/preflight/exec",
                br#"{"params":{"command":"rm -rf ~"}}"#.to_vec(),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["decision"], "deny");
        // An ask with a zero timeout is denied at once and leaves nothing.
        let r = api
            .request(b"POST", "/v1/ask", br#"{"command":"x"}"#.to_vec())
            .unwrap();
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            (v["approved"].as_bool(), v["resolved_by"].as_str()),
            (Some(false), Some("timeout"))
        );
        assert_eq!(api.pending(), 0);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn traversal_and_malformed_paths_are_4xx_with_a_json_error() {
        let (api, dir) = api("paths");
        for (m, uri) in [
            ("GET", "/v1/approvals/..%2f..%2fetc%2fpasswd"),
            ("GET", "/v1/approvals/../../etc/passwd"),
            ("POST", "/v1/approvals/%2e%2e/resolve"),
            ("GET", "/dashboard/../../etc/passwd"),
            ("GET", "/v1/approvals/%ff%fe"),
            ("POST", "/v1/preflight/%ff"),
        ] {
            let body = br#"{"approved": true}"#.to_vec();
            let r = api.request(m.as_bytes(), uri, body).unwrap();
            assert!((400..500).contains(&r.status), "{m} {uri}: {}", r.status);
            assert!(
                !String::from_utf8_lossy(&r.body).contains("root:"),
                "{m} {uri}"
            );
            error_of(&r);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
