//! The dashboard's side of `rampart serve`, over real TCP: its static files
//! (no token, strict headers), the security headers on API answers and
//! refusals, and `GET /v1/events/recent` agreeing with the event stream's
//! ids. The page itself is driven in a real browser by
//! `tests/browser/dashboard.test.mjs` (ci/test.sh runs it).

use crate::daemon::{Daemon, request};
use crate::harness::{POLICY, World, exists, run};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn served(name: &str) -> (World, Daemon) {
    let w = World::new(name);
    w.save_policy("test.yaml", POLICY);
    let d = Daemon::start(&w, &[]);
    (w, d)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn assert_strict(head: &str, what: &str) {
    let csp = header(head, "content-security-policy").unwrap_or_else(|| panic!("{what}: {head}"));
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(
        header(head, "referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(
        header(head, "x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(header(head, "x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(header(head, "cache-control"), Some("no-store"), "{what}");
}

#[test]
fn the_dashboard_is_served_without_the_token_and_with_strict_headers() {
    let (_w, d) = served("dash-static");
    let r = d.tcp("GET", "/dashboard", &[], "");
    assert_eq!(r.status, 308, "{}", r.head);
    assert_eq!(header(&r.head, "location"), Some("/dashboard/"));

    let page = d.tcp("GET", "/dashboard/", &[], "");
    assert_eq!(page.status, 200, "{}", page.head);
    assert_strict(&page.head, "page");
    let csp = header(&page.head, "content-security-policy").unwrap();
    for part in [
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(
        header(&page.head, "content-type").is_some_and(|t| t.starts_with("text/html")),
        "{}",
        page.head
    );
    assert!(
        page.body.contains(r#"<script src="app.js""#),
        "{}",
        page.body
    );
    for (path, kind) in [
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
        ("/dashboard/icon.svg", "image/svg+xml"),
    ] {
        let r = d.tcp("GET", path, &[], "");
        assert_eq!(r.status, 200, "{path}");
        assert!(
            header(&r.head, "content-type").is_some_and(|t| t.starts_with(kind)),
            "{path}: {}",
            r.head
        );
        assert_strict(&r.head, path);
    }
    // The page's data is not public: every API route still wants the token,
    // and its refusals carry the same headers.
    for path in ["/v1/status", "/v1/events/recent", "/v1/approvals"] {
        let r = d.tcp("GET", path, &[], "");
        assert_eq!(r.status, 401, "{path}");
        assert_strict(&r.head, path);
    }
    let ok = d.api("GET", "/v1/status", "");
    assert_eq!(ok.status, 200);
    assert_strict(&ok.head, "status");
    // A token in a URL is refused on the dashboard's files too.
    let q = format!("/dashboard/?token={}", d.token);
    assert_eq!(d.tcp("GET", &q, &[], "").status, 401);
    // Nothing but the embedded files is served.
    for path in [
        "/dashboard/../../../../etc/passwd",
        "/dashboard/%2e%2e/%2e%2e/etc/passwd",
        "/dashboard/index.html/..",
        "/dashboard/nope.js",
    ] {
        let r = d.tcp("GET", path, &[], "");
        assert!(r.status == 404 || r.status == 400, "{path}: {}", r.status);
        assert!(!r.body.contains("root:"), "{path}");
    }
    assert!(!d.log().contains(&d.token), "the token is never logged");
}

/// Read server-sent events until `done` says so (bounded).
fn read_sse(s: &mut TcpStream, secs: u64, done: impl Fn(&str) -> bool) -> String {
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = String::new();
    let mut buf = [0u8; 8192];
    while !done(&seen) {
        assert!(Instant::now() < deadline, "events so far: {seen}");
        if let Ok(n) = s.read(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    seen
}

/// `(id, event, data)` of each complete event in raw SSE text.
fn events(raw: &str) -> Vec<(Option<u64>, String, String)> {
    raw.split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut kind = String::new();
            let mut data = String::new();
            for l in block.lines() {
                // Chunked encoding leaves size lines between events.
                if let Some(v) = l.strip_prefix("id: ") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = l.strip_prefix("event: ") {
                    kind = v.trim().to_string();
                } else if let Some(v) = l.strip_prefix("data: ") {
                    data = v.to_string();
                }
            }
            (!kind.is_empty()).then_some((id, kind, data))
        })
        .collect()
}

#[test]
fn recent_events_give_totals_per_minute_and_the_streams_ids() {
    let (w, d) = served("dash-recent");
    let mut sse = TcpStream::connect(&d.tcp).unwrap();
    let auth = format!("Bearer {}", d.token);
    sse.write_all(&request(
        "GET",
        "/v1/events/stream",
        &[("Authorization", &auth)],
        "",
    ))
    .unwrap();
    read_sse(&mut sse, 10, |s| s.contains("event: hello"));

    // One decision through the API, one by a preloaded command.
    let r = d.api(
        "POST",
        "/v1/preflight/exec",
        r#"{"params": {"command": "touch blocked-marker-api"}}"#,
    );
    assert_eq!(r.json()["decision"], "deny");
    let out = run(w.bash("touch blocked-marker-lib"), 20);
    assert!(!out.status.success());
    assert!(!exists(&w.marker("blocked-marker-lib")), "denied, not run");
    let raw = read_sse(&mut sse, 10, |s| {
        s.contains("blocked-marker-api") && s.contains("blocked-marker-lib")
    });
    let streamed: Vec<_> = events(&raw)
        .into_iter()
        .filter(|(_, k, _)| k == "decision")
        .collect();
    assert_eq!(streamed.len(), 2, "{raw}");
    let ids: Vec<u64> = streamed
        .iter()
        .map(|(id, _, _)| id.expect("decision events carry an id"))
        .collect();
    assert!(ids[0] < ids[1], "ids increase: {ids:?}");

    let recent = d.api("GET", "/v1/events/recent", "");
    assert_eq!(recent.status, 200, "{}", recent.body);
    let j = recent.json();
    assert_eq!(j["totals"]["deny"], 2, "{j}");
    assert_eq!(j["last_id"], ids[1], "{j}");
    let minutes = j["minutes"].as_array().unwrap();
    let counted: u64 = minutes
        .iter()
        .map(|m| m["counts"]["deny"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, 2, "{j}");
    let listed = j["events"].as_array().unwrap();
    for ((id, _, data), want) in streamed.iter().zip(["api", "lib"]) {
        let e = listed
            .iter()
            .find(|e| e["id"].as_u64() == *id)
            .unwrap_or_else(|| panic!("event {id:?} not in {j}"));
        assert_eq!(e["kind"], "decision");
        assert_eq!(
            e["data"],
            serde_json::from_str::<serde_json::Value>(data).unwrap()
        );
        let cmd = e["data"]["command"].as_str().unwrap();
        assert!(cmd.contains(&format!("blocked-marker-{want}")), "{cmd}");
    }
    assert!(!recent.body.contains(&d.token));
}
