//! `rampart preload` itself: it finds the library, compiles the policies
//! when no daemon runs, and execs the command so that its exit status and
//! signals are its own.

use crate::harness::*;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;

/// The `rampart` binary the workspace build produced.
fn rampart() -> PathBuf {
    for profile in ["debug", "release"] {
        let p = workspace().join("target").join(profile).join("rampart");
        if p.is_file() {
            return p;
        }
    }
    panic!("target/debug/rampart is missing: run `cargo build -p rampart` first");
}

fn preload(w: &World, args: &[&str]) -> Command {
    let mut c = Command::new(rampart());
    c.arg("preload")
        .args(args)
        .current_dir(&w.work)
        .env("RAMPART_HOME", &w.rampart_home)
        .env("RAMPART_LIB", library())
        .env("RAMPART_USER_HOME", &w.home)
        .env("HOME", &w.home)
        .env_remove("LD_PRELOAD")
        .env_remove("RAMPART_MODE");
    c
}

#[test]
fn exit_statuses_and_signals_pass_through() {
    let w = World::new("preload-exit");
    let out = run(preload(&w, &["--", "bash", "-c", "exit 7"]), 30);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let out = run(preload(&w, &["--", "bash", "-c", "kill -TERM $$"]), 30);
    assert_eq!(out.status.signal(), Some(15), "{:?}", out.status);
}

#[test]
fn without_a_daemon_the_policies_are_compiled_once_and_enforced() {
    let w = World::new("preload-compile");
    std::fs::remove_file(w.snapshot_path()).expect("start without a snapshot");
    let policies = w.rampart_home.join("policies");
    std::fs::create_dir_all(&policies).expect("mkdir");
    std::fs::write(policies.join("mine.yaml"), POLICY).expect("write policy");
    let out = run(
        preload(
            &w,
            &["--", "bash", "-c", "touch blocked-marker; touch ok-marker"],
        ),
        30,
    );
    assert!(
        stderr(&out).contains("rampart: compiled 2 policies"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("no daemon running; generation 1"),
        "{}",
        stderr(&out)
    );
    assert!(
        !exists(&w.marker("blocked-marker")) && exists(&w.marker("ok-marker")),
        "{}",
        stderr(&out)
    );
    // Unchanged policies: nothing to say, same generation.
    let out = run(preload(&w, &["--", "true"]), 30);
    assert!(!stderr(&out).contains("compiled"), "{}", stderr(&out));
    assert_eq!(
        policy_cache::compile::read_generation(&w.snapshot_path()),
        Some(1)
    );
}

#[test]
fn a_broken_policy_keeps_the_last_good_snapshot_and_says_where_the_error_is() {
    let w = World::new("preload-broken");
    let policies = w.rampart_home.join("policies");
    std::fs::create_dir_all(&policies).expect("mkdir");
    std::fs::write(
        policies.join("mine.yaml"),
        "policies:\n  - name: x\n    rules:\n      - action: block\n",
    )
    .expect("write");
    let out = run(
        preload(&w, &["--", "bash", "-c", "touch blocked-marker"]),
        30,
    );
    let err = stderr(&out);
    assert!(
        err.contains("mine.yaml:4:17") && err.contains("did you mean `deny`"),
        "{err}"
    );
    assert!(
        err.contains("keeping the last good snapshot (generation 1)"),
        "{err}"
    );
    assert!(
        !exists(&w.marker("blocked-marker")),
        "the last good policy still applies"
    );
}

#[test]
fn agent_and_mode_reach_the_audit_records() {
    let w = World::new("preload-agent");
    let policies = w.rampart_home.join("policies");
    std::fs::create_dir_all(&policies).expect("mkdir");
    std::fs::write(policies.join("mine.yaml"), POLICY).expect("write policy");
    run(
        preload(
            &w,
            &[
                "--agent",
                "codex",
                "--session",
                "s1",
                "--mode",
                "monitor",
                "--",
                "bash",
                "-c",
                "touch blocked-marker",
            ],
        ),
        30,
    );
    assert!(
        exists(&w.marker("blocked-marker")),
        "monitor mode never blocks"
    );
    let rec = w.records_for("blocked-marker");
    assert_eq!(
        (
            rec[0]["agent"].as_str(),
            rec[0]["session"].as_str(),
            rec[0]["mode"].as_str()
        ),
        (Some("codex"), Some("s1"), Some("monitor"))
    );
    assert_eq!(rec[0]["decision"], "deny");
}

#[test]
fn a_static_program_gets_a_warning() {
    let w = World::new("preload-static");
    let out = run(preload(&w, &["--", "/sbin/ldconfig", "--version"]), 30);
    assert!(
        stderr(&out).contains("is statically linked, so the library cannot load into it"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_library_is_a_clear_error() {
    let w = World::new("preload-nolib");
    // A copy of the binary away from the build tree, so the fallbacks next
    // to it do not find the development library.
    let dir = w.dir.join("bin");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let copy = dir.join("rampart");
    std::fs::copy(rampart(), &copy).expect("copy");
    let mut c = Command::new(&copy);
    c.args(["preload", "--", "true"])
        .env("RAMPART_HOME", &w.rampart_home)
        .env_remove("RAMPART_LIB");
    let out = run(c, 30);
    if !std::path::Path::new("/usr/local/lib/librampart.so").exists() {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("cannot find librampart.so"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn doctor_sees_the_library_decide_and_names_programs_it_cannot_protect() {
    let w = World::new("doctor");
    let mut c = Command::new(rampart());
    c.args(["doctor", "bash", "/sbin/ldconfig"])
        .env("RAMPART_HOME", &w.rampart_home)
        .env("RAMPART_LIB", library());
    let out = run(c, 30);
    let so = stdout(&out);
    assert!(
        so.contains("ok   library loads: loaded into a shell and decided its exec"),
        "{so}"
    );
    assert!(
        so.contains("ok   program bash:") && so.contains("is dynamically linked"),
        "{so}"
    );
    assert!(
        so.contains("FAIL program /sbin/ldconfig:") && so.contains("is statically linked"),
        "{so}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a program that cannot be protected is a failed check"
    );
    let mut c = Command::new(rampart());
    c.args(["doctor", "bash"])
        .env("RAMPART_HOME", &w.rampart_home)
        .env("RAMPART_LIB", library());
    assert_eq!(run(c, 30).status.code(), Some(0));
}
