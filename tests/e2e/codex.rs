//! The real Codex CLI (`@openai/codex`, pinned in tests/codex/install.sh)
//! under the real library and a real daemon, and `rampart setup codex`.
//!
//! Codex's Linux binary is a static-pie musl executable: the library cannot
//! load into `codex` itself, only into what it starts (its `bash`, and
//! everything after). These tests prove that this is enough:
//!
//! - inside Codex's own sandbox (`codex sandbox`), where `socket()` fails
//!   with EPERM and `/` and `/tmp` are mounted read-only, a denied command is
//!   blocked from the mapped snapshot alone, and what reaches the audit from
//!   in there is pinned down;
//! - in a real agent turn (`codex exec` against a mock model server written
//!   here, speaking the Responses API), run through the wrapper that
//!   `rampart setup codex` writes, the model's dangerous shell call is
//!   blocked, the block message goes back to the model, its harmless call
//!   runs, and the audit shows both with agent `codex`.
//!
//! The Codex CLI is installed on first use into `~/.cache/rampart-ci`
//! (tests/codex/install.sh, which .ci/run also calls). The tests skip, loudly,
//! only when it cannot be installed because npm is missing or the registry is
//! unreachable, and never when `RAMPART_REQUIRE_CODEX=1` (CI sets it).

use crate::daemon::{Daemon, rampart_bin};
use crate::harness::{World, library, run, stderr, stdout, workspace};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The pinned Codex CLI's `codex` command (the npm launcher), installed on
/// first use; `None` (after a loud message) when it cannot be installed.
fn codex_cli() -> Option<PathBuf> {
    static CLI: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let got = CLI.get_or_init(|| {
        let out = Command::new("bash")
            .arg(workspace().join("tests/codex/install.sh"))
            .env_remove("LD_PRELOAD")
            .output()
            .map_err(|e| format!("cannot run tests/codex/install.sh: {e}"))?;
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
            return Ok(PathBuf::from(path));
        }
        // Exit 3: no npm. Network errors: npm's own codes.
        let unreachable = out.status.code() == Some(3)
            || [
                "ENOTFOUND",
                "EAI_AGAIN",
                "ECONNREFUSED",
                "ECONNRESET",
                "ETIMEDOUT",
                "ENETUNREACH",
            ]
            .iter()
            .any(|c| err.contains(c));
        if unreachable && std::env::var_os("RAMPART_REQUIRE_CODEX").is_none() {
            Err(err)
        } else {
            panic!("installing the Codex CLI failed ({}):\n{err}", out.status);
        }
    });
    match got {
        Ok(p) => Some(p.clone()),
        Err(why) => {
            // Straight to the descriptor: the test harness captures
            // `eprintln!` of passing tests, and this must be seen.
            let _ = std::io::stderr().write_all(
                format!(
                    "\n!!! SKIPPED: the Codex CLI cannot be installed (npm missing or registry \
                     unreachable); set RAMPART_REQUIRE_CODEX=1 to make this a failure.\n{why}\n"
                )
                .as_bytes(),
            );
            None
        }
    }
}

/// The native binary inside the npm package (what the launcher execs).
fn native_codex(launcher: &Path) -> PathBuf {
    let triple = if cfg!(target_arch = "aarch64") {
        "aarch64-unknown-linux-musl"
    } else {
        "x86_64-unknown-linux-musl"
    };
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x64"
    };
    let node_modules = launcher
        .parent()
        .and_then(Path::parent)
        .expect("node_modules/.bin/codex");
    let p = node_modules
        .join(format!("@openai/codex-linux-{arch}/vendor"))
        .join(triple)
        .join("bin/codex");
    assert!(p.is_file(), "{} is missing", p.display());
    p
}

/// `rampart ARGS…` (not preloaded) in this world, with `path` as PATH.
fn rampart(w: &World, path: &str, args: &[&str]) -> Output {
    let mut c = w.daemon_cmd();
    c.args(args).env("PATH", path).env("RAMPART_LIB", library());
    run(c, 60)
}

/// Codex's own settings in this world: its home outside the user's home
/// (the agent test deletes that), no network but the mock.
fn codex_env(c: &mut Command, w: &World) {
    let codex_home = w.dir.join("codex-home");
    std::fs::create_dir_all(&codex_home).expect("mkdir codex home");
    // The library takes the home directory from the password database
    // unless told: this world's home stands in for it.
    c.env("HOME", &w.home)
        .env("RAMPART_USER_HOME", &w.home)
        .env("CODEX_HOME", codex_home)
        .env("RAMPART_HOME", &w.rampart_home)
        .env("RAMPART_LIB", library())
        .env("NO_COLOR", "1")
        .env_remove("LD_PRELOAD")
        .env_remove("RAMPART_AGENT")
        .env_remove("RAMPART_MODE")
        .env_remove("OPENAI_API_KEY");
}

/// Decisions in the audit chain (ingested, not pending) with agent `codex`
/// whose command contains `needle`, waited for (bounded).
fn audited(w: &World, needle: &str, want: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = rampart(
            w,
            "/usr/bin:/bin",
            &["audit", "search", needle, "--agent", "codex", "--json"],
        );
        assert!(out.status.success(), "audit search: {}", stderr(&out));
        let found: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit search --json line"))
            .filter(|r: &serde_json::Value| r.get("pending").is_none())
            .collect();
        if found.len() >= want || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_codex_binary_is_static_and_doctor_says_the_library_only_reaches_what_it_starts() {
    let Some(launcher) = codex_cli() else { return };
    let native = native_codex(&launcher);
    let w = World::new("codex-doctor");
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        launcher.parent().unwrap().display()
    );
    let out = rampart(&w, &path, &["doctor", &native.to_string_lossy(), "codex"]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "{} is statically linked: the library cannot load into it, only into the dynamic programs it starts",
            native.display()
        )),
        "{text}"
    );
    // What users type: the npm launcher, a node script; node is dynamic.
    assert!(
        text.contains("is a script run by /usr/bin/env node"),
        "{text}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a static program is a FAIL: {text}"
    );
}

/// A policy for the sandbox test: a victim directory that must survive,
/// and an `ask` rule (the daemon cannot be reached from the sandbox).
const SANDBOX_POLICY: &str = r#"
version: "1"
default_action: allow
policies:
  - name: protect-victim
    priority: 10
    rules:
      - action: deny
        when: { command_matches: ["rm -rf *victim*"] }
        message: "the victim directory is protected"
  - name: ask-first
    priority: 20
    rules:
      - action: ask
        when: { command_matches: ["touch *ask-marker*"] }
        message: "needs a human"
"#;

/// `rampart preload --agent codex -- codex sandbox … -- bash -c SCRIPT` in
/// `cwd` (the sandbox's only writable root, with /tmp and $TMPDIR excluded),
/// plus `extra` sandbox settings.
fn in_codex_sandbox(
    w: &World,
    native: &Path,
    cwd: &Path,
    extra: &[String],
    script: &str,
) -> Output {
    let mut c = Command::new(rampart_bin());
    c.args(["preload", "--agent", "codex", "--"])
        .arg(native)
        .args(["sandbox", "-c", "sandbox_mode=\"workspace-write\""])
        .args(["-c", "sandbox_workspace_write.exclude_slash_tmp=true"])
        .args(["-c", "sandbox_workspace_write.exclude_tmpdir_env_var=true"]);
    for e in extra {
        c.args(["-c", e]);
    }
    c.args(["--", "bash", "-c", script])
        .current_dir(cwd)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin");
    codex_env(&mut c, w);
    run(c, 120)
}

/// The script run inside the sandbox: a denied command, an `ask`, an
/// allowed command, then probes of the sandbox itself (network, the
/// read-only RAMPART_HOME and /tmp) so the test shows it really was in force.
const SANDBOX_SCRIPT: &str = r#"
rm -rf victim; echo "rm exit $?"
touch ask-marker; echo "ask exit $?"
touch allowed-marker
(exec 3<>/dev/tcp/127.0.0.1/9) 2>&1 | head -1
touch "$RAMPART_HOME/probe" 2>&1
touch /tmp/rampart-codex-sandbox-probe 2>&1
true
"#;

fn sandbox_dir(w: &World, name: &str) -> PathBuf {
    let d = w.work.join(name);
    std::fs::create_dir_all(d.join("victim")).expect("mkdir victim");
    std::fs::write(d.join("victim/keep.txt"), "keep").expect("write victim");
    d
}

#[test]
fn inside_codex_sandbox_a_denied_command_is_blocked_from_the_mapped_snapshot_alone() {
    let Some(launcher) = codex_cli() else { return };
    let native = native_codex(&launcher);
    let w = World::with_policy("codex-sandbox", SANDBOX_POLICY);
    w.save_policy("test.yaml", SANDBOX_POLICY);
    let _d = Daemon::start(&w, &[]);

    // 1. The sandbox as Codex sets it up: RAMPART_HOME (under /tmp) is
    // read-only in there, sockets fail.
    let dir = sandbox_dir(&w, "plain");
    let out = in_codex_sandbox(&w, &native, &dir, &[], SANDBOX_SCRIPT);
    let (so, se) = (stdout(&out), stderr(&out));
    let both = format!("stdout:\n{so}\nstderr:\n{se}");
    assert!(out.status.success(), "{both}");
    assert!(
        se.contains("is statically linked"),
        "preload warns about codex: {both}"
    );
    // The sandbox was in force.
    assert!(so.contains("socket: Operation not permitted"), "{both}");
    assert!(
        so.contains(&format!(
            "cannot touch '{}/probe': Read-only file system",
            w.rampart_home.display()
        )),
        "{both}"
    );
    assert!(
        so.contains("cannot touch '/tmp/rampart-codex-sandbox-probe': Read-only file system"),
        "{both}"
    );
    // The denied command did not run; the allowed one did.
    assert!(
        dir.join("victim/keep.txt").is_file(),
        "victim deleted: {both}"
    );
    assert!(se.contains("rampart: blocked /usr/bin/rm -rf victim — the victim directory is protected [protect-victim]"), "{both}");
    assert!(so.contains("rm exit 126"), "{both}");
    assert!(
        dir.join("allowed-marker").is_file(),
        "allowed command did not run: {both}"
    );
    // `ask` needs the daemon, which the sandbox cannot reach: denied.
    assert!(!dir.join("ask-marker").exists(), "{both}");
    assert!(
        se.contains("needs approval, and rampart serve is not reachable"),
        "{both}"
    );
    // Enforced, but nothing reached the audit: the spool is read-only in
    // there (the library goes on without it). The write fails before the
    // exec, so there is nothing to wait for.
    for needle in ["victim", "allowed-marker", "ask-marker"] {
        let seen = w.records_for(needle);
        assert!(seen.is_empty(), "{needle}: {seen:?}");
    }

    // 2. With the spool added to the sandbox's writable roots, every
    // decision made in there reaches the audit.
    let dir = sandbox_dir(&w, "recorded");
    let spool = w.rampart_home.join("spool");
    std::fs::create_dir_all(&spool).expect("mkdir spool");
    let roots = format!(
        "sandbox_workspace_write.writable_roots=[\"{}\"]",
        spool.display()
    );
    let out = in_codex_sandbox(&w, &native, &dir, &[roots], SANDBOX_SCRIPT);
    let both = format!("stdout:\n{}\nstderr:\n{}", stdout(&out), stderr(&out));
    assert!(dir.join("victim/keep.txt").is_file(), "{both}");
    assert!(dir.join("allowed-marker").is_file(), "{both}");
    let denied = audited(&w, "rm -rf victim", 1);
    assert_eq!(denied.len(), 1, "{denied:?}\n{both}");
    assert_eq!(denied[0]["decision"], "deny");
    assert_eq!(denied[0]["outcome"], "blocked");
    assert_eq!(denied[0]["cwd"], dir.to_string_lossy().as_ref());
    let allowed = audited(&w, "touch allowed-marker", 1);
    assert_eq!(allowed.len(), 1, "{allowed:?}");
    assert_eq!(allowed[0]["outcome"], "allowed");
    let asked = audited(&w, "touch ask-marker", 1);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["approval"], "unreachable");
    assert_eq!(asked[0]["outcome"], "blocked");
}

/// A model at 127.0.0.1 that speaks the streaming Responses API the way
/// Codex reads it: for each request it answers with the next shell call
/// (`exec_command`) of its script, then with a final message. Which answer
/// is given depends on how many tool outputs the request carries, so a
/// retried request gets the same answer.
struct MockModel {
    port: u16,
    requests: Arc<Mutex<Vec<serde_json::Value>>>,
    stop: Arc<AtomicBool>,
}

impl MockModel {
    fn start(calls: Vec<String>) -> MockModel {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock model");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, done) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(s) = conn {
                    serve_one(s, &calls, &seen);
                }
            }
        });
        MockModel {
            port,
            requests,
            stop,
        }
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for MockModel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Read one request (headers, Content-Length body), answer it, close.
fn serve_one(s: TcpStream, calls: &[String], seen: &Mutex<Vec<serde_json::Value>>) {
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut r = BufReader::new(&s);
    let mut request_line = String::new();
    if r.read_line(&mut request_line).is_err() {
        return;
    }
    let mut len = 0;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let mut w = &s;
    if !request_line.starts_with("POST ") || !request_line.contains("/responses") {
        let _ = w
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(
        |e| serde_json::json!({"unparsed": String::from_utf8_lossy(&body), "error": e.to_string()}),
    );
    let outputs = req["input"].as_array().map_or(0, |items| {
        items
            .iter()
            .filter(|i| i["type"] == "function_call_output")
            .count()
    });
    seen.lock().expect("lock").push(req);
    let n = outputs + 1;
    let item = match calls.get(outputs) {
        Some(cmd) => serde_json::json!({
            "type": "function_call",
            "id": format!("fc-{n}"),
            "call_id": format!("call-{n}"),
            "name": "exec_command",
            "arguments": serde_json::json!({"cmd": cmd}).to_string(),
        }),
        None => serde_json::json!({
            "type": "message",
            "role": "assistant",
            "id": format!("msg-{n}"),
            "content": [{"type": "output_text", "text": "done"}],
        }),
    };
    let usage = serde_json::json!({"input_tokens": 1, "input_tokens_details": null,
        "output_tokens": 1, "output_tokens_details": null, "total_tokens": 2});
    let events = [
        (
            "response.created",
            serde_json::json!({"response": {"id": format!("resp-{n}")}}),
        ),
        (
            "response.output_item.done",
            serde_json::json!({"item": item}),
        ),
        (
            "response.completed",
            serde_json::json!({"response": {"id": format!("resp-{n}"), "usage": usage}}),
        ),
    ];
    let mut sse = String::from(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
    );
    for (kind, mut data) in events {
        data["type"] = kind.into();
        sse.push_str(&format!("event: {kind}\ndata: {data}\n\n"));
    }
    let _ = w.write_all(sse.as_bytes());
    let _ = w.flush();
}

/// `codex exec` (found on `path`) against the mock model, in Codex's
/// workspace-write sandbox, approvals never asked.
fn codex_exec(w: &World, program: &str, path: &str, mock: &MockModel) -> Output {
    let mut c = Command::new(program);
    c.args([
        "exec",
        "--skip-git-repo-check",
        "--sandbox",
        "workspace-write",
    ])
    .args(["--disable", "plugins", "--disable", "remote_plugin"])
    .args(["-c", "approval_policy=\"never\""])
    .args(["-c", "model=\"gpt-5\"", "-c", "model_provider=\"mock\""])
    .args(["-c", "model_providers.mock.name=\"mock\""])
    .args([
        "-c",
        &format!(
            "model_providers.mock.base_url=\"http://127.0.0.1:{}/v1\"",
            mock.port
        ),
    ])
    .args(["-c", "model_providers.mock.wire_api=\"responses\""])
    .args([
        "-c",
        "model_providers.mock.env_key=\"RAMPART_TEST_MODEL_KEY\"",
    ])
    .arg("Clean up this machine.")
    .current_dir(&w.work)
    .env("PATH", path)
    .env("RAMPART_TEST_MODEL_KEY", "not-a-real-key");
    codex_env(&mut c, w);
    run(c, 180)
}

#[test]
fn a_codex_agent_turn_through_the_setup_wrapper_is_blocked_and_the_model_is_told() {
    let Some(launcher) = codex_cli() else { return };
    let w = World::new("codex-turn");
    // The default policy, served by a real daemon.
    let standard = std::fs::read_to_string(workspace().join("policies/standard.yaml"))
        .expect("default policy");
    w.save_policy("standard.yaml", &standard);
    let _d = Daemon::start(&w, &[]);

    // `rampart setup codex` with ~/.local/bin first on PATH.
    let bin = w.home.join(".local/bin");
    let npm_bin = launcher.parent().expect(".bin");
    let path = format!(
        "{}:{}:/usr/local/bin:/usr/bin:/bin",
        bin.display(),
        npm_bin.display()
    );
    let out = rampart(&w, &path, &["setup", "codex"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).is_empty(),
        "no PATH warning expected: {}",
        stderr(&out)
    );
    let which = run(
        {
            let mut c = Command::new("bash");
            c.args(["-c", "command -v codex"]).env("PATH", &path);
            c
        },
        10,
    );
    assert_eq!(
        stdout(&which).trim(),
        bin.join("codex").to_string_lossy(),
        "the wrapper wins"
    );

    // The model first asks to delete the home directory, then for a
    // harmless command. (An absolute path, not `~`: whatever happens, only
    // this test's directory is at stake.)
    let dangerous = format!("find {} -delete", w.home.display());
    let calls = vec![dangerous.clone(), "touch harmless-marker".to_string()];
    let mock = MockModel::start(calls.clone());
    let out = codex_exec(&w, "codex", &path, &mock);
    let both = format!("stdout:\n{}\nstderr:\n{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{both}");

    // Blocked, and harmless ran.
    assert!(w.home_intact(), "the home directory was deleted: {both}");
    assert!(
        w.marker("harmless-marker").is_file(),
        "the harmless command did not run: {both}"
    );

    // The model saw the block message in the output of its first call.
    let requests = mock.requests();
    assert!(requests.len() >= 3, "{} requests: {both}", requests.len());
    let output_of = |call: &str| -> String {
        requests
            .iter()
            .flat_map(|r| r["input"].as_array().cloned().unwrap_or_default())
            .find(|i| i["type"] == "function_call_output" && i["call_id"] == call)
            .and_then(|i| i["output"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("no output for {call} in the requests: {requests:?}"))
    };
    let first = output_of("call-1");
    assert!(first.contains("rampart: blocked"), "{first}");
    assert!(first.contains(&dangerous), "{first}");
    assert!(first.contains("[destructive-delete]"), "{first}");
    assert!(!output_of("call-2").contains("rampart: blocked"));

    // The audit chain holds both decisions, with agent codex.
    let denied = audited(&w, &dangerous, 1);
    assert!(
        denied
            .iter()
            .any(|r| r["decision"] == "deny" && r["outcome"] == "blocked" && r["agent"] == "codex"),
        "{denied:?}"
    );
    let allowed = audited(&w, "touch harmless-marker", 1);
    assert!(
        allowed.iter().any(|r| r["decision"] == "allow"
            && r["outcome"] == "allowed"
            && r["agent"] == "codex"),
        "{allowed:?}"
    );
    let verify = rampart(&w, "/usr/bin:/bin", &["audit", "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));

    // The same turn without rampart really deletes the home: the block
    // above is rampart's doing, not Codex's or the sandbox's.
    let mock = MockModel::start(calls);
    let out = codex_exec(
        &w,
        &launcher.to_string_lossy(),
        "/usr/local/bin:/usr/bin:/bin",
        &mock,
    );
    assert!(
        !w.home.exists(),
        "without rampart the home survives?\n{}",
        stderr(&out)
    );
}

/// A stand-in for the real codex: prints what it was started with, then
/// tries a command the world's policy denies.
const FAKE_CODEX: &str = "#!/bin/sh\n\
    echo \"fake codex: agent=$RAMPART_AGENT args=$*\"\n\
    case \"$LD_PRELOAD\" in *librampart*) echo preloaded;; esac\n\
    touch blocked-marker\n";

#[test]
fn setup_codex_writes_one_wrapper_finds_the_real_codex_and_never_clobbers_a_foreign_file() {
    let w = World::new("setup-codex");
    // What `rampart preload` compiles when no daemon runs.
    w.save_policy("test.yaml", crate::harness::POLICY);
    let real = w.dir.join("npm/bin/codex");
    let older = w.dir.join("old/bin/codex");
    for (p, text) in [(&real, FAKE_CODEX.to_string()), (&older, String::new())] {
        std::fs::create_dir_all(p.parent().unwrap()).expect("mkdir");
        std::fs::write(p, text).expect("write");
        let exe = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(p, exe).expect("chmod");
    }
    let bin = w.home.join(".local/bin");
    let wrapper = bin.join("codex");
    let dirs = |first: &[&Path]| -> String {
        let mut v: Vec<String> = first.iter().map(|p| p.display().to_string()).collect();
        v.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(String::from));
        v.join(":")
    };
    let (old_dir, real_dir) = (older.parent().unwrap(), real.parent().unwrap());
    let path = dirs(&[&bin, old_dir, real_dir]);

    // An earlier wrapper (written under another HOME) sits before the real one.
    let out = rampart(&w, &dirs(&[real_dir]), &["setup", "codex", "--print"]);
    std::fs::write(&older, stdout(&out)).expect("old wrapper");
    assert!(!wrapper.exists(), "--print writes nothing");

    let out = rampart(&w, &path, &["setup", "codex"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("wrote {}", wrapper.display())),
        "{}",
        stdout(&out)
    );
    let text = std::fs::read_to_string(&wrapper).expect("wrapper");
    assert!(
        text.contains(&format!("-- '{}' \"$@\"", real.display())),
        "{text}"
    );
    let out = rampart(&w, &path, &["setup", "codex"]);
    assert!(
        stdout(&out).contains("already up to date"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read_to_string(&wrapper).expect("wrapper"), text);

    // Typing `codex` now runs the real one under the library, agent codex.
    let mut c = Command::new("codex");
    c.args(["exec", "hello"])
        .current_dir(&w.work)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", &w.home)
        .env("RAMPART_HOME", &w.rampart_home)
        .env("RAMPART_LIB", library());
    let out = run(c, 60);
    let so = stdout(&out);
    assert!(
        so.contains("fake codex: agent=codex args=exec hello"),
        "{so}\n{}",
        stderr(&out)
    );
    assert!(so.contains("preloaded"), "{so}");
    assert!(
        stderr(&out).contains("rampart: blocked"),
        "{}",
        stderr(&out)
    );
    assert!(!w.marker("blocked-marker").exists());

    // ~/.local/bin after the real codex on PATH: a warning.
    let out = rampart(&w, &dirs(&[real_dir, &bin]), &["setup", "codex"]);
    assert!(stderr(&out).contains("comes after"), "{}", stderr(&out));

    // --remove deletes only its own wrapper.
    let out = rampart(&w, &path, &["setup", "codex", "--remove"]);
    assert!(
        out.status.success() && !wrapper.exists(),
        "{}",
        stderr(&out)
    );
    std::fs::write(&wrapper, "#!/bin/sh\necho mine\n").expect("foreign file");
    let out = rampart(&w, &path, &["setup", "codex", "--remove"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not written by rampart setup"),
        "{}",
        stderr(&out)
    );
    let out = rampart(&w, &path, &["setup", "codex"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&wrapper).expect("kept"),
        "#!/bin/sh\necho mine\n"
    );
    let out = rampart(&w, &path, &["setup", "codex", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&wrapper).expect("wrapper"), text);
    let backup = bin.join("codex.rampart-backup");
    assert_eq!(
        std::fs::read_to_string(backup).expect("backup"),
        "#!/bin/sh\necho mine\n"
    );
}
