//! `rampart policy lint|test|compile|explain`.

use crate::style;
use policy_cache::compile::{self, PolicySet};
use policy_cache::snapshot::CondKind;
use policy_cache::{Call, Command, Snapshot, explain as explain_call, scratch_needed};
use std::path::Path;
use std::process::ExitCode;

fn load(path: &Path) -> Result<PolicySet, compile::LoadError> {
    daemon::PolicySource::Explicit(path.to_path_buf()).load()
}

/// Likely mistakes that still load: `file:line: message`.
pub fn warnings(set: &PolicySet) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in &set.policies {
        let file = set
            .files
            .get(p.file)
            .map(|(f, _)| f.display().to_string())
            .unwrap_or_default();
        if p.rules.is_empty() {
            out.push((
                format!("{file}:{}", p.line),
                format!("policy {:?} has no rules", p.name),
            ));
        }
        let mut catch_all_at = None;
        for r in &p.rules {
            let at = format!("{file}:{}", r.line);
            if let Some(line) = catch_all_at {
                out.push((
                    at.clone(),
                    format!("unreachable: the rule at line {line} matches every call first"),
                ));
            }
            if r.match_all && catch_all_at.is_none() {
                catch_all_at = Some(r.line);
            }
            if !r.match_all && r.conds.iter().all(|c| c.kind.is_negative()) {
                out.push((
                    at.clone(),
                    "this rule has only *_not_matches conditions, so it never fires".into(),
                ));
            }
            for c in &r.conds {
                if matches!(c.kind, CondKind::ResponseMatches | CondKind::CallCount) {
                    out.push((at.clone(), "response_matches and call_count are checked by the daemon's API only, never at exec time".into()));
                }
                if c.kind == CondKind::CommandMatches {
                    for pat in &c.patterns {
                        if pat.contains(" /*") && !pat.contains("/**") {
                            out.push((at.clone(), format!(
                                "{pat:?}: `*` crosses `/` here, so `/*` matches every absolute path (`rm -rf /tmp/x` too); list the directories you mean"
                            )));
                        }
                    }
                }
            }
        }
    }
    out
}

pub fn lint(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let set = match load(path) {
        Ok(s) => s,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": {"file": e.file, "line": e.line, "column": e.column, "message": e.message, "suggestion": e.suggestion}})
                );
            } else {
                eprintln!("{}: {e}", style::paint("error", "1;31"));
            }
            return Ok(ExitCode::from(1));
        }
    };
    if let Err(e) = compile::compile(&set, 0) {
        eprintln!("{}: {e}", style::paint("error", "1;31"));
        return Ok(ExitCode::from(1));
    }
    let warns = warnings(&set);
    if json {
        let w: Vec<_> = warns
            .iter()
            .map(|(at, m)| serde_json::json!({"at": at, "message": m}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"ok": true, "files": set.files.len(), "policies": set.policies.len(), "rules": set.rule_count(), "tests": set.tests.len(), "warnings": w})
        );
    } else {
        for (at, m) in &warns {
            println!("{at}: {}: {m}", style::paint("warning", "33"));
        }
        println!(
            "{}: {} — {} policies, {} rules, {} tests in {} file(s){}",
            path.display(),
            style::paint("ok", "32"),
            set.policies.len(),
            set.rule_count(),
            set.tests.len(),
            set.files.len(),
            if warns.is_empty() {
                String::new()
            } else {
                format!(", {} warning(s)", warns.len())
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn test(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let set = load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let bytes = compile::compile(&set, 0).map_err(|e| anyhow::anyhow!("{e}"))?;
    let snap = Snapshot::from_bytes(&bytes).map_err(|e| anyhow::anyhow!(e.message()))?;
    let report = compile::run_tests(&set, &snap);
    if json {
        let cases: Vec<_> = report
            .outcomes
            .iter()
            .map(|o| serde_json::json!({"name": o.name, "at": o.location, "expected": o.expected.as_str(), "actual": o.actual.as_str(), "policy": o.policy, "passed": o.passed()}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"passed": report.passed(), "failed": report.failed(), "cases": cases})
        );
    } else {
        for o in report.outcomes.iter().filter(|o| !o.passed()) {
            println!(
                "{} {} ({})\n    expected: {}\n    actual:   {}{}",
                style::paint("FAIL", "1;31"),
                o.name,
                o.location,
                o.expected.as_str(),
                o.actual.as_str(),
                o.policy
                    .as_ref()
                    .map(|p| format!(" (by {p})"))
                    .unwrap_or_else(|| " (default_action)".into())
            );
        }
        println!("{} passed, {} failed", report.passed(), report.failed());
    }
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn compile(policy: Option<&Path>, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let home = daemon::RampartHome::from_env();
    let source = daemon::PolicySource::resolve(policy, &home);
    let set = source.load().map_err(|e| anyhow::anyhow!("{e}"))?;
    let dest = out.map_or_else(|| home.snapshot_path(), Path::to_path_buf);
    let generation = compile::read_generation(&dest).map_or(1, |g| g + 1);
    let bytes = compile::compile(&set, generation).map_err(|e| anyhow::anyhow!("{e}"))?;
    compile::publish(&bytes, &dest)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", dest.display()))?;
    println!(
        "compiled {} policies, {} rules from {} → {} (generation {generation}, {} bytes)",
        set.ordered().len(),
        set.rule_count(),
        source.describe(),
        dest.display(),
        bytes.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn explain(
    command: &str,
    policy: Option<&Path>,
    agent: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (source, set, bytes) = super::load_compiled(policy)?;
    let snap = Snapshot::from_bytes(&bytes).map_err(|e| anyhow::anyhow!(e.message()))?;
    let mut call = Call::exec(Command::Shell(command.as_bytes()), set.home.as_bytes());
    call.agent = agent.as_bytes();
    let params: [(&[u8], &[u8]); 1] = [(b"command", command.as_bytes())];
    call.params = &params;
    let mut scratch = vec![0u8; scratch_needed(&call)];
    let mut segments: Vec<(String, String, String)> = Vec::new();
    let mut rules: Vec<(u32, u32)> = Vec::new();
    let d = explain_call(
        &snap,
        &call,
        &mut scratch,
        &mut |u| {
            segments.push((
                String::from_utf8_lossy(u.text).into_owned(),
                String::from_utf8_lossy(u.prog).into_owned(),
                String::from_utf8_lossy(u.names).trim().to_string(),
            ))
        },
        &mut |p, r| rules.push((p, r)),
    );
    let rule_info = |p: u32, r: u32| {
        let rec = snap.rule(r as usize);
        let name = String::from_utf8_lossy(snap.policy_name(p as usize)).into_owned();
        let action =
            policy_cache::Action::from_u32(rec.get(0)).unwrap_or(policy_cache::Action::Deny);
        let file = set
            .policies
            .iter()
            .find(|x| x.name == name)
            .and_then(|x| set.files.get(x.file))
            .map(|(f, _)| f.display().to_string())
            .unwrap_or_default();
        (
            name,
            action,
            format!("{file}:{}", rec.get(8)),
            String::from_utf8_lossy(snap.str(rec.get(1), rec.get(2))).into_owned(),
        )
    };
    if json {
        let segs: Vec<_> = segments
            .iter()
            .map(|(t, p, n)| serde_json::json!({"text": t, "program": p, "assigns": n}))
            .collect();
        let fired: Vec<_> = rules
            .iter()
            .map(|&(p, r)| {
                let (name, action, at, msg) = rule_info(p, r);
                serde_json::json!({"policy": name, "action": action.as_str(), "at": at, "message": msg})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "command": command, "segments": segs, "rules": fired,
                "decision": d.action.as_str(), "message": String::from_utf8_lossy(d.message),
                "policies_from": source.describe(),
            }))?
        );
    } else {
        println!("command:  {command}");
        println!("policies: {}", source.describe());
        println!("segments:");
        if segments.is_empty() {
            println!("  (none)");
        }
        for (i, (t, p, n)) in segments.iter().enumerate() {
            let extra = if n.is_empty() {
                String::new()
            } else {
                format!("  assigns: {n}")
            };
            println!(
                "  {}. {t}  {}{}",
                i + 1,
                style::dim(&format!("[program: {p}]")),
                style::dim(&extra)
            );
        }
        println!("rules that fire:");
        if rules.is_empty() {
            println!("  (none)");
        }
        for &(p, r) in &rules {
            let (name, action, at, msg) = rule_info(p, r);
            println!(
                "  {} {name} {}  {msg}",
                style::action(action),
                style::dim(&format!("({at})"))
            );
        }
        let why = match d.reason {
            policy_cache::Reason::Default => "default_action".to_string(),
            policy_cache::Reason::Rule => {
                "first rule of the strongest policy; deny ends evaluation".into()
            }
            policy_cache::Reason::TooLong => "input over the matching limit".into(),
            policy_cache::Reason::Unparsable(f) => f.message().into(),
        };
        println!(
            "decision: {} {}",
            style::action(d.action),
            style::dim(&format!("({why})"))
        );
    }
    Ok(if d.action == policy_cache::Action::Deny {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
