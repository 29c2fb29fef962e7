//! `rampart serve` end to end: the real daemon binary, the real library,
//! real programs. Each test starts its own daemon on a free port with the
//! world's RAMPART_HOME, and bounds every wait.
//!
//! The daemon is `target/debug/rampart` (or `RAMPART_BIN`): `cargo test`
//! does not build another package's binary, so build it first — ci/test.sh
//! does (`cargo build --workspace --all-targets`).

use crate::harness::{POLICY, World, exists, run, stderr, stdout, workspace};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// The `rampart` binary under test.
pub fn rampart_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RAMPART_BIN") {
        return PathBuf::from(p);
    }
    let candidates = ["target/debug/rampart", "target/release/rampart"];
    candidates
        .iter()
        .map(|c| workspace().join(c))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("target/debug/rampart is missing: run `cargo build -p rampart` first (ci/test.sh does)")
        })
}

/// A response: status and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// Send raw bytes, read the whole response (the request says
/// `Connection: close`), with a deadline.
fn exchange(mut s: impl Read + Write, raw: &[u8]) -> Reply {
    // A server may answer (413) before it has read everything.
    let _ = s.write_all(raw);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // 0: the connection closed without an answer.
    let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        head: head.to_string(),
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n.min(tail.len())]);
        rest = tail.get(n + 2..).unwrap_or("");
    }
    out
}

pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: rampart\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r.into_bytes()
}

/// A running `rampart serve`.
pub struct Daemon {
    child: Option<Child>,
    pub pid: u32,
    pub tcp: String,
    pub token: String,
    pub sock: PathBuf,
    log: PathBuf,
}

impl Daemon {
    pub fn start(w: &World, args: &[&str]) -> Daemon {
        let mut c = w.daemon_cmd();
        c.args(["serve", "--port", "0"]).args(args);
        Self::start_cmd(w, c)
    }

    /// Start `c` (`rampart serve …`, possibly behind a wrapper that execs
    /// it) and wait until it answers on the socket.
    pub fn start_cmd(w: &World, mut c: Command) -> Daemon {
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = w.dir.join(format!("serve-{n}.log"));
        let child = c
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn rampart serve");
        let pid = child.id();
        let mut d = Daemon {
            child: Some(child),
            pid,
            tcp: String::new(),
            token: String::new(),
            sock: w.rampart_home.join("rampart.sock"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("rampart serve exited ({status}): {}", d.log());
            }
            if let Ok(s) = UnixStream::connect(&d.sock) {
                s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let r = exchange(s, &request("GET", "/v1/status", &[], ""));
                if r.status == 200 {
                    d.tcp = r.json()["daemon"]["tcp"].as_str().expect("tcp").to_string();
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "rampart serve did not start: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d.token = std::fs::read_to_string(w.rampart_home.join("token"))
            .expect("token")
            .trim()
            .to_string();
        d
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Over the Unix socket (no token).
    pub fn uds(&self, method: &str, path: &str, body: &str) -> Reply {
        self.uds_raw(&request(method, path, &[], body))
    }

    pub fn uds_raw(&self, raw: &[u8]) -> Reply {
        let s = UnixStream::connect(&self.sock).expect("connect socket");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        exchange(s, raw)
    }

    /// Over TCP with the given extra headers.
    pub fn tcp(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let s = std::net::TcpStream::connect(&self.tcp).expect("connect tcp");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        exchange(s, &request(method, path, headers, body))
    }

    /// Over TCP with the token.
    pub fn api(&self, method: &str, path: &str, body: &str) -> Reply {
        let auth = format!("Bearer {}", self.token);
        self.tcp(method, path, &[("Authorization", &auth)], body)
    }

    pub fn status(&self) -> serde_json::Value {
        self.uds("GET", "/v1/status", "").json()
    }

    pub fn pending(&self) -> Vec<serde_json::Value> {
        self.uds("GET", "/v1/approvals", "").json()["approvals"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Wait (bounded) until `n` approvals are pending.
    pub fn wait_pending(&self, n: usize, secs: u64) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let p = self.pending();
            if p.len() >= n {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} approvals pending after {secs}s: {}",
                p.len(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let r = unsafe { libc::kill(self.pid as libc::pid_t, sig) };
        assert_eq!(r, 0, "kill");
    }

    /// Wait (bounded) for the daemon to exit.
    pub fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = child.try_wait().expect("wait") {
                return s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("rampart serve did not exit within {secs}s: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl World {
    /// `rampart …` (not preloaded) with this world's home.
    pub fn daemon_cmd(&self) -> Command {
        let mut c = Command::new(rampart_bin());
        c.current_dir(&self.work)
            .env("RAMPART_HOME", &self.rampart_home)
            .env("HOME", &self.home)
            .env("RAMPART_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::null());
        c
    }

    /// Save a policy file into `policies/` the way editors do: write a
    /// temp file, rename it over the old one.
    pub fn save_policy(&self, name: &str, text: &str) -> SystemTime {
        let dir = self.rampart_home.join("policies");
        std::fs::create_dir_all(&dir).expect("mkdir policies");
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).expect("write policy");
        let at = SystemTime::now();
        std::fs::rename(&tmp, dir.join(name)).expect("rename policy");
        at
    }
}

/// `rampart ARGS…` (not preloaded) in this world, bounded.
pub fn rampart(w: &World, args: &[&str]) -> Output {
    let mut c = w.daemon_cmd();
    c.args(args);
    run(c, 30)
}

fn served(name: &str) -> (World, Daemon) {
    served_with(name, &[])
}

pub fn served_with(name: &str, args: &[&str]) -> (World, Daemon) {
    let w = World::new(name);
    w.save_policy("test.yaml", POLICY);
    let d = Daemon::start(&w, args);
    (w, d)
}

/// A preloaded `bash -c script`, running in the background.
pub fn spawn_bash(w: &World, script: &str) -> Child {
    w.bash(script)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bash")
}

/// Wait (bounded) for a background child.
pub fn finish(mut c: Child, secs: u64) -> Output {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while c.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = c.kill();
            let out = c.wait_with_output().expect("output");
            panic!(
                "still running after {secs}s: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    c.wait_with_output().expect("output")
}

fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

#[test]
fn the_tcp_api_needs_the_token_and_the_socket_does_not() {
    let (w, d) = served("serve-token");
    assert!(
        d.token.starts_with("rampart_") && d.token.len() == 8 + 64,
        "{}",
        d.token
    );
    assert_eq!(mode_of(&w.rampart_home.join("token")), 0o600);
    assert_eq!(mode_of(&d.sock), 0o600);

    let none = d.tcp("GET", "/v1/status", &[], "");
    assert_eq!(none.status, 401, "{none:?}");
    assert!(none.json()["error"].is_string());
    let wrong = d.tcp(
        "GET",
        "/v1/status",
        &[("Authorization", "Bearer rampart_0000")],
        "",
    );
    assert_eq!(wrong.status, 401);
    let same_length = format!("Bearer rampart_{}", "0".repeat(64));
    assert_eq!(
        d.tcp("GET", "/v1/status", &[("Authorization", &same_length)], "")
            .status,
        401
    );
    let in_query = d.tcp("GET", &format!("/v1/status?token={}", d.token), &[], "");
    assert_eq!(in_query.status, 401, "{in_query:?}");
    let auth = format!("Bearer {}", d.token);
    let both = d.tcp(
        "GET",
        &format!("/v1/approvals?access_token={}", d.token),
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(
        both.status, 401,
        "a token in the URL is refused even with the header"
    );
    for (m, p) in [
        ("GET", "/metrics"),
        ("GET", "/v1/approvals"),
        ("POST", "/v1/policy/reload"),
        ("POST", "/v1/preflight/exec"),
        ("GET", "/nowhere"),
    ] {
        assert_eq!(d.tcp(m, p, &[], "{}").status, 401, "{m} {p}");
    }
    assert_eq!(d.tcp("GET", "/healthz", &[], "").status, 200);

    let ok = d.api("GET", "/v1/status", "");
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["mode"], "enforce");
    let uds = d.uds("GET", "/v1/status", "");
    assert_eq!(uds.status, 200);
    assert!(uds.json()["snapshot"]["generation"].as_u64().unwrap() >= 1);
    assert!(!d.log().contains(&d.token), "the token is never logged");
}

#[test]
fn preflight_decides_by_the_policy_in_force() {
    let (_w, d) = served("serve-preflight");
    let ask = |cmd: &str| {
        let body =
            serde_json::json!({"agent": "codex", "session": "s1", "params": {"command": cmd}})
                .to_string();
        let r = d.api("POST", "/v1/preflight/exec", &body);
        assert_eq!(r.status, 200, "{r:?}");
        r.json()
    };
    let deny = ask("cd /tmp && touch blocked-marker");
    assert_eq!(deny["allowed"], false);
    assert_eq!(deny["decision"], "deny");
    assert_eq!(deny["message"], "test policy says no");
    assert_eq!(deny["matched_policies"][0], "test-deny");
    assert!(deny["eval_duration_us"].as_f64().is_some());
    let needs = ask("touch ask-marker");
    assert_eq!(
        (needs["allowed"].clone(), needs["decision"].clone()),
        (false.into(), "ask".into())
    );
    let fine = ask("ls -la");
    assert_eq!(
        (fine["allowed"].clone(), fine["decision"].clone()),
        (true.into(), "allow".into())
    );
    // Not enforced: the verdict, but allowed.
    let body = r#"{"params": {"command": "touch blocked-marker"}, "enforce": false}"#;
    let advisory = d.uds("POST", "/v1/preflight/exec", body).json();
    assert_eq!(
        (advisory["allowed"].clone(), advisory["decision"].clone()),
        (true.into(), "deny".into())
    );
    // File tools take path / file_path.
    let r = d.uds(
        "POST",
        "/v1/preflight/read",
        r#"{"params": {"file_path": "/etc/hostname"}}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn bad_requests_get_the_right_4xx_and_the_daemon_carries_on() {
    let (_w, d) = served("serve-bad");
    // Refused on its Content-Length, before the body is read.
    let big = b"POST /v1/preflight/exec HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n";
    let r = d.uds_raw(big);
    assert_eq!(r.status, 413, "{}", r.head);
    assert!(r.json()["error"].is_string());
    let r = d.api("POST", "/v1/preflight/exec", &"x".repeat((1 << 20) + 1));
    assert_eq!(r.status, 413, "{}", r.head);
    let r = d.uds("POST", "/v1/preflight/exec", "{not json");
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{r:?}"
    );
    let r = d.uds("GET", "/v1/nothing-here", "");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());
    let r = d.uds("DELETE", "/v1/status", "");
    assert_eq!(r.status, 405);
    assert!(r.json()["error"].is_string());
    let r = d.uds(
        "POST",
        "/v1/approvals/nope/resolve",
        r#"{"approved": true}"#,
    );
    assert_eq!(r.status, 404);
    // Oversized headers: 431, or the connection is cut before the answer
    // can be read (the rest of the request was never read).
    let huge_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(1 << 20)
    );
    let r = d.uds_raw(huge_header.as_bytes());
    assert!(r.status == 431 || r.status == 0, "{}", r.head);
    // A client that sends half a request and stalls is cut off without
    // harming anyone else.
    let mut slow = UnixStream::connect(&d.sock).expect("connect");
    slow.write_all(b"POST /v1/preflight/exec HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    assert_eq!(d.uds("GET", "/healthz", "").status, 200);
    drop(slow);
    assert_eq!(d.api("GET", "/healthz", "").status, 200);
}

#[test]
fn a_policy_saved_into_the_directory_reaches_a_running_preloaded_shell() {
    let (w, d) = served("serve-reload");
    let g0 = d.status()["snapshot"]["generation"].as_u64().unwrap();
    // A running shell that keeps trying until it is refused, then says when.
    let script = "i=0; while [ $i -lt 1000 ]; do i=$((i+1)); \
                  if ! touch probe-$i 2>/dev/null; then date +%s%N; exit 0; fi; sleep 0.005; done; exit 3";
    let child = spawn_bash(&w, script);
    std::thread::sleep(Duration::from_millis(300));
    assert!(exists(&w.marker("probe-1")), "allowed before the change");
    let stricter = format!(
        "{POLICY}\n  - name: new-rule\n    rules:\n      - action: deny\n        when: {{ command_matches: [\"touch probe-*\"] }}\n"
    );
    let saved = w.save_policy("test.yaml", &stricter);
    let out = finish(child, 20);
    assert_eq!(
        out.status.code(),
        Some(0),
        "never refused: {}",
        stderr(&out)
    );
    let refused_ns: u128 = stdout(&out).trim().parse().expect("date");
    let saved_ns = saved
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let latency_ms = (refused_ns.saturating_sub(saved_ns)) as f64 / 1e6;
    eprintln!("reload latency, file saved → running preloaded shell refused: {latency_ms:.1} ms");
    assert!(latency_ms < 3000.0, "{latency_ms} ms");
    let st = d.status();
    assert!(st["snapshot"]["generation"].as_u64().unwrap() > g0);
    assert_eq!(st["last_reload"]["trigger"], "watch");
    let rec = w.records_for("probe-");
    assert!(
        rec.iter()
            .any(|r| r["decision"] == "deny" && r["policies"][0] == "new-rule"),
        "{rec:?}"
    );

    // A broken file: the last good snapshot stays, the error is reported.
    let good = st["snapshot"]["generation"].as_u64().unwrap();
    w.save_policy(
        "test.yaml",
        &stricter.replace("action: deny", "action: denny"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let st = loop {
        let st = d.status();
        if st["last_reload"]["error"].is_object() {
            break st;
        }
        assert!(Instant::now() < deadline, "no reload error reported: {st}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(st["snapshot"]["generation"].as_u64(), Some(good));
    let e = &st["last_reload"]["error"];
    assert!(e["file"].as_str().unwrap().ends_with("test.yaml"), "{e}");
    assert!(
        e["line"].as_u64().unwrap() > 1 && e["column"].as_u64().unwrap() >= 1,
        "{e}"
    );
    assert_eq!(e["suggestion"], "deny", "{e}");
    assert!(
        d.log().contains("keeping the last good snapshot"),
        "{}",
        d.log()
    );
    let out = run(w.bash("touch probe-after-break"), 30);
    assert!(
        !exists(&w.marker("probe-after-break")),
        "still the last good rule: {}",
        stderr(&out)
    );

    // `rampart serve --reload` and `rampart status` say the same.
    let out = rampart(&w, &["serve", "--reload"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("test.yaml:"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did you mean `deny`"),
        "{}",
        stderr(&out)
    );
    let out = rampart(&w, &["status"]);
    assert!(
        stdout(&out).contains("last reload: error"),
        "{}",
        stdout(&out)
    );

    // Fixed again: `serve --reload` reports the generation.
    w.save_policy("test.yaml", POLICY);
    let out = rampart(&w, &["serve", "--reload"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("reloaded: generation "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn sighup_and_the_api_reload_too() {
    let (w, d) = served("serve-hup");
    let g0 = d.status()["snapshot"]["generation"].as_u64().unwrap();
    // Written in place, straight into the file (no rename), then SIGHUP.
    let path = w.rampart_home.join("policies/test.yaml");
    std::fs::write(&path, format!("{POLICY}\n# edited\n")).unwrap();
    d.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.status()["snapshot"]["generation"].as_u64().unwrap() == g0 {
        assert!(Instant::now() < deadline, "no reload: {}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = d.api("POST", "/v1/policy/reload", "");
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    assert!(v["generation"].as_u64().unwrap() > g0);
    assert!(
        v["duration_ms"].as_f64().is_some() && v["policies"] == 2 && v["rules"] == 2,
        "{v}"
    );
}

fn approve_via_cli(w: &World, verb: &str, id: &str) -> Output {
    rampart(w, &[verb, id])
}

#[test]
fn an_ask_waits_until_rampart_approve_or_deny() {
    let (w, d) = served("serve-ask");
    let child = spawn_bash(&w, "touch ask-marker");
    let pending = d.wait_pending(1, 20);
    let id = pending[0]["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !exists(&w.marker("ask-marker")),
        "nothing runs before approval"
    );
    let out = rampart(&w, &["pending"]);
    assert!(
        stdout(&out).contains(&id) && stdout(&out).contains("touch ask-marker"),
        "{}",
        stdout(&out)
    );
    let out = approve_via_cli(&w, "approve", &id);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let done = finish(child, 20);
    assert!(done.status.success(), "{}", stderr(&done));
    assert!(exists(&w.marker("ask-marker")));
    assert_eq!(
        d.uds("GET", &format!("/v1/approvals/{id}"), "").json()["status"],
        "approved"
    );

    let child = spawn_bash(&w, "touch ask-marker-2");
    let id = d.wait_pending(1, 20)[0]["id"].as_str().unwrap().to_string();
    let out = approve_via_cli(&w, "deny", &id);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let done = finish(child, 20);
    assert!(!done.status.success());
    assert!(
        stderr(&done).contains("Operation not permitted"),
        "{}",
        stderr(&done)
    );
    assert!(!exists(&w.marker("ask-marker-2")));
    // Resolved once only; unknown ids are refused clearly.
    let out = approve_via_cli(&w, "approve", &id);
    assert_eq!(out.status.code(), Some(1));
    let out = approve_via_cli(&w, "approve", "ffffffff");
    assert!(
        stderr(&out).contains("no pending approval"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_approval_timeout_denies() {
    let (w, d) = served_with("serve-ask-timeout", &["--approval-timeout", "1s"]);
    let started = Instant::now();
    let out = run(w.bash("touch ask-marker"), 30);
    assert!(!exists(&w.marker("ask-marker")), "{}", stderr(&out));
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(w.records_for("ask-marker")[0]["approval"], "denied");
    assert!(d.pending().is_empty());
}

#[test]
fn a_daemon_killed_while_a_call_waits_denies_it_promptly() {
    let (w, mut d) = served("serve-ask-kill");
    let child = spawn_bash(&w, "touch ask-marker");
    d.wait_pending(1, 20);
    d.signal(libc::SIGKILL);
    d.wait_exit(10);
    let killed = Instant::now();
    let out = finish(child, 10);
    assert!(
        killed.elapsed() < Duration::from_secs(2),
        "{:?}",
        killed.elapsed()
    );
    assert!(!exists(&w.marker("ask-marker")), "{}", stderr(&out));
    assert!(stderr(&out).contains("not reachable"), "{}", stderr(&out));

    // A new daemon takes over the home (the kernel released the lock).
    let d2 = Daemon::start(&w, &[]);
    assert!(d2.pending().is_empty());
}

#[test]
fn a_caller_that_goes_away_withdraws_its_approval() {
    let (w, d) = served("serve-ask-gone");
    let mut child = spawn_bash(&w, "touch ask-marker");
    let id = d.wait_pending(1, 20)[0]["id"].as_str().unwrap().to_string();
    child.kill().expect("kill the waiting caller");
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !d.pending().is_empty() {
        assert!(Instant::now() < deadline, "still pending: {}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = approve_via_cli(&w, "approve", &id);
    assert_eq!(out.status.code(), Some(1));
    assert!(!exists(&w.marker("ask-marker")));
}

#[test]
fn sigterm_denies_waiting_calls_and_removes_the_socket() {
    let (w, mut d) = served("serve-ask-term");
    let child = spawn_bash(&w, "touch ask-marker");
    d.wait_pending(1, 20);
    d.signal(libc::SIGTERM);
    let out = finish(child, 10);
    assert!(!exists(&w.marker("ask-marker")), "{}", stderr(&out));
    assert_eq!(w.records_for("ask-marker")[0]["approval"], "denied");
    assert!(d.wait_exit(10).success());
    assert!(!d.sock.exists(), "socket removed");
}

#[test]
fn fifty_waiting_calls_resolve_independently() {
    let (w, d) = served("serve-ask-fifty");
    let children: Vec<Child> = (0..50)
        .map(|i| spawn_bash(&w, &format!("touch ask-marker-{i}")))
        .collect();
    let pending = d.wait_pending(50, 60);
    for a in &pending {
        let cmd = a["command"].as_str().unwrap();
        let i: usize = cmd.rsplit('-').next().unwrap().parse().unwrap();
        let body = format!(
            r#"{{"approved": {}, "resolved_by": "test"}}"#,
            i.is_multiple_of(2)
        );
        let r = d.uds(
            "POST",
            &format!("/v1/approvals/{}/resolve", a["id"].as_str().unwrap()),
            &body,
        );
        assert_eq!(r.status, 200, "{r:?}");
    }
    for (i, c) in children.into_iter().enumerate() {
        let out = finish(c, 30);
        assert_eq!(
            out.status.success(),
            i.is_multiple_of(2),
            "call {i}: {}",
            stderr(&out)
        );
        assert_eq!(
            exists(&w.marker(&format!("ask-marker-{i}"))),
            i.is_multiple_of(2),
            "call {i}"
        );
    }
    assert!(d.pending().is_empty());
}

#[test]
fn a_second_daemon_on_the_same_home_is_refused_with_the_first_ones_pid() {
    let (w, d) = served("serve-twice");
    let out = rampart(&w, &["serve", "--port", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!("another rampart serve (pid {}) holds", d.pid);
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    assert_eq!(
        d.uds("GET", "/healthz", "").status,
        200,
        "the first one is unharmed"
    );
}

#[test]
fn rampart_status_works_with_and_without_a_daemon() {
    let w = World::new("serve-status");
    let out = rampart(&w, &["status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["daemon"]["running"], false);
    assert_eq!(v["snapshot"]["generation"], 1, "{v}");
    assert_eq!(v["spool"]["lines"], 0);
    run(w.bash("/bin/true"), 30);
    let out = rampart(&w, &["status"]);
    assert!(stdout(&out).contains("not running"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("spool:       1 records"),
        "{}",
        stdout(&out)
    );

    w.save_policy("test.yaml", POLICY);
    let d = Daemon::start(&w, &["--mode", "monitor"]);
    let out = rampart(&w, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["daemon"]["running"], true);
    assert_eq!(v["daemon"]["pid"], d.pid);
    assert_eq!(v["mode"], "monitor");
    assert_eq!(
        v["snapshot"]["generation"], 2,
        "the next generation after the world's: {v}"
    );
    assert_eq!(v["last_reload"]["ok"], true);
    let out = rampart(&w, &["pending"]);
    assert!(
        stdout(&out).contains("nothing is waiting"),
        "{}",
        stdout(&out)
    );
    drop(d);
    let out = rampart(&w, &["pending"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no daemon is running"),
        "{}",
        stderr(&out)
    );
}

/// Read server-sent events from the socket until `want` has been seen
/// (bounded).
pub fn read_events_until(stream: &mut UnixStream, want: &[&str], secs: u64) -> String {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = String::new();
    let mut buf = [0u8; 8192];
    while !want.iter().all(|w| seen.contains(w)) {
        assert!(Instant::now() < deadline, "events so far: {seen}");
        if let Ok(n) = stream.read(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    seen
}

#[test]
fn the_event_stream_and_metrics_report_decisions_approvals_and_reloads() {
    let (w, d) = served("serve-events");
    let mut sse = UnixStream::connect(&d.sock).unwrap();
    sse.write_all(&request("GET", "/v1/events/stream", &[], ""))
        .unwrap();
    read_events_until(&mut sse, &["event: hello"], 10);
    d.uds(
        "POST",
        "/v1/preflight/exec",
        r#"{"params": {"command": "touch blocked-marker"}}"#,
    );
    let child = spawn_bash(&w, "touch ask-marker");
    let id = d.wait_pending(1, 20)[0]["id"].as_str().unwrap().to_string();
    d.uds(
        "POST",
        &format!("/v1/approvals/{id}/resolve"),
        r#"{"approved": false, "resolved_by": "test"}"#,
    );
    finish(child, 20);
    d.uds("POST", "/v1/policy/reload", "");
    let seen = read_events_until(
        &mut sse,
        &[
            "event: decision",
            "event: approval.created",
            "event: approval.resolved",
            "event: reload",
        ],
        10,
    );
    assert!(seen.contains("\"policy\":\"test-deny\""), "{seen}");
    // The API's decision carries its audit record's time, seq, id and pid
    // (the daemon's), as a library decision does.
    let api = seen
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["source"] == "preflight")
        .unwrap_or_else(|| panic!("no API decision: {seen}"));
    assert_eq!(api["pid"].as_u64(), Some(u64::from(d.pid)), "{api}");
    let rec = w
        .records_for("blocked-marker")
        .into_iter()
        .find(|r| r["source"] == "api")
        .expect("the API decision's audit record");
    for k in ["time", "seq", "id", "pid", "decision", "command"] {
        assert!(!api[k].is_null(), "{k} missing: {api}");
        assert_eq!(api[k], rec[k], "{k}: {api} vs {rec}");
    }
    assert!(
        !seen.contains(&d.token),
        "the token never appears in the stream"
    );

    let m = d.api("GET", "/metrics", "");
    assert_eq!(m.status, 200);
    assert!(
        m.head
            .to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{}",
        m.head
    );
    for line in [
        "rampart_decisions_total{action=\"deny\",policy=\"test-deny\"} 1",
        "rampart_eval_duration_seconds_count 1",
        "rampart_pending_approvals 0",
        "rampart_approvals_total{outcome=\"denied\"} 1",
        "rampart_policy_reloads_total 2",
        "rampart_policy_reload_failures_total 0",
    ] {
        assert!(m.body.contains(line), "{line} missing from\n{}", m.body);
    }
}

#[test]
fn serve_install_writes_a_user_unit_once_and_never_touches_a_foreign_one() {
    let w = World::new("serve-install");
    // No systemctl on PATH: the commands are printed, not run.
    let svc = |args: &[&str]| {
        let mut c = w.daemon_cmd();
        c.args(args)
            .env("PATH", "/nonexistent")
            .env_remove("XDG_CONFIG_HOME");
        run(c, 30)
    };
    let unit = w.home.join(".config/systemd/user/rampart.service");
    let out = svc(&["serve", "install", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("ExecStart="), "{}", stdout(&out));
    assert!(!unit.exists(), "a dry run writes nothing");

    let out = svc(&["serve", "install"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("systemctl --user enable --now rampart.service"),
        "{}",
        stdout(&out)
    );
    let text = std::fs::read_to_string(&unit).expect("unit written");
    assert!(
        text.contains(" serve\n") && text.contains("RAMPART_HOME="),
        "{text}"
    );
    let out = svc(&["serve", "install"]);
    assert!(
        stdout(&out).contains("already installed"),
        "{}",
        stdout(&out)
    );
    let out = svc(&["serve", "uninstall"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!unit.exists());

    std::fs::write(&unit, "[Service]\nExecStart=/usr/bin/mine\n").unwrap();
    let out = svc(&["serve", "install"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not written by rampart"),
        "{}",
        stderr(&out)
    );
    let out = svc(&["serve", "uninstall"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(&unit).unwrap(),
        "[Service]\nExecStart=/usr/bin/mine\n"
    );
}

#[test]
fn the_daemon_ingests_library_decisions_and_audits_api_decisions_into_one_chain() {
    let (w, d) = served("serve-audit");
    // A decision made in-process by the library…
    let out = finish(spawn_bash(&w, "touch blocked-marker; touch ok-marker"), 30);
    assert!(
        !w.marker("blocked-marker").exists(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // …and one through the API, with a secret that must not be written.
    let body = r#"{"agent": "api-test", "params": {"command": "curl -H 'Authorization: Bearer abcdef0123456789' https://x"}}"#;
    assert_eq!(d.uds("POST", "/v1/preflight/exec", body).status, 200);
    // The library's record reaches the log within a second or so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut log = String::new();
    while std::time::Instant::now() < deadline {
        log = std::fs::read_dir(w.rampart_home.join("audit"))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect::<String>()
            })
            .unwrap_or_default();
        if log.contains("touch blocked-marker") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        log.contains("touch blocked-marker"),
        "library decision not ingested:\n{log}"
    );
    assert!(
        log.contains("\"source\":\"api\"") && log.contains("api-test"),
        "API decision not audited:\n{log}"
    );
    assert!(
        !log.contains("abcdef0123456789"),
        "a bearer token reached the audit log:\n{log}"
    );
    let verify = rampart(&w, &["audit", "verify"]);
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
