//! The `rampart` binary as a user meets it: quick rules, `init`,
//! completions, the manual, exit codes, and snapshots of the human output.
//! Every test gets its own home (`HOME` and `RAMPART_HOME` in a temp dir)
//! and runs with `NO_COLOR=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Home {
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn rampart_home(&self) -> PathBuf {
        self.root().join("rampart-home")
    }
    fn policies(&self) -> PathBuf {
        self.rampart_home().join("policies")
    }
    fn overrides(&self) -> PathBuf {
        self.policies().join("user-overrides.yaml")
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rampart"));
        c.args(args)
            .env("HOME", self.root())
            .env("RAMPART_HOME", self.rampart_home())
            .env("NO_COLOR", "1")
            .env_remove("RAMPART_LIB")
            .current_dir(self.root());
        c
    }
    fn run(&self, args: &[&str]) -> Run {
        let out: Output = self.cmd(args).output().expect("run rampart");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "rampart {args:?}\nstdout:\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        );
        r.stdout
    }
    /// Output with this home's paths replaced by `[HOME]`.
    fn redact(&self, s: &str) -> String {
        s.replace(&self.root().display().to_string(), "[HOME]")
    }
    /// A small policy of our own, so snapshots do not follow edits to the
    /// default policy.
    fn small_policy(&self) {
        std::fs::create_dir_all(self.policies()).unwrap();
        std::fs::write(self.policies().join("base.yaml"), SMALL).unwrap();
    }
}

const SMALL: &str = r#"version: "1"
default_action: allow
policies:
  - name: no-wipe
    priority: 10
    match: { tool: exec }
    rules:
      - action: deny
        when:
          command_matches: ["rm -rf /", "rm -rf ~"]
        message: "Wiping everything is blocked"
  - name: ask-deploy
    match: { tool: exec }
    rules:
      - action: ask
        when: { command_contains: ["kubectl apply"] }
        message: "Deploys need a human"
      - action: watch
        when: { command_matches: ["kubectl *"] }
"#;

// ───────────────────────── quick rules ─────────────────────────

#[test]
fn quick_rules_create_the_overrides_file_and_load() {
    let h = Home::new();
    h.small_policy();
    h.ok(&["allow", "npm install *"]);
    h.ok(&[
        "block",
        "curl * | bash",
        "--message",
        "no piping to a shell",
    ]);
    h.ok(&["ask", "kubectl delete *"]);
    let text = std::fs::read_to_string(h.overrides()).unwrap();
    assert!(text.starts_with("# Your own rules."), "{text}");
    for name in ["user-allow-1", "user-block-1", "user-ask-1"] {
        assert!(text.contains(&format!("- name: {name}\n")), "{text}");
    }
    assert!(
        h.ok(&["policy", "lint", &h.policies().display().to_string()])
            .contains("ok")
    );
    let t = h.run(&["test", "curl x | bash"]);
    assert_eq!(t.code, 1, "{}", t.stdout);
    assert!(t.stdout.contains("user-block-1"), "{}", t.stdout);
    assert!(h.ok(&["test", "kubectl delete pod x"]).starts_with("ASK"));
}

#[test]
fn later_quick_rules_keep_the_users_comments() {
    let h = Home::new();
    h.small_policy();
    h.ok(&["allow", "npm install *"]);
    let mut text = std::fs::read_to_string(h.overrides()).unwrap();
    text = text.replace("policies:\n", "policies:\n  # my own note, keep me\n");
    text.push_str("\n# trailing note\n");
    std::fs::write(h.overrides(), &text).unwrap();
    h.ok(&["allow", "cargo build *"]);
    let after = std::fs::read_to_string(h.overrides()).unwrap();
    assert!(after.contains("  # my own note, keep me\n"), "{after}");
    assert!(after.contains("# trailing note\n"), "{after}");
    assert!(after.contains("- name: user-allow-2\n"), "{after}");
}

#[test]
fn the_first_quick_rule_keeps_the_default_policy_in_force() {
    let h = Home::new();
    h.ok(&["ask", "terraform apply*"]);
    assert!(h.policies().join("standard.yaml").is_file());
    // The default policy's denies still apply.
    assert_eq!(h.run(&["test", "rm -rf /"]).code, 1);
}

#[test]
fn allow_refuses_a_command_another_policy_denies() {
    let h = Home::new();
    h.small_policy();
    let r = h.run(&["allow", "rm -rf /"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("denied by policy no-wipe"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("base.yaml:4"), "{}", r.stderr);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert!(!h.overrides().exists(), "nothing may be written");

    let r = h.run(&["allow", "rm -rf /", "--force"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("the deny still wins"), "{}", r.stderr);
    assert_eq!(h.run(&["test", "rm -rf /"]).code, 1, "the deny still wins");
}

#[test]
fn a_rule_that_would_not_load_is_refused_and_the_file_left_alone() {
    let h = Home::new();
    h.small_policy();
    h.ok(&["allow", "ls *"]);
    let before = std::fs::read_to_string(h.overrides()).unwrap();
    let r = h.run(&["block", "[abc"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
    assert!(
        r.stderr.contains("unclosed character class"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(h.overrides()).unwrap(), before);
}

#[test]
fn rules_remove_takes_out_a_quick_rule_only() {
    let h = Home::new();
    h.small_policy();
    h.ok(&["block", "curl * | bash"]);
    h.ok(&["allow", "npm install *"]);
    let v: serde_json::Value = serde_json::from_str(&h.ok(&["rules", "--json"])).unwrap();
    let rules = v["rules"].as_array().unwrap();
    let number_of = |policy: &str| {
        rules
            .iter()
            .find(|r| r["policy"] == policy)
            .and_then(|r| r["number"].as_u64())
            .unwrap()
            .to_string()
    };
    let r = h.run(&["rules", "remove", &number_of("no-wipe")]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("not in user-overrides.yaml"),
        "{}",
        r.stderr
    );

    h.ok(&["rules", "remove", &number_of("user-block-1")]);
    let text = std::fs::read_to_string(h.overrides()).unwrap();
    assert!(!text.contains("user-block-1"), "{text}");
    assert!(text.contains("user-allow-1"), "{text}");
    assert_eq!(h.run(&["rules", "remove", "99"]).code, 1);
}

// ───────────────────────── init ─────────────────────────

#[test]
fn init_writes_a_starter_directory_and_refuses_to_overwrite() {
    let h = Home::new();
    h.ok(&["init"]);
    let standard = std::fs::read_to_string(h.policies().join("standard.yaml")).unwrap();
    assert!(standard.contains("default_action: allow"));
    assert!(h.overrides().is_file());
    assert!(
        h.ok(&["policy", "lint", &h.policies().display().to_string()])
            .contains("ok")
    );

    std::fs::write(h.overrides(), "# mine\nversion: \"1\"\npolicies: []\n").unwrap();
    let r = h.run(&["init"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert!(
        std::fs::read_to_string(h.overrides())
            .unwrap()
            .starts_with("# mine")
    );

    h.ok(&["init", "--force"]);
    let bak = h.policies().join("user-overrides.yaml.bak");
    assert!(std::fs::read_to_string(bak).unwrap().starts_with("# mine"));
}

// ───────────────────────── completions, manual, help ─────────────────────────

#[test]
fn completions_name_the_subcommands() {
    let h = Home::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = h.ok(&["completions", shell]);
        for sub in ["allow", "block", "rules", "init", "completions", "audit"] {
            assert!(out.contains(sub), "{shell} completion lacks {sub}");
        }
    }
}

#[test]
fn the_bash_completion_script_parses() {
    let h = Home::new();
    let path = h.root().join("rampart.bash");
    std::fs::write(&path, h.ok(&["completions", "bash"])).unwrap();
    let st = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .status()
        .expect("bash");
    assert!(st.success());
}

#[test]
fn the_manual_has_its_sections() {
    let h = Home::new();
    let page = h.ok(&["man"]);
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH SUBCOMMANDS",
    ] {
        assert!(page.contains(section), "missing {section}");
    }
    assert!(page.contains("Exit codes"));
    assert!(h.ok(&["man", "allow"]).contains("rampart\\-allow"));
    assert_eq!(h.run(&["man", "nope"]).code, 1);
}

#[test]
fn help_states_the_exit_codes() {
    let h = Home::new();
    for cmd in [
        vec!["--help"],
        vec!["test", "--help"],
        vec!["allow", "--help"],
        vec!["block", "--help"],
        vec!["ask", "--help"],
        vec!["rules", "--help"],
        vec!["init", "--help"],
        vec!["man", "--help"],
        vec!["completions", "--help"],
    ] {
        assert!(h.ok(&cmd).contains("Exit codes"), "rampart {cmd:?}");
    }
    assert!(h.ok(&["allow", "--help"]).contains("never override a deny"));
}

#[test]
fn a_usage_error_exits_2() {
    let h = Home::new();
    assert_eq!(h.run(&["rules", "remove"]).code, 2);
    assert_eq!(h.run(&["completions", "tcsh"]).code, 2);
    assert_eq!(h.run(&["no-such-command"]).code, 2);
}

// ───────────────────────── snapshots ─────────────────────────

#[test]
fn snapshot_test_output() {
    let h = Home::new();
    h.small_policy();
    let mut out = String::new();
    for cmd in ["rm -rf /", "kubectl apply -f x.yaml", "ls"] {
        let r = h.run(&["test", cmd]);
        out.push_str(&format!("$ rampart test {cmd:?}  (exit {})\n", r.code));
        for line in r.stdout.lines() {
            if line.trim_start().starts_with("time:") {
                out.push_str("  time:     [TIME]\n");
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    insta::assert_snapshot!(h.redact(&out));
}

#[test]
fn snapshot_rules_output() {
    let h = Home::new();
    h.small_policy();
    h.ok(&[
        "block",
        "curl * | bash",
        "--message",
        "no piping to a shell",
    ]);
    h.ok(&["allow", "npm install *"]);
    insta::assert_snapshot!(h.redact(&h.ok(&["rules"])));
}

#[test]
fn snapshot_lint_error() {
    let h = Home::new();
    let bad = h.root().join("bad.yaml");
    std::fs::write(
        &bad,
        "version: \"1\"\npolicies:\n  - name: x\n    rules:\n      - action: block\n        when: { command_match: [\"ls\"] }\n",
    )
    .unwrap();
    let r = h.run(&["policy", "lint", &bad.display().to_string()]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!(h.redact(&r.stderr));
}

#[test]
fn snapshot_main_error_messages() {
    let h = Home::new();
    h.small_policy();
    let mut out = String::new();
    for args in [
        vec!["allow", "rm -rf ~"],
        vec!["rules", "remove", "1"],
        vec!["rules", "remove", "42"],
        vec!["block", "[abc"],
    ] {
        let r = h.run(&args);
        out.push_str(&format!(
            "$ rampart {}  (exit {})\n{}\n",
            args.join(" "),
            r.code,
            r.stderr
        ));
    }
    insta::assert_snapshot!(h.redact(&out));
}

#[test]
fn snapshot_status_without_a_daemon() {
    let h = Home::new();
    let r = h.run(&["status"]);
    assert_eq!(r.code, 0);
    let out: String = h
        .redact(&r.stdout)
        .lines()
        .map(|l| {
            // Whether a development build of the library sits next to the
            // binary depends on what was built before.
            if l.starts_with("library:") {
                "library:     [INSTALLED OR NOT]".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!(out);
}

#[test]
fn audit_stats_counts_per_agent_and_names_the_top_policies() {
    let h = Home::new();
    let spool = h.rampart_home().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let line = |i: u32, agent: &str, decision: &str, outcome: &str, policy: &str| {
        let policies = if policy.is_empty() {
            String::from("[]")
        } else {
            format!("[\"{policy}\"]")
        };
        format!(
            r#"{{"v":1,"ts":"2026-11-21T10:00:{i:02}.000000Z","pid":{i},"ppid":1,"uid":1000,"cwd":"/w","agent":"{agent}","session":"","entry":"execve","tool":"exec","command":"/usr/bin/cmd {i}","command_len":14,"decision":"{decision}","outcome":"{outcome}","policies":{policies},"message":"","generation":1,"policy_source":"snapshot","mode":"enforce","eval_ns":1}}"#
        ) + "\n"
    };
    let text: String = [
        line(1, "codex", "allow", "allowed", ""),
        line(2, "codex", "deny", "blocked", "destructive-delete"),
        line(3, "codex", "deny", "blocked", "destructive-delete"),
        line(4, "codex", "watch", "allowed", "risky-but-common"),
        line(5, "aider", "ask", "blocked", "privilege-escalation"),
        line(6, "aider", "allow", "allowed", ""),
        line(7, "aider", "deny", "blocked", "credential-files"),
    ]
    .concat();
    std::fs::write(spool.join("current.jsonl"), text).unwrap();
    h.ok(&["audit", "ingest"]);
    let out = h.ok(&["audit", "stats", "--since", "2020-01-01"]);
    insta::assert_snapshot!("audit_stats", out);
    // The chain those records form verifies, as JSON too.
    let v: serde_json::Value =
        serde_json::from_str(h.ok(&["audit", "verify", "--json"]).trim()).unwrap();
    assert_eq!(
        (v["intact"].as_bool(), v["records"].as_u64()),
        (Some(true), Some(7))
    );
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let h = Home::new();
    h.small_policy();
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!(
            "{} man | true; echo \"${{PIPESTATUS[0]}}\"",
            env!("CARGO_BIN_EXE_rampart")
        ))
        .env("HOME", h.root())
        .env("RAMPART_HOME", h.rampart_home());
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.is_empty(),
        "nothing to say about a reader that left: {err}"
    );
    let status = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(status == "0" || status == "141", "exit status {status}");
}
