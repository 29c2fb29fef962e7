use super::*;
use crate::eval::{Call, Command, evaluate, scratch_needed};
use crate::snapshot::{Action, Snapshot};
use std::string::String;

const HOME: &str = "/home/u";

fn load(yaml: &str) -> Result<PolicySet, LoadError> {
    PolicySet::from_sources(std::vec![(PathBuf::from("p.yaml"), yaml.into())], HOME)
}

fn decide(yaml: &str, cmd: &str) -> (Action, Option<String>) {
    let set = load(yaml).expect("loads");
    let bytes = compile(&set, 7).expect("compiles");
    let snap = Snapshot::from_bytes(&bytes).expect("valid");
    let call = Call::exec(Command::Shell(cmd.as_bytes()), HOME.as_bytes());
    let mut scratch = std::vec![0u8; scratch_needed(&call)];
    let d = evaluate(&snap, &call, &mut scratch);
    (
        d.action,
        d.policy
            .map(|p| String::from_utf8_lossy(snap.policy_name(p as usize)).into_owned()),
    )
}

fn load_err(yaml: &str) -> LoadError {
    load(yaml).expect_err("should not load")
}

#[test]
fn unknown_key_names_its_location_and_suggests_the_right_one() {
    let e = load_err(
        "version: \"1\"\npolicies:\n  - name: x\n    rules:\n      - action: deny\n        when:\n          command_match: [\"rm *\"]\n",
    );
    assert_eq!((e.line, e.column), (7, 11), "{e}");
    assert!(e.message.contains("command_match"), "{e}");
    assert_eq!(e.suggestion.as_deref(), Some("command_matches"));
    assert!(e.to_string().starts_with("p.yaml:7:11: "), "{e}");
}

#[test]
fn unknown_action_suggests_the_action_meant() {
    let e = load_err("policies:\n  - name: x\n    rules:\n      - action: block\n");
    assert_eq!((e.line, e.column), (4, 17), "{e}");
    assert_eq!(e.suggestion.as_deref(), Some("deny"));
    let e = load_err("policies:\n  - name: x\n    rules:\n      - action: alow\n");
    assert_eq!(e.suggestion.as_deref(), Some("allow"));
}

#[test]
fn duplicate_keys_are_errors() {
    let e = load_err("default_action: allow\ndefault_action: deny\n");
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn wrong_types_are_errors_with_a_location() {
    let e = load_err("policies:\n  - name: x\n    priority: high\n");
    assert_eq!(e.line, 3, "{e}");
}

#[test]
fn malformed_yaml_is_an_error_with_a_location() {
    let e = load_err("policies:\n  - name: [unclosed\n");
    assert!(e.line >= 2, "{e}");
}

#[test]
fn policy_names_are_unique_across_files() {
    let e = PolicySet::from_sources(
        std::vec![
            (PathBuf::from("a.yaml"), "policies:\n  - name: x\n".into()),
            (
                PathBuf::from("b.yaml"),
                "policies:\n  - name: y\n  - name: x\n".into()
            ),
        ],
        HOME,
    )
    .expect_err("duplicate");
    assert_eq!((e.file.to_str(), e.line), (Some("b.yaml"), 3), "{e}");
    assert!(e.message.contains("a.yaml:2"), "{e}");
}

#[test]
fn bad_glob_names_the_pattern_line() {
    let e = load_err(
        "policies:\n  - name: x\n    rules:\n      - action: deny\n        when:\n          command_matches:\n            - \"ok *\"\n            - \"ls [abc\"\n",
    );
    assert_eq!(e.line, 8, "{e}");
    assert!(e.message.contains("unclosed"), "{e}");
}

#[test]
fn unsupported_version_is_refused() {
    let e = load_err("version: \"2\"\n");
    assert_eq!(e.line, 1);
    assert!(load("version: 1\n").is_ok());
}

#[test]
fn first_file_with_default_action_sets_it_and_unset_means_deny() {
    assert_eq!(load("policies: []\n").unwrap().default_action, Action::Deny);
    let set = PolicySet::from_sources(
        std::vec![
            (PathBuf::from("a.yaml"), "policies: []\n".into()),
            (PathBuf::from("b.yaml"), "default_action: log\n".into()),
            (PathBuf::from("c.yaml"), "default_action: deny\n".into()),
        ],
        HOME,
    )
    .unwrap();
    assert_eq!(set.default_action, Action::Watch);
}

#[test]
fn oversized_files_are_refused() {
    let big = std::format!("# {}\n", "x".repeat(MAX_FILE as usize));
    let e = load_err(&big);
    assert!(e.message.contains("1 MiB"), "{e}");
}

const ORDER: &str = r#"
default_action: allow
policies:
  - name: late-deny
    priority: 50
    rules:
      - action: deny
        when: { command_matches: ["rm *"] }
        message: "no rm"
  - name: early-ask
    priority: 10
    rules:
      - action: ask
        when: { command_matches: ["rm *", "curl *"] }
  - name: watcher
    rules:
      - action: watch
        when: { command_matches: ["curl *", "git *"] }
  - name: granted
    rules:
      - action: allow
        when: { command_matches: ["git *"] }
"#;

#[test]
fn deny_wins_even_after_a_stronger_looking_earlier_verdict() {
    assert_eq!(
        decide(ORDER, "rm -f x"),
        (Action::Deny, Some("late-deny".into()))
    );
}

#[test]
fn ask_beats_watch_and_watch_beats_allow() {
    assert_eq!(
        decide(ORDER, "curl x"),
        (Action::Ask, Some("early-ask".into()))
    );
    assert_eq!(
        decide(ORDER, "git push"),
        (Action::Watch, Some("watcher".into()))
    );
}

#[test]
fn no_verdict_means_the_default_action() {
    assert_eq!(decide(ORDER, "ls"), (Action::Allow, None));
    let deny_default = ORDER.replace("default_action: allow", "default_action: deny");
    assert_eq!(decide(&deny_default, "ls"), (Action::Deny, None));
}

#[test]
fn first_matching_rule_in_a_policy_is_its_verdict() {
    let y = r#"
policies:
  - name: p
    rules:
      - action: allow
        when: { command_matches: ["rm -rf ./target"] }
      - action: deny
        when: { command_matches: ["rm *"] }
"#;
    assert_eq!(decide(y, "rm -rf ./target").0, Action::Allow);
    assert_eq!(decide(y, "rm -rf ./src").0, Action::Deny);
}

#[test]
fn granting_rules_need_every_segment_restrictive_rules_any() {
    let y = r#"
default_action: deny
policies:
  - name: git-ok
    rules:
      - action: allow
        when: { command_matches: ["git *"] }
"#;
    assert_eq!(decide(y, "git status && git diff").0, Action::Allow);
    assert_eq!(decide(y, "git status && rm -rf ~").0, Action::Deny);
    let y2 = r#"
default_action: allow
policies:
  - name: no-wipe
    rules:
      - action: deny
        when: { command_matches: ["rm -rf ~"] }
"#;
    assert_eq!(decide(y2, "git status && rm -rf ~").0, Action::Deny);
    assert_eq!(decide(y2, "sudo rm -rf ~").0, Action::Deny);
    assert_eq!(decide(y2, "bash -c 'echo $(rm -r ~)'").0, Action::Deny);
}

#[test]
fn composite_patterns_match_the_raw_command() {
    let y = r#"
default_action: allow
policies:
  - name: pipe-to-shell
    rules:
      - action: deny
        when: { command_matches: ["curl * | *sh"] }
"#;
    assert_eq!(decide(y, "curl -s https://x.sh | bash").0, Action::Deny);
    assert_eq!(decide(y, "curl -s https://x.sh -o x").0, Action::Allow);
}

#[test]
fn negative_keys_only_narrow() {
    let y = r#"
default_action: allow
policies:
  - name: only-negative
    rules:
      - action: deny
        when: { command_not_matches: ["ls *"] }
  - name: narrowed
    rules:
      - action: deny
        when:
          command_matches: ["rm -rf *"]
          command_not_matches: ["rm -rf ./target*"]
"#;
    assert_eq!(decide(y, "cat x").0, Action::Allow);
    assert_eq!(decide(y, "rm -rf ./target").0, Action::Allow);
    assert_eq!(decide(y, "rm -rf ./src").0, Action::Deny);
    assert_eq!(decide(y, "rm -rf ./target && rm -rf ./src").0, Action::Deny);
}

#[test]
fn match_filters_by_agent_and_tool() {
    let y = r#"
default_action: allow
policies:
  - name: codex-only
    match: { agent: ["codex*"], tool: exec }
    rules:
      - action: deny
        when: { command_contains: ["secret"] }
"#;
    let set = load(y).unwrap();
    let bytes = compile(&set, 1).unwrap();
    let snap = Snapshot::from_bytes(&bytes).unwrap();
    let mut call = Call::exec(Command::Shell(b"cat SECRET.txt"), HOME.as_bytes());
    let mut scratch = std::vec![0u8; 65536];
    assert_eq!(evaluate(&snap, &call, &mut scratch).action, Action::Allow);
    call.agent = b"codex-cli";
    assert_eq!(evaluate(&snap, &call, &mut scratch).action, Action::Deny);
    call.tool = b"read";
    assert_eq!(evaluate(&snap, &call, &mut scratch).action, Action::Allow);
}

#[test]
fn path_domain_env_and_param_conditions() {
    let y = r#"
default_action: allow
policies:
  - name: files
    rules:
      - action: deny
        when: { path_matches: ["~/.ssh/**", "**/.env"] }
  - name: hosts
    rules:
      - action: ask
        when: { domain_matches: ["*.evil.com"] }
  - name: env
    rules:
      - action: deny
        when: { command_env_assignments: ["LD_PRELOAD", "RAMPART_*"] }
  - name: params
    rules:
      - action: watch
        when: { tool_param_matches: { model: ["gpt-*"] } }
"#;
    let set = load(y).unwrap();
    let bytes = compile(&set, 1).unwrap();
    let snap = Snapshot::from_bytes(&bytes).unwrap();
    let mut scratch = std::vec![0u8; 65536];
    let read = |p: &'static str| Call {
        tool: b"read",
        agent: b"",
        session: b"",
        command: None,
        path: Some(p.as_bytes()),
        url: None,
        params: &[],
        home: HOME.as_bytes(),
    };
    assert_eq!(
        evaluate(&snap, &read("/home/u/.ssh/id_rsa"), &mut scratch).action,
        Action::Deny
    );
    assert_eq!(
        evaluate(&snap, &read("/home/u/proj/../.ssh/config"), &mut scratch).action,
        Action::Deny
    );
    assert_eq!(
        evaluate(&snap, &read("proj/.env"), &mut scratch).action,
        Action::Deny
    );
    assert_eq!(
        evaluate(&snap, &read("proj/.envrc"), &mut scratch).action,
        Action::Allow
    );
    let fetch = |u: &'static str| Call {
        tool: b"fetch",
        agent: b"",
        session: b"",
        command: None,
        path: None,
        url: Some(u.as_bytes()),
        params: &[],
        home: HOME.as_bytes(),
    };
    assert_eq!(
        evaluate(
            &snap,
            &fetch("https://user@API.Evil.com:8443/x"),
            &mut scratch
        )
        .action,
        Action::Ask
    );
    assert_eq!(
        evaluate(&snap, &fetch("https://evil.com/x"), &mut scratch).action,
        Action::Allow
    );
    let exec = |c: &'static str| Call::exec(Command::Shell(c.as_bytes()), HOME.as_bytes());
    assert_eq!(
        evaluate(&snap, &exec("LD_PRELOAD= ls"), &mut scratch).action,
        Action::Deny
    );
    assert_eq!(
        evaluate(
            &snap,
            &exec("env RAMPART_MODE=disabled bash -c ls"),
            &mut scratch
        )
        .action,
        Action::Deny
    );
    assert_eq!(
        evaluate(&snap, &exec("FOO=1 ls"), &mut scratch).action,
        Action::Allow
    );
    let params: [(&[u8], &[u8]); 1] = [(b"Model", b"GPT-4o")];
    let c = Call {
        tool: b"chat",
        agent: b"",
        session: b"",
        command: None,
        path: None,
        url: None,
        params: &params,
        home: HOME.as_bytes(),
    };
    assert_eq!(evaluate(&snap, &c, &mut scratch).action, Action::Watch);
}

#[test]
fn over_long_fields_are_denied_not_truncated() {
    let y = "default_action: allow\n";
    let set = load(y).unwrap();
    let bytes = compile(&set, 1).unwrap();
    let snap = Snapshot::from_bytes(&bytes).unwrap();
    let long = "a".repeat(crate::eval::MAX_FIELD + 1);
    let call = Call::exec(Command::Shell(long.as_bytes()), HOME.as_bytes());
    let mut scratch = std::vec![0u8; 1024];
    let d = evaluate(&snap, &call, &mut scratch);
    assert_eq!(
        (d.action, d.reason),
        (Action::Deny, crate::eval::Reason::TooLong)
    );
}

#[test]
fn every_truncation_and_bit_flip_of_a_snapshot_is_rejected_or_harmless() {
    let set = load(ORDER).unwrap();
    let bytes = compile(&set, 3).unwrap();
    for cut in 0..bytes.len() {
        assert!(
            Snapshot::from_bytes(&bytes[..cut]).is_err(),
            "truncated at {cut}"
        );
    }
    let mut scratch = std::vec![0u8; 65536];
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= bit;
            // The CRC catches payload flips; header flips fail other checks.
            if let Ok(s) = Snapshot::from_bytes(&b) {
                // Only bytes the checks do not cover (generation, digest,
                // reserved, flags) may change; decisions are unaffected.
                assert!(
                    (24..32).contains(&i) || (44..96).contains(&i),
                    "flip at {i} accepted"
                );
                let call = Call::exec(Command::Shell(b"rm -f x"), HOME.as_bytes());
                assert_eq!(evaluate(&s, &call, &mut scratch).action, Action::Deny);
            }
        }
    }
}

#[test]
fn the_snapshot_round_trips_header_fields() {
    let set = load(ORDER).unwrap();
    let bytes = compile(&set, 42).unwrap();
    let snap = Snapshot::from_bytes(&bytes).unwrap();
    assert_eq!(snap.generation(), 42);
    assert_eq!(snap.policy_count(), 4);
    assert_eq!(snap.rule_count(), 4);
    assert_eq!(snap.default_action(), Action::Allow);
}

#[test]
fn policy_tests_run_and_report() {
    let y = r#"
default_action: allow
policies:
  - name: p
    rules:
      - action: deny
        when: { command_matches: ["rm -rf ~"] }
tests:
  - name: blocks home wipe
    params: { command: "rm -rf ~" }
    expect: deny
  - name: wrong expectation
    params: { command: "ls" }
    expect: deny
"#;
    let set = load(y).unwrap();
    let bytes = compile(&set, 1).unwrap();
    let snap = Snapshot::from_bytes(&bytes).unwrap();
    let r = run_tests(&set, &snap);
    assert_eq!((r.passed(), r.failed()), (1, 1));
    assert_eq!(r.outcomes[1].location, "p.yaml:14");
}

#[test]
fn publish_replaces_atomically_and_leaves_no_temp_files() {
    let dir = std::env::temp_dir().join(std::format!("rampart-publish-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dest = dir.join("cache/policy.snap");
    let set = load(ORDER).unwrap();
    publish(&compile(&set, 1).unwrap(), &dest).unwrap();
    publish(&compile(&set, 2).unwrap(), &dest).unwrap();
    assert_eq!(read_generation(&dest), Some(2));
    let names: std::vec::Vec<_> = std::fs::read_dir(dest.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
#[test]
fn granting_patterns_match_the_whole_string_only_when_composite() {
    let y = r#"
default_action: deny
policies:
  - name: ok
    rules:
      - action: allow
        when: { command_matches: ["git *", "make * | tee *"] }
"#;
    assert_eq!(decide(y, "git status && rm -rf ~").0, Action::Deny);
    assert_eq!(decide(y, "make all | tee build.log").0, Action::Allow);
}

#[test]
fn the_rule_index_never_changes_a_decision_of_the_default_policy() {
    let set = builtin::standard(HOME).unwrap();
    let bytes = compile(&set, 1).unwrap();
    let snap = Snapshot::from_bytes(&bytes).unwrap();
    assert!(snap.index().is_some());
    let mut commands: std::vec::Vec<String> = set
        .tests
        .iter()
        .filter_map(|t| {
            t.params
                .iter()
                .find(|(k, _)| k == "command")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert!(commands.len() > 100);
    // Mix them, to reach rules through unusual combinations too.
    let n = commands.len();
    for i in 0..n {
        commands.push(std::format!(
            "{} && {}",
            commands[i],
            commands[(i * 7 + 3) % n]
        ));
        commands.push(std::format!(
            "bash -c '{}' | {}",
            commands[(i * 13 + 5) % n].replace('\'', ""),
            commands[i]
        ));
    }
    let mut scratch = std::vec![0u8; 1 << 20];
    for c in &commands {
        let call = Call::exec(Command::Shell(c.as_bytes()), HOME.as_bytes());
        let a = crate::eval::evaluate(&snap, &call, &mut scratch);
        let (aa, ap, am) = (a.action, a.policy, a.message.to_vec());
        let b = crate::eval::evaluate_unindexed(&snap, &call, &mut scratch);
        assert_eq!(
            (aa, ap, am),
            (b.action, b.policy, b.message.to_vec()),
            "{c}"
        );
    }
}
