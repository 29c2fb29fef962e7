//! Bad days, each a test: the daemon killed while calls wait, a full disk
//! under the audit log, an unwritable spool, a snapshot truncated in place
//! while programs run, the policies directory deleted, the token file
//! removed, the clock jumping. Each fault is checked by its effect: what a
//! denied command would have created is absent, the home is intact, no
//! process died of a signal, every record that could be written is in the
//! verified chain exactly once.
//!
//! (Already covered elsewhere, not repeated here: a snapshot deleted or
//! replaced by garbage mid-run, no daemon at all — `library.rs`; ingest
//! killed at random points and a file-size limit on ingest — `audit.rs`.)

use crate::daemon::{Daemon, finish, rampart, rampart_bin, served_with, spawn_bash};
use crate::harness::{World, exists, run, stderr, stdout};
use ::daemon::audit::read;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Poll `cond` until it holds; panic with `what()` after `secs`.
fn wait_until(secs: u64, mut cond: impl FnMut() -> bool, what: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "after {secs}s: {}", what());
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A spool line as the library writes it, with a chosen time stamp.
fn spool_line(i: u64, tag: &str, ts: &str) -> String {
    format!(
        r#"{{"v":1,"ts":"{ts}","pid":{i},"ppid":1,"uid":0,"cwd":"/w","agent":"faults","session":"","entry":"execve","tool":"exec","command":"/usr/bin/echo {tag} {i}","command_len":20,"decision":"allow","outcome":"allowed","policies":[],"message":"","generation":1,"policy_source":"snapshot","mode":"enforce","eval_ns":1}}"#
    ) + "\n"
}

/// Append lines to `spool/current.jsonl`, one `write(2)` each on an
/// `O_APPEND` descriptor, as the library does.
fn spool(spool_dir: &Path, lines: impl Iterator<Item = String>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(spool_dir.join("current.jsonl"))
        .expect("open spool");
    for l in lines {
        f.write_all(l.as_bytes()).expect("spool write");
    }
}

/// Commands of the ingested records tagged `tag`, in sequence order.
fn logged(audit_dir: &Path, tag: &str) -> Vec<String> {
    let needle = format!("/usr/bin/echo {tag} ");
    read::logged(audit_dir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.command)
        .filter(|c| c.starts_with(&needle))
        .collect()
}

fn assert_exactly_in_order(got: &[String], tag: &str, n: u64) {
    assert_eq!(got.len() as u64, n, "every {tag} record exactly once");
    for (i, c) in got.iter().enumerate() {
        assert_eq!(*c, format!("/usr/bin/echo {tag} {}", i + 1), "in order");
    }
}

fn verify(home: &Path) {
    let mut c = Command::new(rampart_bin());
    c.args(["audit", "verify"]).env("RAMPART_HOME", home);
    let o = run(c, 60);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

fn served(name: &str) -> (World, Daemon) {
    served_with(name, &[])
}

#[test]
fn a_daemon_killed_while_ten_calls_wait_denies_every_one_promptly() {
    let (w, mut d) = served("fault-kill-ten");
    // Different programs, different entry points: exec from bash, system()
    // from python, exec from perl.
    let mut kids: Vec<(String, Child)> = Vec::new();
    for i in 0..10 {
        let marker = format!("ask-marker-{i}");
        let child = match i % 3 {
            0 => spawn_bash(&w, &format!("touch {marker}")),
            1 => w
                .cmd("python3")
                .args(["-c", &format!("import os; os.system('touch {marker}')")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("python3"),
            _ => w
                .cmd("perl")
                .args([
                    "-e",
                    &format!("exec 'touch', '{marker}'; print STDERR \"exec: $!\\n\""),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("perl"),
        };
        kids.push((marker, child));
    }
    d.wait_pending(10, 60);
    d.signal(libc::SIGKILL);
    d.wait_exit(10);
    let killed = Instant::now();
    for (marker, child) in kids {
        let out = finish(child, 20);
        assert!(!exists(&w.marker(&marker)), "{marker}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("not reachable"),
            "{marker}: {}",
            stderr(&out)
        );
        assert_eq!(out.status.signal(), None, "{marker} was not killed");
    }
    // Bounded, not a speed claim: all ten answered within seconds of the
    // kill, not after the approval timeout (120 s) or the library's (300 s).
    assert!(
        killed.elapsed() < Duration::from_secs(15),
        "{:?}",
        killed.elapsed()
    );
}

/// `unshare -m` with a small tmpfs over `RAMPART_HOME/audit` in the new
/// namespace, then exec the daemon there. `None` when this machine does
/// not allow mount namespaces (not root, or no CAP_SYS_ADMIN).
fn serve_with_small_audit_disk(w: &World) -> Option<Daemon> {
    let audit = w.rampart_home.join("audit");
    std::fs::create_dir_all(&audit).unwrap();
    let probe = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o size=64k tmpfs '{}'",
            audit.display()
        ))
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return None;
    }
    // 1 MiB of room (the whole backlog fits in one group commit), of
    // which a filler takes all but 24 KiB: the log fills at once.
    let script = format!(
        "set -e; mount -t tmpfs -o size=1m,mode=0700 tmpfs '{a}'; \
         head -c 1024000 /dev/zero > '{a}/filler'; exec \"$@\"",
        a = audit.display()
    );
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
        .arg(rampart_bin())
        .args(["serve", "--port", "0"])
        .current_dir(&w.work)
        .env("RAMPART_HOME", &w.rampart_home)
        .env("HOME", &w.home)
        .env("RAMPART_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("LD_PRELOAD");
    Some(Daemon::start_cmd(w, c))
}

#[test]
fn a_full_disk_under_the_audit_log_never_stops_enforcement_and_ingest_resumes_without_loss() {
    let w = World::new("fault-disk-full");
    w.save_policy("test.yaml", crate::harness::POLICY);
    let Some(d) = serve_with_small_audit_disk(&w) else {
        eprintln!(
            "SKIPPED: no mount namespaces here (unshare -m needs root or CAP_SYS_ADMIN); \
             audit.rs covers a full disk with a file-size limit instead"
        );
        return;
    };
    // The daemon's view of its audit directory (its mount namespace).
    let audit = PathBuf::from(format!("/proc/{}/root", d.pid)).join(
        w.rampart_home
            .join("audit")
            .strip_prefix("/")
            .expect("absolute"),
    );
    let total = 600u64;
    spool(
        &w.rampart_home.join("spool"),
        (1..=total).map(|i| spool_line(i, "full", "2026-11-22T01:00:00.000000Z")),
    );
    wait_until(
        20,
        || d.log().contains("No space left on device"),
        || format!("no ENOSPC reported: {}", d.log()),
    );
    // Decisions are made in-process and still enforced; nothing crashes.
    let out = run(w.bash("touch blocked-marker; touch ok-marker"), 30);
    assert!(!exists(&w.marker("blocked-marker")), "{}", stderr(&out));
    assert!(exists(&w.marker("ok-marker")), "{}", stderr(&out));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(d.uds("GET", "/healthz", "").status, 200, "{}", d.log());
    // The backlog does not fit in the 24 KiB left, but the records that
    // do are ingested (group commits shrink instead of failing whole).
    wait_until(
        20,
        || !logged(&audit, "full").is_empty(),
        || format!("nothing ingested on a nearly full disk: {}", d.log()),
    );
    let partial = logged(&audit, "full").len() as u64;
    assert!(
        partial < total,
        "the disk was not full: {partial} records fit"
    );

    // Space comes back: ingest resumes by itself; nothing lost, nothing
    // doubled, the chain verifies (read in the daemon's namespace).
    std::fs::remove_file(audit.join("filler")).expect("free the disk");
    wait_until(
        30,
        || logged(&audit, "full").len() as u64 == total,
        || {
            format!(
                "{} of {total} ingested: {}",
                logged(&audit, "full").len(),
                d.log()
            )
        },
    );
    assert_exactly_in_order(&logged(&audit, "full"), "full", total);
    // Said, not shouted: the retries every 200 ms do not repeat the
    // warning, and the recovery is reported.
    let log = d.log();
    let warnings = log.matches("WARN audit ingest:").count();
    assert!((1..=5).contains(&warnings), "{warnings} warnings:\n{log}");
    wait_until(5, || d.log().contains("audit ingest resumed"), || d.log());
    let daemon_home = audit.parent().expect("home").to_path_buf();
    verify(&daemon_home);
}

#[test]
fn an_unwritable_spool_never_weakens_enforcement_and_ingest_resumes_when_it_is_back() {
    let (w, d) = served("fault-spool");
    let spool_dir = w.rampart_home.join("spool");
    let audit = w.rampart_home.join("audit");
    // Settle: what is spooled now is ingested, nothing is in flight.
    spool(
        &spool_dir,
        (1..=100).map(|i| spool_line(i, "before", "2026-11-22T01:00:00.000000Z")),
    );
    wait_until(
        20,
        || logged(&audit, "before").len() == 100,
        || format!("not ingested: {}", d.log()),
    );
    wait_until(
        20,
        || {
            std::fs::read_dir(&spool_dir)
                .map(|rd| rd.count() == 0)
                .unwrap_or(false)
        },
        || "the spool did not drain".into(),
    );
    // A regular file where the spool directory was: no write can succeed,
    // whoever we are (root ignores permission bits, not file types).
    std::fs::remove_dir_all(&spool_dir).unwrap();
    std::fs::write(&spool_dir, "not a directory").unwrap();
    let out = run(
        w.bash("touch blocked-marker; rm -rf ~; touch ok-marker; /bin/echo still-here"),
        30,
    );
    assert!(!exists(&w.marker("blocked-marker")), "{}", stderr(&out));
    assert!(w.home_intact(), "{}", stderr(&out));
    assert!(exists(&w.marker("ok-marker")), "{}", stderr(&out));
    assert!(stdout(&out).contains("still-here"), "{}", stderr(&out));
    assert_eq!(out.status.signal(), None);
    // The daemon carries on (its ingest retries and says why).
    assert_eq!(d.uds("GET", "/healthz", "").status, 200);
    assert_eq!(d.status()["spool"]["lines"], 0);

    // The directory is back: new decisions and records are ingested, each
    // exactly once, and the chain verifies.
    std::fs::remove_file(&spool_dir).unwrap();
    std::fs::create_dir(&spool_dir).unwrap();
    let out = run(w.bash("touch blocked-marker-2; touch ok-marker-2"), 30);
    assert!(!exists(&w.marker("blocked-marker-2")), "{}", stderr(&out));
    spool(
        &spool_dir,
        (1..=500).map(|i| spool_line(i, "after", "2026-11-22T01:00:01.000000Z")),
    );
    wait_until(
        20,
        || {
            logged(&audit, "after").len() == 500
                && read::logged(&audit).unwrap_or_default().iter().any(|r| {
                    r.command
                        .as_deref()
                        .is_some_and(|c| c.contains("blocked-marker-2"))
                })
        },
        || format!("not ingested after the spool came back: {}", d.log()),
    );
    assert_exactly_in_order(&logged(&audit, "before"), "before", 100);
    assert_exactly_in_order(&logged(&audit, "after"), "after", 500);
    verify(&w.rampart_home);
}

#[test]
fn audit_verify_while_the_daemon_ingests_never_reports_a_false_break() {
    // Regression: verify read head.json after the log files, so a group
    // commit landing in between looked like "records cut off the end".
    let (w, d) = served("fault-verify-live");
    let spool_dir = w.rampart_home.join("spool");
    let audit = w.rampart_home.join("audit");
    // A log long enough that reading it takes a while.
    spool(
        &spool_dir,
        (1..=10_000).map(|i| spool_line(i, "base", "2026-11-22T00:00:00.000000Z")),
    );
    wait_until(60, || logged(&audit, "base").len() == 10_000, || d.log());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (spool_dir, stop) = (spool_dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                spool(
                    &spool_dir,
                    (n + 1..=n + 20).map(|i| spool_line(i, "live", "2026-11-22T01:00:00.000000Z")),
                );
                n += 20;
                std::thread::sleep(Duration::from_millis(3));
            }
            n
        })
    };
    wait_until(20, || !logged(&audit, "live").is_empty(), || d.log());
    for _ in 0..6 {
        verify(&w.rampart_home);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let total = writer.join().unwrap();
    wait_until(
        30,
        || logged(&audit, "live").len() as u64 == total,
        || format!("{} of {total}: {}", logged(&audit, "live").len(), d.log()),
    );
    assert_exactly_in_order(&logged(&audit, "live"), "live", total);
    verify(&w.rampart_home);
}

/// Rewrite the file in place (same inode: what a mapped reader would see).
fn rewrite_in_place(path: &Path, bytes: &[u8], len: u64) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open snapshot");
    f.seek(SeekFrom::Start(0)).unwrap();
    f.write_all(&bytes[..(len as usize).min(bytes.len())])
        .unwrap();
    f.set_len(len).unwrap();
}

#[test]
fn a_snapshot_truncated_in_place_to_any_length_never_crashes_and_never_allows_all() {
    let w = World::new("fault-truncate");
    let path = w.snapshot_path();
    let full = std::fs::read(&path).unwrap();
    let n = full.len() as u64;
    let h = policy_cache::snapshot::HEADER_LEN as u64;
    let lengths = [0, 1, 7, 8, h - 1, h, h + 1, h + 16, n / 2, n - 1];
    // One process lives through every round: it decides with the valid
    // file, then with the same file cut short.
    let script = format!(
        "for i in $(seq 0 {last}); do \
           while [ ! -e go-a-$i ]; do sleep 0.01; done; touch blocked-marker-a-$i; touch step-a-$i; \
           while [ ! -e go-b-$i ]; do sleep 0.01; done; rm -rf ~; touch blocked-marker-b-$i; /bin/echo round $i; \
         done",
        last = lengths.len() - 1
    );
    let child = spawn_bash(&w, &script);
    for (i, &len) in lengths.iter().enumerate() {
        rewrite_in_place(&path, &full, n);
        std::fs::write(w.marker(&format!("go-a-{i}")), "").unwrap();
        let step = w.marker(&format!("step-a-{i}"));
        wait_until(20, || exists(&step), || format!("round {i} stalled"));
        rewrite_in_place(&path, &full, len);
        std::fs::write(w.marker(&format!("go-b-{i}")), "").unwrap();
        let marker = w.marker(&format!("blocked-marker-b-{i}"));
        wait_until(
            20,
            || exists(&marker),
            || format!("round {i} (length {len}) stalled"),
        );
    }
    let out = finish(child, 30);
    assert_eq!(
        out.status.signal(),
        None,
        "killed by a signal: {}",
        stderr(&out)
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for i in 0..lengths.len() {
        assert!(
            stdout(&out).contains(&format!("round {i}\n")),
            "{}",
            stdout(&out)
        );
        // The valid snapshot (the test policy) was in force in step a.
        assert!(
            !exists(&w.marker(&format!("blocked-marker-a-{i}"))),
            "round {i}"
        );
    }
    // Every cut-short file: the built-in policy, never allow-all.
    assert!(w.home_intact(), "{}", stderr(&out));
    let recs = w.records_for("rm -rf");
    assert_eq!(recs.len(), lengths.len(), "{recs:?}");
    for r in &recs {
        assert_eq!(r["decision"], "deny", "{r}");
        assert!(
            r["policy_source"] == "builtin:invalid" || r["policy_source"] == "builtin:missing",
            "{r}"
        );
    }
}

#[test]
fn a_snapshot_mangled_in_place_while_programs_spawn_never_crashes_them() {
    let w = World::new("fault-hammer");
    let path = w.snapshot_path();
    let full = std::fs::read(&path).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mangler = {
        let (path, full, stop) = (path.clone(), full.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut s = 0x9e37_79b9_7f4a_7c15u64;
            let mut rounds = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let len = s % (full.len() as u64 + 1);
                match s % 3 {
                    0 => rewrite_in_place(&path, &full, full.len() as u64),
                    1 => rewrite_in_place(&path, &full, len),
                    _ => {
                        let garbage: Vec<u8> = full.iter().map(|b| b ^ (s as u8 | 1)).collect();
                        rewrite_in_place(&path, &garbage, len);
                    }
                }
                rounds += 1;
                std::thread::sleep(Duration::from_micros(300));
            }
            rounds
        })
    };
    let script = "for i in $(seq 300); do rm -rf ~ 2>/dev/null; /bin/true || echo FAIL $i; done; echo finished";
    let mut c = w.bash(script);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let py = "import subprocess\nfor i in range(150):\n    assert subprocess.run(['/bin/true']).returncode == 0\nprint('py finished')";
    let mut p = w.cmd("python3");
    p.args(["-c", py])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (bash, python) = (c.spawn().unwrap(), p.spawn().unwrap());
    let (bash, python) = (finish(bash, 120), finish(python, 120));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = mangler.join().unwrap();
    for (name, out) in [("bash", &bash), ("python", &python)] {
        assert_eq!(
            out.status.signal(),
            None,
            "{name} died of a signal: {}",
            stderr(out)
        );
        assert!(out.status.success(), "{name}: {}", stderr(out));
        assert!(stdout(out).contains("finished"), "{name}: {}", stdout(out));
    }
    assert!(!stdout(&bash).contains("FAIL"), "{}", stdout(&bash));
    assert!(w.home_intact(), "{}", stderr(&bash));
    assert!(rounds > 20, "only {rounds} mutations");
}

#[test]
fn a_deleted_policies_directory_keeps_the_last_good_policy_and_reloads_when_back() {
    let (w, d) = served("fault-policies-gone");
    let generation = d.status()["snapshot"]["generation"].as_u64().unwrap();
    std::fs::remove_dir_all(w.rampart_home.join("policies")).unwrap();
    // The watcher sees the deletion; an explicit reload says the same.
    let r = d.uds("POST", "/v1/policy/reload", "");
    assert_eq!(r.status, 422, "{r:?}");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("policies directory is gone"),
        "{r:?}"
    );
    let status = d.status();
    assert_eq!(status["snapshot"]["generation"].as_u64(), Some(generation));
    assert_eq!(status["last_reload"]["ok"], false, "{status}");
    // The test policy is still in force, for the library and the API.
    let out = run(w.bash("touch blocked-marker; touch ok-marker"), 30);
    assert!(!exists(&w.marker("blocked-marker")), "{}", stderr(&out));
    assert!(exists(&w.marker("ok-marker")));
    let r = d.uds(
        "POST",
        "/v1/preflight/exec",
        r#"{"params": {"command": "touch blocked-marker"}}"#,
    );
    assert_eq!(r.json()["decision"], "deny");
    // Back again, with a policy that refuses something new: a running
    // preloaded shell is refused by the new rule with no manual reload
    // (the watcher saw the directory return and watches it again).
    let script = "i=0; while [ $i -lt 4000 ]; do i=$((i+1)); \
                  if ! touch back-probe-$i; then echo $i; exit 0; fi; sleep 0.005; done; exit 3";
    let child = spawn_bash(&w, script);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !exists(&w.marker("back-probe-1")) {
        assert!(Instant::now() < deadline, "the shell never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let stricter = format!(
        "{}\n  - name: back-rule\n    rules:\n      - action: deny\n        when: {{ command_matches: [\"touch back-probe-*\"] }}\n",
        crate::harness::POLICY
    );
    w.save_policy("test.yaml", &stricter);
    let out = finish(child, 60);
    assert_eq!(
        out.status.code(),
        Some(0),
        "never refused by the new rule: {}",
        stderr(&out)
    );
    let refused: u32 = stdout(&out).trim().parse().expect("the refused probe");
    assert!(refused > 1);
    assert!(
        !exists(&w.marker(&format!("back-probe-{refused}"))),
        "the refused touch ran"
    );
    assert!(
        stderr(&out).contains("[back-rule]"),
        "refused by the new rule: {}",
        stderr(&out)
    );
    // And the new directory is watched itself: a later edit of the file
    // in it (which the parent's watch would not see) reaches a running
    // shell too. First the return's events settle, so that no reload they
    // queued is still due and could pick the edit up by chance.
    std::thread::sleep(Duration::from_millis(800));
    let script = "i=0; while [ $i -lt 4000 ]; do i=$((i+1)); \
                  if ! touch again-probe-$i; then echo $i; exit 0; fi; sleep 0.005; done; exit 3";
    let child = spawn_bash(&w, script);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !exists(&w.marker("again-probe-1")) {
        assert!(Instant::now() < deadline, "the shell never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    w.save_policy(
        "test.yaml",
        &stricter.replace("touch back-probe-*", "touch again-probe-*"),
    );
    let out = finish(child, 60);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the edit in the recreated directory was never seen: {}",
        stderr(&out)
    );
    let refused: u32 = stdout(&out).trim().parse().expect("the refused probe");
    assert!(
        !exists(&w.marker(&format!("again-probe-{refused}"))),
        "the refused touch ran"
    );
    assert!(stderr(&out).contains("[back-rule]"), "{}", stderr(&out));
    let status = d.status();
    assert!(
        status["snapshot"]["generation"].as_u64().unwrap() > generation + 1,
        "{status}"
    );
    assert_eq!(status["last_reload"]["ok"], true, "{status}");
    assert_eq!(status["last_reload"]["trigger"], "watch", "{status}");
    assert!(
        d.log().contains("policies directory is gone"),
        "{}",
        d.log()
    );
}

#[test]
fn a_removed_token_file_locks_nobody_out_and_opens_nothing() {
    let (w, mut d) = served("fault-token");
    let token_path = w.rampart_home.join("token");
    std::fs::remove_file(&token_path).unwrap();
    // The running daemon keeps the token it loaded: the TCP API still
    // wants exactly that token, the socket still needs none.
    let auth = format!("Bearer {}", d.token);
    assert_eq!(
        d.tcp("GET", "/v1/status", &[("Authorization", &auth)], "")
            .status,
        200
    );
    assert_eq!(d.tcp("GET", "/v1/status", &[], "").status, 401);
    assert_eq!(d.uds("GET", "/v1/status", "").status, 200);
    let o = rampart(&w, &["status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A restart writes a new token (0600); the old one stops working.
    let old = d.token.clone();
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit(10).success());
    let d2 = Daemon::start(&w, &[]);
    assert_ne!(d2.token, old);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let old_auth = format!("Bearer {old}");
    assert_eq!(
        d2.tcp("GET", "/v1/status", &[("Authorization", &old_auth)], "")
            .status,
        401
    );
    assert_eq!(d2.api("GET", "/v1/status", "").status, 200);
}

#[test]
fn clock_jumps_keep_the_chain_whole_and_the_order_by_sequence() {
    let w = World::new("fault-clock");
    if Command::new("faketime").arg("--version").output().is_err() {
        panic!("faketime is required (apt-get install faketime; .ci/run installs it)");
    }
    let spool_dir = w.rampart_home.join("spool");
    std::fs::create_dir_all(&spool_dir).unwrap();
    // Four ingests, the clock jumping forward five years, back seven, then
    // to now; the records' own stamps jump around too.
    let clocks = ["", "2031-06-01 12:00:00", "2024-01-01 00:00:00", ""];
    let stamps = [
        "2026-11-22T01:00:00.000000Z",
        "2031-06-01T12:00:00.000000Z",
        "2024-01-01T00:00:00.000000Z",
        "2026-11-22T01:00:05.000000Z",
    ];
    let mut total = 0u64;
    for (clock, ts) in clocks.iter().zip(stamps) {
        spool(
            &spool_dir,
            (total + 1..=total + 50).map(|i| spool_line(i, "clock", ts)),
        );
        total += 50;
        let mut c = if clock.is_empty() {
            Command::new(rampart_bin())
        } else {
            let mut c = Command::new("faketime");
            c.arg(clock).arg(rampart_bin());
            c
        };
        c.args(["audit", "ingest"])
            .env("RAMPART_HOME", &w.rampart_home);
        let o = run(c, 60);
        assert!(o.status.success(), "ingest at {clock:?}: {}", stderr(&o));
    }
    let audit = w.rampart_home.join("audit");
    let recs = read::logged(&audit).unwrap();
    assert!(recs.iter().enumerate().all(|(i, r)| r.seq == i as u64 + 1));
    assert_exactly_in_order(&logged(&audit, "clock"), "clock", total);
    let files: Vec<String> = std::fs::read_dir(&audit)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert!(
        files.iter().any(|f| f.starts_with("2031-06-01")),
        "{files:?}"
    );
    verify(&w.rampart_home);
    // …and verifies with the clock set back, too.
    let mut c = Command::new("faketime");
    c.arg("2024-01-01 00:00:00")
        .arg(rampart_bin())
        .args(["audit", "verify"])
        .env("RAMPART_HOME", &w.rampart_home);
    let o = run(c, 60);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn a_file_size_limit_below_the_spool_size_never_kills_the_host() {
    let w = World::new("fault-fsize");
    // A spool of a few KiB…
    let out = run(w.bash("for i in $(seq 40); do /bin/true; done"), 60);
    assert!(out.status.success(), "{}", stderr(&out));
    // …and a shell whose file-size limit (`ulimit -f`, 1 KiB) is below it:
    // its programs must still run (the record may be lost, the host not).
    let out = run(w.bash("ulimit -f 1; /bin/echo hello; echo rc=$?"), 30);
    assert!(
        stdout(&out).contains("hello\nrc=0"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}
