//! The security suite (SECURITY.md): an agent under the default policy
//! cannot disarm Rampart; shedding the library does not work even where a
//! policy would allow it; the token never leaks into the log, the audit,
//! the event stream or any API answer; every route refuses traversal and
//! oversized input with a 4xx; the Unix socket refuses other users.
//!
//! Each attempt is checked by its effect (the file is still there, the
//! daemon still answers, the marker is absent), not by its message alone.

use crate::daemon::{Daemon, read_events_until, request, served_with};
use crate::harness::{World, exists, run, stderr, stdout};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A world whose RAMPART_HOME is `~/.rampart` (where the default policy
/// expects it), served by a daemon with no policies of its own: the
/// built-in default policy is in force.
fn default_policy_world(name: &str) -> (World, Daemon) {
    let mut w = World::new(name);
    w.rampart_home = w.home.join(".rampart");
    let d = Daemon::start(&w, &[]);
    let source = d.status()["snapshot"]["source"].to_string();
    assert!(source.contains("built-in"), "{source}");
    (w, d)
}

fn alive(pid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

#[test]
fn the_default_policy_stops_an_agent_disarming_rampart() {
    let (w, d) = default_policy_world("sec-disarm");
    let rh = &w.rampart_home;
    let snap = rh.join("cache/policy.snap");
    let snap_bytes = std::fs::read(&snap).expect("published");
    // Something in the audit log to lose.
    let out = run(w.bash("/bin/true"), 30);
    assert!(out.status.success());
    let audit = rh.join("audit");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_dir(&audit)
        .unwrap()
        .any(|e| e.unwrap().path().extension().is_some_and(|x| x == "jsonl"))
    {
        assert!(Instant::now() < deadline, "nothing ingested: {}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let pkill = ["/usr/bin/pkill", "/bin/pkill"]
        .iter()
        .any(|p| Path::new(p).exists());
    let rampart = crate::daemon::rampart_bin();
    let mut attempts: Vec<String> = vec![
        // Deleting or replacing the snapshot, the audit, the policies.
        "rm -f ~/.rampart/cache/policy.snap".into(),
        "cp /dev/null ~/.rampart/cache/policy.snap".into(),
        "bash -c 'printf x > ~/.rampart/cache/policy.snap'".into(),
        "rm -rf ~/.rampart/audit".into(),
        "find ~/.rampart -delete".into(),
        "mv ~/.rampart ~/.rampart-off".into(),
        "bash -c \"echo 'default_action: allow' > ~/.rampart/policies/zz.yaml\"".into(),
        "mkdir -p ~/.rampart/policies/x".into(),
        // Killing the daemon.
        "bash -c 'kill -9 $(pgrep -f \"rampart serve\")'".into(),
        "bash -c 'kill $(cat ~/.rampart/serve.lock)'".into(),
        // Shedding the library or switching it off for a child.
        "env -u LD_PRELOAD bash -c 'touch disarm-env-u'".into(),
        "bash -c 'LD_PRELOAD= touch disarm-ld-empty'".into(),
        "bash -c 'unset LD_PRELOAD; touch disarm-unset'".into(),
        "bash -c 'RAMPART_MODE=disabled touch disarm-mode'".into(),
        "env RAMPART_SNAPSHOT=/dev/null touch disarm-snapshot".into(),
        "bash -c 'export RAMPART_HOME=/tmp; touch disarm-home'".into(),
        // The token and approving one's own requests.
        "cat ~/.rampart/token".into(),
        "python3 -c \"print(open('$HOME/.rampart/token').read())\"".into(),
        format!("{} approve abc123", rampart.display()),
    ];
    if pkill {
        attempts.push("pkill -f 'rampart serve'".into());
    }
    for a in &attempts {
        let out = run(w.bash(a), 30);
        let err = stderr(&out);
        assert!(err.contains("rampart: blocked"), "not blocked: {a}\n{err}");
        assert!(!stdout(&out).contains(&d.token), "the token was read: {a}");
    }
    // Everything is where it was.
    assert_eq!(std::fs::read(&snap).unwrap(), snap_bytes, "the snapshot");
    assert!(audit.is_dir() && std::fs::read_dir(&audit).unwrap().count() > 0);
    assert!(rh.join("policies").is_dir());
    assert!(!rh.join("policies/zz.yaml").exists() && !rh.join("policies/x").exists());
    assert!(!w.home.join(".rampart-off").exists());
    for m in [
        "disarm-env-u",
        "disarm-ld-empty",
        "disarm-unset",
        "disarm-mode",
        "disarm-snapshot",
        "disarm-home",
    ] {
        assert!(!exists(&w.marker(m)), "{m} ran");
    }
    assert!(alive(d.pid), "the daemon was killed");
    assert_eq!(d.uds("GET", "/healthz", "").status, 200);
    // Reading is fine.
    let out = run(
        w.bash("ls ~/.rampart/cache && cat ~/.rampart/policies/*.yaml 2>/dev/null; true"),
        30,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("policy.snap"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn shedding_the_library_fails_even_where_the_policy_would_allow_it() {
    // The test policy has no self-protection rules: it is the library
    // that puts LD_PRELOAD and the captured RAMPART_* values back.
    let w = World::new("sec-shed");
    let empty = w.dir.join("empty-home");
    std::fs::create_dir_all(&empty).unwrap();
    let tries = [
        "env -u LD_PRELOAD bash -c 'touch blocked-marker-1'".to_string(),
        "LD_PRELOAD= bash -c 'touch blocked-marker-2'".into(),
        "LD_PRELOAD=/nonexistent.so bash -c 'touch blocked-marker-3'".into(),
        "env -i PATH=/usr/bin:/bin bash -c 'touch blocked-marker-4'".into(),
        "RAMPART_MODE=disabled bash -c 'touch blocked-marker-5'".into(),
        "RAMPART_SNAPSHOT=/dev/null bash -c 'touch blocked-marker-6'".into(),
        format!("RAMPART_HOME={} bash -c 'touch blocked-marker-7'", empty.display()),
        "bash -c 'unset LD_PRELOAD; exec touch blocked-marker-8'".into(),
        "python3 -c \"import os; os.environ.clear(); os.execv('/usr/bin/touch', ['touch', 'blocked-marker-9'])\"".into(),
    ];
    for (i, t) in tries.iter().enumerate() {
        let out = run(w.bash(&format!("{t}; touch ok-marker-{}", i + 1)), 30);
        assert!(
            !exists(&w.marker(&format!("blocked-marker-{}", i + 1))),
            "{t}: {}",
            stderr(&out)
        );
        assert!(exists(&w.marker(&format!("ok-marker-{}", i + 1))), "{t}");
    }
}

#[test]
fn the_token_never_appears_in_the_log_the_audit_the_stream_or_an_answer() {
    let (w, d) = served_with("sec-token", &[]);
    let token = d.token.clone();
    let mut sse = UnixStream::connect(&d.sock).unwrap();
    sse.write_all(&request("GET", "/v1/events/stream", &[], ""))
        .unwrap();
    read_events_until(&mut sse, &["event: hello"], 10);

    // The token used, misused and mentioned everywhere it could be.
    let auth = format!("Bearer {token}");
    assert_eq!(d.api("GET", "/v1/status", "").status, 200);
    let bad = format!("Bearer {}x", &token[..token.len() - 1]);
    assert_eq!(
        d.tcp("GET", "/v1/status", &[("Authorization", &bad)], "")
            .status,
        401
    );
    assert_eq!(
        d.tcp("GET", &format!("/v1/status?token={token}"), &[], "")
            .status,
        401
    );
    assert_eq!(
        d.tcp(
            "GET",
            &format!("/v1/nowhere/{token}"),
            &[("Authorization", &auth)],
            ""
        )
        .status,
        404
    );
    for cmd in [
        format!("curl -H 'Authorization: Bearer {token}' http://127.0.0.1:9090/v1/status"),
        format!("echo {token}"),
        format!("touch blocked-marker-{token}"),
    ] {
        let body = serde_json::json!({"agent": token, "session": token, "params": {"command": cmd, "path": token, "url": format!("http://x/?k={token}")}});
        let r = d.api("POST", "/v1/preflight/exec", &body.to_string());
        assert_eq!(r.status, 200, "{r:?}");
        assert!(!r.body.contains(&token), "preflight answer: {}", r.body);
    }
    // A library decision, and an approval request, naming the token.
    let out = run(
        w.bash(&format!(
            "/bin/echo {token} >/dev/null; touch blocked-marker-{token}"
        )),
        30,
    );
    assert!(out.status.success() || !stderr(&out).is_empty());
    let mut asking = w
        .bash(&format!("touch ask-marker-{token}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pending = d.wait_pending(1, 20);
    let id = pending[0]["id"].as_str().unwrap().to_string();
    let listed = d.uds("GET", "/v1/approvals", "");
    let one = d.uds("GET", &format!("/v1/approvals/{id}"), "");
    let r = d.api(
        "POST",
        &format!("/v1/approvals/{id}/resolve"),
        &format!(r#"{{"approved": false, "resolved_by": "{token}"}}"#),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let _ = asking.wait();
    // Wait for the library's records to be ingested.
    let audit = w.rampart_home.join("audit");
    let read_audit = || {
        std::fs::read_dir(&audit)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect::<String>()
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !read_audit().contains("ask-marker-") {
        assert!(Instant::now() < deadline, "not ingested: {}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = read_events_until(
        &mut sse,
        &["event: approval.resolved", "\"source\":\"library\""],
        20,
    );
    let answers = [
        ("status", d.uds("GET", "/v1/status", "").body),
        ("approvals", listed.body),
        ("approval", one.body),
        ("resolved", r.body),
        ("metrics", d.api("GET", "/metrics", "").body),
        ("recent events", d.uds("GET", "/v1/events/recent", "").body),
        ("dashboard", d.uds("GET", "/dashboard/", "").body),
    ];
    for (what, text) in answers.iter().chain(
        [
            ("daemon log", d.log()),
            ("audit", read_audit()),
            ("event stream", seen),
        ]
        .iter(),
    ) {
        assert!(
            !text.contains(&token),
            "the token appears in the {what}:\n{text}"
        );
        assert!(
            !text.contains(&token[8..]),
            "the token's secret part appears in the {what}:\n{text}"
        );
    }
}

/// Routes and how to call them (a `{}` stands for a path segment).
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/v1/status"),
    ("POST", "/v1/preflight/{}"),
    ("POST", "/v1/policy/reload"),
    ("POST", "/v1/ask"),
    ("GET", "/v1/approvals"),
    ("GET", "/v1/approvals/{}"),
    ("POST", "/v1/approvals/{}/resolve"),
    ("GET", "/v1/events/stream"),
    ("GET", "/v1/events/recent"),
    ("GET", "/metrics"),
    ("GET", "/dashboard/{}"),
];

#[test]
fn every_route_refuses_traversal_and_oversized_input_with_a_4xx() {
    let (_w, d) = served_with("sec-routes", &[]);
    // Traversal: nothing outside the API is ever served.
    for (m, p) in [
        ("GET", "/v1/approvals/..%2f..%2f..%2fetc%2fpasswd"),
        ("GET", "/v1/approvals/../../../etc/passwd"),
        ("POST", "/v1/approvals/..%2f..%2fetc%2fpasswd/resolve"),
        ("POST", "/v1/approvals/%2e%2e/resolve"),
        ("GET", "/dashboard/../../../../etc/passwd"),
        ("GET", "/dashboard/..%2f..%2f..%2f..%2fetc%2fpasswd"),
        ("GET", "/dashboard/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
        ("GET", "/dashboard/....//....//etc/passwd"),
        ("GET", "/../../../../etc/passwd"),
        ("GET", "/v1/../../etc/passwd"),
        ("GET", "/v1/approvals/%ff%fe%00"),
        ("POST", "/v1/preflight/%ff"),
    ] {
        for r in [
            d.uds(m, p, r#"{"approved": true}"#),
            d.api(m, p, r#"{"approved": true}"#),
        ] {
            assert!(
                (400..500).contains(&r.status),
                "{m} {p}: {}\n{}",
                r.status,
                r.body
            );
            assert!(
                !r.body.contains("root:"),
                "{m} {p} served a file: {}",
                r.body
            );
        }
    }
    // The dashboard's files need no token; nothing else can be reached
    // through their prefix.
    for p in [
        "/dashboard/../v1/approvals",
        "/dashboard/..%2fv1%2fapprovals",
        "/dashboard/%2e%2e/v1/status",
        "/dashboard/../../v1/status",
    ] {
        let r = d.tcp("GET", p, &[], "");
        assert!(
            (400..500).contains(&r.status),
            "GET {p} without a token: {}\n{}",
            r.status,
            r.body
        );
        assert!(
            !r.body.contains("\"approvals\"") && !r.body.contains("\"daemon\""),
            "{p}: {}",
            r.body
        );
    }
    // A tool named like a path is only a name: decided, never opened.
    let r = d.uds(
        "POST",
        "/v1/preflight/..%2f..%2f..%2fetc%2fpasswd",
        r#"{"params": {"path": "../../../../etc/shadow"}}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(!r.body.contains("root:"));

    // Oversized input, route by route: a body over 1 MiB (413, refused
    // on its length before it is read), a path segment or query of
    // 100 KiB (a 4xx, or the connection cut before an answer: the header
    // limit), and the daemon carries on after each.
    let big_body = format!("{{\"x\": \"{}\"}}", "a".repeat(1 << 20));
    let long = "b".repeat(100 << 10);
    for (m, p) in ROUTES {
        let path = p.replace("{}", "x");
        if *m == "POST" {
            let r = d.uds(m, &path, &big_body);
            assert_eq!(r.status, 413, "{m} {path}: {}", r.head);
            let r = d.api(m, &path, &big_body);
            assert_eq!(r.status, 413, "{m} {path} over TCP: {}", r.head);
        }
        let long_path = if p.contains("{}") {
            p.replace("{}", &long)
        } else {
            format!("{p}?q={long}")
        };
        let r = d.uds(m, &long_path, "{}");
        assert!(
            r.status == 0 || (400..500).contains(&r.status),
            "{m} {p} with 100 KiB: {}",
            r.head
        );
        assert_eq!(d.uds("GET", "/healthz", "").status, 200, "after {m} {p}");
    }
    // A segment just under the header limit is an ordinary 4xx.
    let r = d.uds(
        "GET",
        &format!("/v1/approvals/{}", "c".repeat(16 << 10)),
        "",
    );
    assert_eq!(r.status, 404, "{}", r.head);
    assert!(r.json()["error"].is_string());
}

#[test]
fn the_unix_socket_refuses_other_users() {
    // SAFETY: getuid(2) cannot fail.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("SKIPPED: switching to another user needs root (setpriv); the socket is 0600");
        return;
    }
    let (w, d) = served_with("sec-socket", &[]);
    let client = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect-refused", e.errno); sys.exit(0)
s.settimeout(10)
data = b""
try:
    s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    while True:
        c = s.recv(65536)
        if not c: break
        data += c
except Exception as e:
    print("recv-error", e)
print("answered", len(data), data[:15])
"#;
    let as_nobody = || {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            client,
        ])
        .arg(&d.sock)
        .env_remove("LD_PRELOAD");
        run(c, 30)
    };
    // As it is: 0600 in a 0700 home, nobody cannot even connect.
    let out = as_nobody();
    assert!(
        stdout(&out).contains("connect-refused 13"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // Even with the file modes opened up by mistake, the daemon checks
    // the peer's uid and closes the connection without an answer.
    let set =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    let mut p = w.rampart_home.clone();
    let mut opened = Vec::new();
    while p.parent().is_some() && p != Path::new("/tmp") && p != Path::new("/") {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        opened.push((p.clone(), mode));
        set(&p, mode | 0o011);
        p = p.parent().unwrap().to_path_buf();
    }
    set(&d.sock, 0o666);
    let out = as_nobody();
    set(&d.sock, 0o600);
    for (p, m) in opened {
        set(&p, m);
    }
    assert!(
        stdout(&out).contains("answered 0 "),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        d.log()
            .contains("refused a socket connection from another user"),
        "{}",
        d.log()
    );
    // Its own user is still served.
    assert_eq!(d.uds("GET", "/v1/status", "").status, 200);
}
