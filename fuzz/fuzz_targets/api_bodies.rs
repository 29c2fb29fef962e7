//! Arbitrary bytes as requests to the daemon's API, through the real axum
//! router and handlers (`daemon::serve::InMemoryApi`: nothing listens, no
//! token, no audit log), over the built-in policy.
//!
//! The first byte picks the route (preflight, ask, resolve, get an
//! approval, or any URI); up to the first newline is a path
//! segment (a tool name, an approval id, percent-encoded so that any bytes
//! make a URI) or, for the raw route, the whole URI as typed; the rest is
//! the body. Whatever comes in, the answer is never a 5xx, and every
//! refusal is the API's JSON `{"error": …}`.
#![no_main]

use daemon::RampartHome;
use daemon::serve::InMemoryApi;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;

static API: OnceLock<InMemoryApi> = OnceLock::new();

fn api() -> &'static InMemoryApi {
    API.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rampart-fuzz-api-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // An `ask` is answered at once (denied by the zero timeout).
        InMemoryApi::new(RampartHome::at(dir), Duration::ZERO).expect("in-memory API")
    })
}

fn percent_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (segment, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&rest[..0], rest),
    };
    let seg = percent_encode(segment);
    // `POST /v1/policy/reload` reads its body only to discard it, and a
    // reload recompiles the policy (tens of ms): it is left out, so the
    // fuzzer's time goes to the routes that parse what they are sent.
    let (method, uri): (&[u8], String) = match selector % 5 {
        0 => (b"POST", format!("/v1/preflight/{seg}")),
        1 => (b"POST", "/v1/ask".into()),
        2 => (b"POST", format!("/v1/approvals/{seg}/resolve")),
        3 => (b"GET", format!("/v1/approvals/{seg}")),
        _ => {
            let methods: [&[u8]; 4] = [b"GET", b"POST", b"PUT", b"DELETE"];
            let Ok(raw) = std::str::from_utf8(segment) else {
                return;
            };
            // The event stream never ends; it is not a body route.
            if raw.contains("events") || raw.contains("reload") {
                return;
            }
            (methods[(selector / 5 % 4) as usize], raw.to_string())
        }
    };
    let Ok(reply) = api().request(method, &uri, body.to_vec()) else {
        return; // not a request the HTTP parser would have let through
    };
    let text = String::from_utf8_lossy(&reply.body);
    assert!(
        reply.status < 500,
        "{} {uri}: {} {text}",
        String::from_utf8_lossy(method),
        reply.status
    );
    if reply.status >= 400 {
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_else(|e| {
            panic!(
                "{} {uri}: {} is not JSON ({e}): {text}",
                reply.status, reply.status
            )
        });
        assert!(
            v["error"].is_string() || v["error"].is_object(),
            "{uri}: {text}"
        );
    }
});
