//! The library against real programs. Every denial is checked by its
//! effect: the marker file a blocked command would create is absent, the
//! home directory it would delete is intact.

use crate::harness::*;

fn assert_blocked_and_allowed(w: &World, out: &std::process::Output) {
    assert!(
        !exists(&w.marker("blocked-marker")),
        "a denied command ran\nstderr: {}",
        stderr(out)
    );
    assert!(
        exists(&w.marker("ok-marker")),
        "an allowed command did not run\nstderr: {}",
        stderr(out)
    );
}

#[test]
fn bash_pipes_and_command_substitutions_are_decided_per_program() {
    let w = World::new("bash");
    let out = run(
        w.bash("echo $(touch blocked-marker; echo x) | cat > /dev/null; touch ok-marker"),
        30,
    );
    assert_blocked_and_allowed(&w, &out);
    assert!(
        stderr(&out).contains(
            "rampart: blocked /usr/bin/touch blocked-marker — test policy says no [test-deny]"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sh_scripts_are_decided() {
    let w = World::new("sh");
    let mut c = w.cmd("sh");
    c.arg("-c").arg("touch blocked-marker; touch ok-marker");
    let out = run(c, 30);
    assert_blocked_and_allowed(&w, &out);
}

#[test]
fn a_denied_exec_fails_with_eperm_in_the_caller() {
    let w = World::new("eperm");
    let out = run(w.bash("touch blocked-marker; echo rc=$?"), 30);
    assert!(
        stdout(&out).contains("rc=126"),
        "bash reports a non-executable: {}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn python_subprocess_system_popen_execv_and_multiprocessing_are_decided() {
    let w = World::new("python");
    let script = r#"
import os, subprocess, multiprocessing, sys
try:
    subprocess.run(["touch", "blocked-marker"])           # vfork/posix_spawn path
    print("subprocess ran")
except PermissionError:
    print("subprocess PermissionError")
print("system", os.system("touch blocked-marker"))
try:
    print("popen", os.popen("touch blocked-marker; echo done").read().strip())
except PermissionError:
    print("popen PermissionError")
def child():
    try: subprocess.run(["touch", "blocked-marker"])
    except PermissionError: pass
    subprocess.run(["touch", "ok-marker"])
if __name__ == "__main__":
    p = multiprocessing.get_context("fork").Process(target=child); p.start(); p.join()
    pid = os.fork()
    if pid == 0:
        try:
            os.execv("/usr/bin/touch", ["touch", "blocked-marker"])
        except PermissionError:
            os._exit(42)
    _, st = os.waitpid(pid, 0)
    print("execv", os.waitstatus_to_exitcode(st))
"#;
    let mut c = w.cmd("python3");
    c.arg("-c").arg(script);
    let out = run(c, 60);
    assert!(out.status.success(), "{}", stderr(&out));
    let so = stdout(&out);
    assert!(so.contains("subprocess PermissionError"), "{so}");
    assert!(
        so.contains("system 32256"),
        "system() of a denied script reports status 126: {so}"
    );
    assert!(so.contains("popen PermissionError"), "{so}");
    assert!(
        so.contains("execv 42"),
        "os.execv raised PermissionError: {so}"
    );
    assert_blocked_and_allowed(&w, &out);
}

#[test]
fn perl_system_exec_and_backticks_are_decided() {
    let w = World::new("perl");
    let script = r#"
system("touch", "blocked-marker");
my $x = `touch blocked-marker 2>&1`;
system("touch ok-marker");
my $pid = fork();
if ($pid == 0) { exec("touch", "blocked-marker") or exit(42); }
waitpid($pid, 0);
print "exec-exit=", $? >> 8, "\n";
"#;
    let mut c = w.cmd("perl");
    c.arg("-e").arg(script);
    let out = run(c, 30);
    assert!(
        stdout(&out).contains("exec-exit=42"),
        "{} {}",
        stdout(&out),
        stderr(&out)
    );
    assert_blocked_and_allowed(&w, &out);
}

#[test]
fn node_child_process_exec_spawn_and_execfile_are_decided() {
    let w = World::new("node");
    let script = r#"
const cp = require("child_process");
const a = cp.spawnSync("touch", ["blocked-marker"]);
const b = cp.spawnSync("sh", ["-c", "touch blocked-marker"]);
let e1 = null;
try { cp.execFileSync("touch", ["blocked-marker"]); } catch (e) { e1 = e.code; }
let e2 = null;
try { cp.execSync("touch blocked-marker"); } catch (e) { e2 = e.code; }
cp.execFile("touch", ["ok-marker"], (e3) => {
  console.log(JSON.stringify({spawn: a.error ? a.error.code : a.status, sh: b.error ? b.error.code : b.status, execFile: e1, exec: e2, ok: !e3}));
});
"#;
    let mut c = w.cmd("node");
    c.arg("-e").arg(script);
    let out = run(c, 60);
    let so = stdout(&out);
    assert!(
        so.contains("\"spawn\":\"EPERM\"") && so.contains("\"execFile\":\"EPERM\""),
        "{so}\n{}",
        stderr(&out)
    );
    // `sh -c 'touch blocked-marker'` is refused at the shell: its script
    // has a denied segment.
    assert!(
        so.contains("\"sh\":\"EPERM\"")
            && so.contains("\"exec\":\"EPERM\"")
            && so.contains("\"ok\":true"),
        "{so}\n{}",
        stderr(&out)
    );
    assert_blocked_and_allowed(&w, &out);
}

#[test]
fn a_rust_program_using_std_process_command_is_decided() {
    let w = World::new("rust");
    let out = run(
        {
            let mut c = w.cmd(spawner());
            c.args(["command", "touch", "blocked-marker"]);
            c
        },
        30,
    );
    assert!(!out.status.success());
    let out2 = run(
        {
            let mut c = w.cmd(spawner());
            c.args(["command", "touch", "ok-marker"]);
            c
        },
        30,
    );
    assert!(out2.status.success(), "{}", stderr(&out2));
    assert_blocked_and_allowed(&w, &out);
}

#[test]
fn make_recipes_are_decided() {
    let w = World::new("make");
    w.write(
        "Makefile",
        "all:\n\t-touch blocked-marker\n\ttouch ok-marker\n",
    );
    let out = run(w.cmd("make"), 30);
    assert_blocked_and_allowed(&w, &out);
}

#[test]
fn xargs_and_find_exec_are_decided() {
    let w = World::new("xargs");
    w.write("seed", "");
    let out = run(w.bash("echo blocked-marker | xargs touch; find . -name seed -exec touch blocked-marker \\; ; echo ok-marker | xargs touch"), 30);
    assert_blocked_and_allowed(&w, &out);
    assert!(
        w.records_for("touch blocked-marker").len() >= 2,
        "both attempts recorded"
    );
}

#[test]
fn env_dash_i_does_not_shed_the_library() {
    let w = World::new("env-i");
    // The script's own exec is allowed; only the library inside the
    // grandchild can stop the touch it runs.
    w.write("inner.sh", "touch blocked-marker\ntouch ok-marker\n");
    let out = run(w.bash("env -i /bin/sh inner.sh"), 30);
    assert_blocked_and_allowed(&w, &out);
}

#[test]
fn a_hand_built_environment_without_the_library_gets_it_back() {
    let w = World::new("bare-env");
    w.write("inner.sh", "touch blocked-marker\ntouch ok-marker\n");
    let mut c = w.cmd(spawner());
    c.args(["execve-bare", "/bin/sh", "inner.sh"]);
    let out = run(c, 30);
    // The hand-built envp also tried RAMPART_MODE=disabled and an empty
    // LD_PRELOAD: both are overridden.
    assert_blocked_and_allowed(&w, &out);
}

#[test]
fn a_deny_five_levels_down_a_process_tree_holds() {
    let w = World::new("deep");
    w.write("l5.sh", "touch blocked-marker; touch ok-marker\n");
    for i in (1..5).rev() {
        w.write(&format!("l{i}.sh"), &format!("bash l{}.sh\n", i + 1));
    }
    let out = run(w.bash("bash l1.sh"), 30);
    assert_blocked_and_allowed(&w, &out);
    let rec = w.records_for("touch blocked-marker");
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0]["decision"], "deny");
    assert_eq!(rec[0]["outcome"], "blocked");
}

#[test]
fn thirty_two_threads_spawning_two_hundred_each_neither_deadlock_nor_lose_records() {
    let w = World::new("threads");
    let mut c = w.cmd(spawner());
    c.args(["threads", "32", "200", "/bin/true"]);
    let out = run(c, 240);
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out).trim(), "6400");
    let n = w
        .records()
        .iter()
        .filter(|r| r["command"] == "/bin/true")
        .count();
    assert_eq!(n, 6400, "every decision recorded");
}

#[test]
fn fork_from_a_multithreaded_process_then_exec_is_decided_without_deadlock() {
    let w = World::new("mt-fork");
    let script = r#"
import os, threading, time
stop = False
def spin():
    while not stop: pass
ts = [threading.Thread(target=spin) for _ in range(8)]
[t.start() for t in ts]
codes = []
for name in ["blocked-marker", "ok-marker"] * 5:
    pid = os.fork()
    if pid == 0:
        try: os.execv("/usr/bin/touch", ["touch", name])
        except PermissionError: os._exit(42)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
stop = True
[t.join() for t in ts]
print(codes)
"#;
    let mut c = w.cmd("python3");
    c.arg("-c").arg(script);
    let out = run(c, 60);
    assert_eq!(
        stdout(&out).trim(),
        "[42, 0, 42, 0, 42, 0, 42, 0, 42, 0]",
        "{}",
        stderr(&out)
    );
    assert_blocked_and_allowed(&w, &out);
}

#[test]
fn every_exec_entry_point_is_hooked() {
    let w = World::new("entries");
    for mode in ["execl", "execlp", "execle"] {
        let bin = if mode == "execlp" {
            "touch"
        } else {
            "/usr/bin/touch"
        };
        let mut c = w.cmd(spawner());
        c.args([mode, bin, "blocked-marker", "ok-marker"]);
        let out = run(c, 30);
        assert!(
            stderr(&out).contains("Operation not permitted"),
            "{mode}: {}",
            stderr(&out)
        );
    }
    let mut c = w.cmd(spawner());
    c.args(["fexecve", "/usr/bin/touch", "blocked-marker"]);
    let out = run(c, 30);
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "fexecve: {}",
        stderr(&out)
    );
    let mut c = w.cmd(spawner());
    c.args(["system", "touch blocked-marker"]);
    let out = run(c, 30);
    assert!(
        stdout(&out).contains("exit=126"),
        "system reports status 126: {}",
        stdout(&out)
    );
    let mut c = w.cmd(spawner());
    c.args(["popen", "touch blocked-marker"]);
    let out = run(c, 30);
    assert!(
        stderr(&out).contains("popen: Operation not permitted"),
        "{}",
        stderr(&out)
    );
    assert!(!exists(&w.marker("blocked-marker")));
    let entries: std::collections::BTreeSet<String> = w
        .records()
        .iter()
        .map(|r| r["entry"].as_str().unwrap_or("").to_string())
        .collect();
    for e in ["execl", "execlp", "execle", "fexecve", "system", "popen"] {
        assert!(entries.contains(e), "no record from {e}: {entries:?}");
    }
    // And they still work when allowed.
    let mut c = w.cmd(spawner());
    c.args(["execl", "/usr/bin/touch", "ok-marker", "ok2"]);
    let out = run(c, 30);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(exists(&w.marker("ok-marker")));
}

#[test]
fn the_default_policy_protects_the_home_directory_when_there_is_no_snapshot() {
    let w = World::new("builtin");
    std::fs::remove_file(w.snapshot_path()).expect("remove snapshot");
    let out = run(w.bash("rm -rf ~; rm -rf $HOME/; echo done"), 30);
    assert!(w.home_intact(), "home deleted!\n{}", stderr(&out));
    let rec = w.records();
    assert!(
        rec.iter()
            .any(|r| r["policy_source"] == "builtin:missing" && r["decision"] == "deny"),
        "{rec:?}"
    );
}

#[test]
fn no_daemon_means_ask_is_denied_with_a_clear_message_and_fail_open_allows() {
    let w = World::new("ask-nodaemon");
    let out = run(w.bash("touch ask-marker"), 30);
    assert!(!exists(&w.marker("ask-marker")));
    assert!(
        stderr(&out).contains("needs approval, and rampart serve is not reachable"),
        "{}",
        stderr(&out)
    );
    let mut c = w.bash("touch ask-marker");
    c.env("RAMPART_FAIL_OPEN", "1");
    let out = run(c, 30);
    assert!(exists(&w.marker("ask-marker")), "{}", stderr(&out));
    let rec = w.records_for("ask-marker");
    assert_eq!(rec[0]["approval"], "unreachable");
    assert_eq!(rec[1]["approval"], "unreachable-fail-open");
}

/// A stand-in daemon on the Unix socket: answers each approval request with
/// `approve`, and keeps what it was asked.
fn approval_server(w: &World, approve: bool) -> std::thread::JoinHandle<Vec<String>> {
    use std::io::{Read, Write};
    let sock = w.rampart_home.join("rampart.sock");
    let _ = std::fs::remove_file(&sock);
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    std::thread::spawn(move || {
        let mut asked = Vec::new();
        listener.set_nonblocking(false).ok();
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = vec![0u8; 65536];
            let mut len = 0;
            loop {
                let n = s.read(&mut buf[len..]).unwrap_or(0);
                len += n;
                let text = String::from_utf8_lossy(&buf[..len]).to_string();
                if let Some(p) = text.find("\r\n\r\n") {
                    let cl: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if len >= p + 4 + cl || n == 0 {
                        asked.push(text);
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let body = format!("{{\"id\":\"t1\",\"approved\":{approve}}}");
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
        asked
    })
}

#[test]
fn ask_waits_for_the_daemon_and_runs_only_when_approved() {
    let w = World::new("ask-yes");
    let server = approval_server(&w, true);
    let out = run(w.bash("touch ask-marker"), 30);
    let asked = server.join().expect("server");
    assert!(exists(&w.marker("ask-marker")), "{}", stderr(&out));
    assert!(asked[0].starts_with("POST /v1/ask HTTP/1.1"), "{asked:?}");
    assert!(
        asked[0].contains("\"decision\":\"ask\"") && asked[0].contains("\"outcome\":\"pending\""),
        "{asked:?}"
    );
    let w2 = World::new("ask-no");
    let server = approval_server(&w2, false);
    let out = run(w2.bash("touch ask-marker"), 30);
    server.join().expect("server");
    assert!(!exists(&w2.marker("ask-marker")), "{}", stderr(&out));
    assert_eq!(w2.records_for("ask-marker")[0]["approval"], "denied");
}

/// dash calls execve for every PATH entry that has the program, whatever
/// the first refusal said: on a merged-/usr system `/usr/bin/touch` and
/// `/bin/touch` are one file. The refusal must be one decision: one record,
/// one message, and for an `ask`, one question to the human.
#[test]
fn a_path_search_retrying_a_refused_command_is_refused_once() {
    let same = |a: &str, b: &str| {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.ino() == y.ino() && x.dev() == y.dev(),
            _ => false,
        }
    };
    assert!(
        same("/usr/bin/touch", "/bin/touch"),
        "this test needs a merged /usr (Debian 12 and later)"
    );
    let dash = |w: &World, script: &str| {
        let mut c = w.cmd("dash");
        c.env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .arg("-c")
            .arg(script);
        run(c, 30)
    };
    let w = World::new("retry-deny");
    let out = dash(&w, "touch blocked-marker; touch ok-marker");
    assert!(!exists(&w.marker("blocked-marker")));
    assert!(exists(&w.marker("ok-marker")), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("rampart: blocked").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert_eq!(w.records_for("blocked-marker").len(), 1);

    let w = World::new("retry-ask");
    let server = approval_server(&w, false);
    let out = dash(&w, "touch ask-marker");
    let asked = server.join().expect("server");
    assert!(!exists(&w.marker("ask-marker")), "{}", stderr(&out));
    assert_eq!(asked.len(), 1);
    let recs = w.records_for("ask-marker");
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["approval"], "denied");
    // A new attempt later is a new decision (here: the daemon is gone).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = dash(&w, "touch ask-marker");
    assert!(!exists(&w.marker("ask-marker")));
    assert!(
        stderr(&out).contains("rampart serve is not reachable"),
        "{}",
        stderr(&out)
    );
    assert_eq!(w.records_for("ask-marker").len(), 2);
}

#[test]
fn a_snapshot_deleted_or_corrupted_mid_run_falls_back_to_the_default_policy() {
    let w = World::new("fault-snap");
    // A running shell: waits for "go", then tries two things.
    let script =
        "while [ ! -e go ]; do sleep 0.02; done; touch blocked-marker; rm -rf ~; echo done";
    let child = w
        .bash(script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(200));
    std::fs::remove_file(w.snapshot_path()).expect("delete snapshot");
    std::fs::write(w.work.join("go"), "").expect("go");
    let out = child.wait_with_output().expect("wait");
    // Test policy gone: the default policy allows the marker but still
    // protects home.
    assert!(
        exists(&w.marker("blocked-marker")),
        "the built-in policy was in force: {}",
        stderr(&out)
    );
    assert!(w.home_intact(), "home deleted: {}", stderr(&out));
    // Garbage instead of a snapshot: same fallback, and it says why.
    std::fs::write(w.snapshot_path(), b"this is not a snapshot at all, just garbage bytes............................................................").expect("garbage");
    let out = run(w.bash("rm -rf ~"), 30);
    assert!(w.home_intact(), "{}", stderr(&out));
    let rec = w.records();
    assert!(
        rec.iter().any(|r| r["policy_source"] == "builtin:missing"),
        "{rec:?}"
    );
    assert!(
        rec.iter()
            .any(|r| r["policy_source"] == "builtin:invalid" && r["decision"] == "deny"),
        "{rec:?}"
    );
}

#[test]
fn a_snapshot_replaced_mid_run_is_used_by_the_next_decision() {
    let w = World::new("reload");
    let script =
        "touch new-marker-1; while [ ! -e go ]; do sleep 0.02; done; touch new-marker-2; echo done";
    let child = w
        .bash(script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let stricter = format!(
        "{POLICY}\n  - name: new-rule\n    rules:\n      - action: deny\n        when: {{ command_matches: [\"touch new-marker*\"] }}\n"
    );
    w.publish(&stricter, 2);
    std::fs::write(w.work.join("go"), "").expect("go");
    let out = child.wait_with_output().expect("wait");
    assert!(
        exists(&w.marker("new-marker-1")),
        "allowed before the change"
    );
    assert!(
        !exists(&w.marker("new-marker-2")),
        "denied after the change: {}",
        stderr(&out)
    );
    let rec = w.records_for("new-marker-2");
    assert_eq!(rec[0]["generation"], 2);
}

#[test]
fn monitor_mode_records_but_never_blocks_and_a_child_cannot_disable_it() {
    let w = World::new("monitor");
    let mut c = w.bash("touch blocked-marker");
    c.env("RAMPART_MODE", "monitor");
    run(c, 30);
    assert!(exists(&w.marker("blocked-marker")));
    let rec = w.records_for("blocked-marker");
    assert_eq!(
        (
            rec[0]["decision"].as_str(),
            rec[0]["outcome"].as_str(),
            rec[0]["mode"].as_str()
        ),
        (Some("deny"), Some("allowed"), Some("monitor"))
    );
    std::fs::remove_file(w.marker("blocked-marker")).expect("rm");
    // In enforce mode, a child asking for `disabled` stays enforced.
    let out = run(
        w.bash("RAMPART_MODE=disabled bash -c 'touch blocked-marker'; touch ok-marker"),
        30,
    );
    assert_blocked_and_allowed(&w, &out);
}

#[test]
fn bad_input_gets_libc_results_and_never_crashes() {
    let w = World::new("bad-input");
    // A path that does not exist: ENOENT, as libc says, and no record.
    let out = run(w.bash("/no/such/program; echo rc=$?"), 30);
    assert!(stdout(&out).contains("rc=127"), "{}", stdout(&out));
    assert!(w.records_for("/no/such/program").is_empty());
    // NULL argv.
    let mut c = w.cmd(spawner());
    c.args(["null-argv", "/bin/true"]);
    assert!(run(c, 30).status.success());
    // Invalid UTF-8 in argv, and a 1 MiB argument (the kernel's E2BIG).
    let script = r#"
import os, subprocess
r = subprocess.run([b"/bin/echo", b"\xff\xfe ok"], capture_output=True); print("utf8", r.returncode)
try:
    subprocess.run(["/bin/echo", "x" * (1 << 20)])
except OSError as e:
    print("big", e.errno)
"#;
    let mut c = w.cmd("python3");
    c.arg("-c").arg(script);
    let out = run(c, 60);
    assert!(
        stdout(&out).contains("utf8 0"),
        "{} {}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("big 7"),
        "E2BIG from the kernel: {}",
        stdout(&out)
    );
    // 100 000 environment entries.
    let mut c = w.cmd(spawner());
    c.args(["big-env", "100000", "/bin/sh", "-c", "test -n \"$V99999\""]);
    let out = run(c, 60);
    assert!(out.status.success(), "{}", stderr(&out));
}
