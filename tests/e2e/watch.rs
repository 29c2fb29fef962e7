//! `rampart watch` in a real terminal: tmux runs it in a detached session
//! of 160×48, the test sends keys and reads the pane, while real preloaded
//! commands (`rampart preload -- bash -c …`) are decided by a real daemon.
//! A denied command is shown not to have run; an approved one to have run.
//!
//! tmux is required (`.ci/run` installs it); each test has its own tmux
//! server (`tmux -L <name>`), killed when the test ends.

use crate::daemon::{Daemon, finish, rampart, rampart_bin, served_with};
use crate::harness::{World, exists, library, run, stderr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A detached tmux session on a server of its own.
struct Tmux {
    socket: String,
    /// The server's socket file (tmux leaves it behind).
    path: Option<String>,
}

fn tmux_cmd(socket: &str) -> Command {
    let mut c = Command::new("tmux");
    c.arg("-L")
        .arg(socket)
        .env_remove("TMUX")
        .stdin(Stdio::null());
    c
}

/// Single-quoted for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Tmux {
    /// Start `rampart watch ARGS` in `w`, in a shell that prints how it
    /// ended (so the test can see the terminal given back).
    fn watch(w: &World, name: &str, args: &[&str]) -> Tmux {
        let socket = format!("rampart-e2e-{}-{name}", std::process::id());
        let mut script = format!(
            "cd {} && env RAMPART_HOME={} HOME={} RAMPART_LOG=info {}",
            quote(&w.work.to_string_lossy()),
            quote(&w.rampart_home.to_string_lossy()),
            quote(&w.home.to_string_lossy()),
            quote(&rampart_bin().to_string_lossy()),
        );
        script.push_str(" watch");
        for a in args {
            script.push(' ');
            script.push_str(&quote(a));
        }
        script.push_str("; echo \"watch exited with $?\"; sleep 600");
        let out = tmux_cmd(&socket)
            .args(["new-session", "-d", "-x", "160", "-y", "48", "sh", "-c"])
            .arg(&script)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run tmux ({e}): install it (`apt-get install tmux`; .ci/run does)")
            });
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = tmux_cmd(&socket)
            .args(["display-message", "-p", "#{socket_path}"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|p| p.contains(&socket));
        Tmux { socket, path }
    }

    fn send(&self, keys: &str) {
        let out = tmux_cmd(&self.socket)
            .args(["send-keys", "-t", "0", keys])
            .output()
            .expect("tmux send-keys");
        assert!(out.status.success(), "send-keys {keys}");
    }

    /// The pane as text (`escapes`: with its colours as escape sequences).
    fn capture(&self, escapes: bool) -> String {
        let mut c = tmux_cmd(&self.socket);
        c.args(["capture-pane", "-p", "-t", "0"]);
        if escapes {
            c.arg("-e");
        }
        let out = c.output().expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait (bounded) until `ok` holds for the pane; the pane.
    fn wait(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let pane = self.capture(false);
            if ok(&pane) {
                return pane;
            }
            assert!(
                Instant::now() < deadline,
                "after {secs}s the pane still lacks {what}:\n{pane}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for(&self, needle: &str, secs: u64) -> String {
        self.wait(&format!("{needle:?}"), secs, |p| p.contains(needle))
    }

    /// A tmux format (`#{pane_tty}`, `#{alternate_on}`…) for the pane.
    fn query(&self, what: &str) -> String {
        let out = tmux_cmd(&self.socket)
            .args(["display-message", "-p", "-t", "0", what])
            .output()
            .expect("tmux display-message");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The pid of `rampart watch`: the pane's shell runs it as its only
    /// child.
    fn watch_pid(&self) -> i32 {
        let shell = self.query("#{pane_pid}");
        std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .expect("the pane shell's children")
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("watch's pid")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = tmux_cmd(&self.socket).arg("kill-server").output();
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A background process killed when the test ends, passed or not.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `rampart preload --agent codex -- bash -c script`, as a user runs it.
fn preload(w: &World, script: &str) -> Command {
    let mut c = w.daemon_cmd();
    c.args(["preload", "--agent", "codex", "--", "bash", "-c", script])
        .env("RAMPART_LIB", library())
        .env("RAMPART_USER_HOME", &w.home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn spawn_preload(w: &World, script: &str) -> Child {
    preload(w, script).spawn().expect("spawn rampart preload")
}

/// The pane's line that holds every one of `parts`.
fn line_with<'a>(pane: &'a str, parts: &[&str]) -> Option<&'a str> {
    pane.lines().find(|l| parts.iter().all(|p| l.contains(p)))
}

fn denied(out: &Output, marker: &Path) {
    assert!(!out.status.success(), "{}", stderr(out));
    assert!(stderr(out).contains("rampart: blocked"), "{}", stderr(out));
    assert!(!exists(marker), "a denied command ran");
}

#[test]
fn watch_shows_decisions_live_and_approves_and_denies_waiting_commands_in_a_terminal() {
    let (w, d) = served_with("watch-tui", &[]);
    let t = Tmux::watch(&w, "tui", &[]);
    t.wait_for("● daemon pid", 20);

    // A denied command: shown in red, and it did not run.
    let out = run(preload(&w, "touch blocked-marker"), 30);
    denied(&out, &w.marker("blocked-marker"));
    let pane = t.wait("the denied command", 20, |p| {
        line_with(
            p,
            &[
                "deny",
                "codex",
                "touch blocked-marker",
                "[test-deny] test policy says no",
            ],
        )
        .is_some()
    });
    assert!(
        line_with(&pane, &["deny 1", "pending 0"]).is_some(),
        "{pane}"
    );
    let coloured = t.capture(true);
    let row = line_with(&coloured, &["touch blocked-marker"]).expect("row");
    // tmux writes red as `38;5;1` (or `31`), right before the label.
    let before_label = &row[..row.find("deny").expect("label")];
    let red = before_label.ends_with("\x1b[38;5;1m") || before_label.ends_with("\x1b[31m");
    assert!(red, "the denied row is red: {row:?}");

    // An `ask`: pending in the pane until `a` approves it; then it runs.
    let child = spawn_preload(&w, "touch ask-marker");
    let pane = t.wait("the waiting command", 20, |p| {
        p.contains("Pending approvals (1)") && line_with(p, &["▶", "touch ask-marker"]).is_some()
    });
    assert!(
        line_with(&pane, &["[test-ask] needs a human"]).is_some(),
        "{pane}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !exists(&w.marker("ask-marker")),
        "nothing runs before approval"
    );
    t.send("a");
    let out = finish(child, 20);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(exists(&w.marker("ask-marker")), "the approved command ran");
    let pane = t.wait("the approval's outcome", 20, |p| {
        p.contains("Pending approvals (0)")
            && line_with(p, &["ask", "touch ask-marker", "(approved)"]).is_some()
    });
    assert!(pane.contains("approved "), "the footer says so:\n{pane}");
    assert!(d.pending().is_empty());

    // Another, refused with `d`: it fails and did not run.
    let child = spawn_preload(&w, "touch ask-marker-2");
    t.wait("the second waiting command", 20, |p| {
        line_with(p, &["▶", "touch ask-marker-2"]).is_some()
    });
    t.send("d");
    let out = finish(child, 20);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    assert!(!exists(&w.marker("ask-marker-2")), "a denied command ran");
    t.wait("the refusal", 20, |p| {
        line_with(p, &["ask", "touch ask-marker-2", "(denied)"]).is_some()
    });

    // Filters: `f` keeps denials only.
    t.send("f");
    let pane = t.wait_for("[decision=deny]", 10);
    assert!(
        line_with(&pane, &["touch blocked-marker"]).is_some(),
        "{pane}"
    );
    assert!(line_with(&pane, &["touch ask-marker"]).is_none(), "{pane}");

    // `q` quits and gives the terminal back.
    t.send("q");
    let pane = t.wait_for("watch exited with 0", 10);
    assert!(!pane.contains("Pending approvals"), "{pane}");
}

#[test]
fn watch_without_a_daemon_follows_the_files_then_connects_when_one_starts() {
    let w = World::new("watch-nodaemon");
    w.save_policy("test.yaml", crate::harness::POLICY);
    let t = Tmux::watch(&w, "nodaemon", &["--agent", "codex"]);
    t.wait_for("approvals unavailable — rampart serve is not running", 20);

    // Decided by the library alone, read from the spool.
    let out = run(preload(&w, "touch blocked-marker"), 30);
    denied(&out, &w.marker("blocked-marker"));
    let pane = t.wait("the denied command", 20, |p| {
        line_with(p, &["deny", "touch blocked-marker"]).is_some()
    });
    assert!(pane.contains("[agent=codex]"), "{pane}");
    t.send("a");
    // The footer (the only line without a border) says why nothing happened.
    t.wait("the footer's note", 10, |p| {
        p.lines()
            .any(|l| l.starts_with("approvals unavailable — rampart serve is not running"))
    });

    // A daemon starts: the view connects, and the decision is not shown twice.
    let _d = Daemon::start(&w, &[]);
    let pane = t.wait_for("● daemon pid", 20);
    assert_eq!(
        pane.matches("touch blocked-marker").count(),
        1,
        "shown once:\n{pane}"
    );
    let child = spawn_preload(&w, "touch ask-marker");
    t.wait("the waiting command", 20, |p| {
        line_with(p, &["▶", "touch ask-marker"]).is_some()
    });
    t.send("a");
    assert!(finish(child, 20).status.success());
    assert!(exists(&w.marker("ask-marker")));
    // Ctrl-C quits too (raw mode makes it a key), and gives the terminal back.
    t.send("C-c");
    let pane = t.wait_for("watch exited with 0", 10);
    assert!(!pane.contains("Pending approvals"), "{pane}");
}

#[test]
fn watch_into_a_pipe_prints_one_plain_line_per_event() {
    let (w, d) = served_with("watch-lines", &[]);
    let start = |args: &[&str], name: &str| -> (Background, PathBuf, PathBuf) {
        let out = w.dir.join(format!("{name}.out"));
        let err = w.dir.join(format!("{name}.err"));
        let child = w
            .daemon_cmd()
            .arg("watch")
            .args(args)
            .stdout(std::fs::File::create(&out).expect("out"))
            .stderr(std::fs::File::create(&err).expect("err"))
            .spawn()
            .expect("spawn rampart watch");
        (Background(child), out, err)
    };
    let (_all, all_out, all_err) = start(&[], "all");
    let (_denials, deny_out, deny_err) = start(&["--decision", "deny"], "denials");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let wait_file = |p: &Path, what: &str, ok: &dyn Fn(&str) -> bool| -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = read(p);
            if ok(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} in {}:\n{text}",
                p.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    for err in [&all_err, &deny_err] {
        wait_file(err, "stream notice", &|t| {
            t.contains("following the daemon's event stream")
        });
    }

    let out = run(preload(&w, "touch blocked-marker; /bin/true"), 30);
    assert!(!exists(&w.marker("blocked-marker")), "{}", stderr(&out));
    let child = spawn_preload(&w, "touch ask-marker");
    let id = d.wait_pending(1, 20)[0]["id"].as_str().unwrap().to_string();
    let out = rampart(&w, &["approve", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(finish(child, 20).status.success());
    assert!(exists(&w.marker("ask-marker")));

    let text = wait_file(&all_out, "approved ask", &|t| {
        t.contains("touch ask-marker  [test-ask] (approved) needs a human")
    });
    assert!(!text.contains('\x1b'), "no escape codes: {text:?}");
    let deny = text
        .lines()
        .find(|l| l.contains("touch blocked-marker"))
        .unwrap_or_else(|| panic!("no deny line:\n{text}"));
    // `2026-11-22T01:02:03Z deny   codex  /usr/bin/touch blocked-marker  [test-deny] test policy says no`
    let (when, rest) = deny.split_once(' ').expect("time first");
    assert!(
        when.len() == 20 && when.ends_with('Z') && when.as_bytes()[10] == b'T',
        "{deny}"
    );
    assert!(
        rest.starts_with("deny   codex  ")
            && rest.ends_with("touch blocked-marker  [test-deny] test policy says no"),
        "{deny}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("allow  codex") && l.ends_with("/true")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("waiting {id}")) && l.contains("touch ask-marker")),
        "{text}"
    );
    assert!(text.contains(&format!("approved {id}")), "{text}");

    let only = wait_file(&deny_out, "deny line", &|t| t.contains("blocked-marker"));
    assert!(
        only.lines().all(|l| l.contains(" deny ")),
        "--decision deny prints denials only:\n{only}"
    );

    // The daemon stops (promptly: it ends the open streams rather than
    // waiting them out); said on stderr, and the files are followed.
    let mut d = d;
    d.signal(libc::SIGTERM);
    d.wait_exit(20);
    assert!(
        !d.log().contains("closing connections still open"),
        "{}",
        d.log()
    );
    wait_file(&all_err, "daemon-down notice", &|t| {
        t.contains("approvals unavailable — rampart serve is not running")
    });
    let out = run(preload(&w, "touch blocked-marker-2"), 30);
    assert!(!exists(&w.marker("blocked-marker-2")), "{}", stderr(&out));
    wait_file(&all_out, "the decision from the spool", &|t| {
        t.lines()
            .any(|l| l.contains(" deny ") && l.contains("touch blocked-marker-2"))
    });
}

#[test]
fn watch_refuses_an_unknown_decision_filter() {
    let w = World::new("watch-usage");
    let out = rampart(&w, &["watch", "--decision", "maybe"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'maybe'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn watch_gives_the_terminal_back_when_killed() {
    let w = World::new("watch-sigterm");
    w.save_policy("test.yaml", crate::harness::POLICY);
    let t = Tmux::watch(&w, "sigterm", &[]);
    t.wait_for("approvals unavailable", 20);
    let tty = t.query("#{pane_tty}");
    let stty = || {
        let f = std::fs::File::open(&tty).expect("the pane's tty");
        let out = Command::new("stty")
            .arg("-a")
            .stdin(f)
            .output()
            .expect("stty");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(t.query("#{alternate_on}"), "1", "full screen while running");
    assert!(stty().contains("-icanon"), "raw mode while running");
    let pid = t.watch_pid();
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    // 128 + SIGTERM, and the terminal as it was: no alternate screen, no
    // raw mode.
    t.wait_for("watch exited with 143", 10);
    assert_eq!(t.query("#{alternate_on}"), "0");
    let modes = stty();
    assert!(
        modes.contains(" icanon") && modes.contains(" echo"),
        "cooked mode restored: {modes}"
    );
}

#[test]
fn watch_counts_the_daemons_decisions_since_it_started_and_its_own_without_one() {
    let (w, mut d) = served_with("watch-counts", &[]);
    let out = run(preload(&w, "touch blocked-marker"), 30);
    denied(&out, &w.marker("blocked-marker"));
    // A new daemon: the denial is in the files, not in its totals.
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit(10).success());
    let mut d = Daemon::start(&w, &[]);
    let t = Tmux::watch(&w, "counts", &[]);
    let pane = t.wait_for("● daemon pid", 20);
    assert!(
        line_with(&pane, &["deny 0", "since the daemon started"]).is_some(),
        "the daemon's totals, not the files':\n{pane}"
    );
    assert!(
        line_with(&pane, &["deny", "touch blocked-marker"]).is_some(),
        "the feed still shows the files' decision:\n{pane}"
    );
    let out = run(preload(&w, "touch blocked-marker-2"), 30);
    denied(&out, &w.marker("blocked-marker-2"));
    t.wait("the daemon's count of the new denial", 20, |p| {
        line_with(p, &["deny 1", "since the daemon started"]).is_some()
            && line_with(p, &["touch blocked-marker-2"]).is_some()
    });
    // No daemon: what this view has seen (both denials).
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit(10).success());
    let pane = t.wait("the view's own counts", 20, |p| {
        line_with(p, &["deny 2", "seen by this view"]).is_some()
    });
    assert!(pane.contains("approvals unavailable"), "{pane}");
}

/// A terminal that goes away (tmux killed, an ssh session dropped) must
/// not leave `rampart watch` behind: crossterm spins on the dead terminal,
/// so the view could never notice by itself.
#[test]
fn watch_exits_when_its_terminal_goes_away() {
    let w = World::new("watch-hangup");
    w.save_policy("test.yaml", crate::harness::POLICY);
    let t = Tmux::watch(&w, "hangup", &[]);
    t.wait_for("approvals unavailable", 20);
    let pid = t.watch_pid();
    let killed = tmux_cmd(&t.socket)
        .arg("kill-server")
        .status()
        .expect("tmux");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Gone, or a zombie waiting for init to reap it.
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(')').next().map(|r| r.trim().chars().next()))
            .flatten();
        if matches!(state, None | Some('Z')) {
            break;
        }
        if Instant::now() >= deadline {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("rampart watch (pid {pid}) still running 10 s after its terminal went away");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
