//! `rampart allow|block|ask PATTERN` and `rampart rules [remove N]`: quick
//! edits to `~/.rampart/policies/user-overrides.yaml`, and the list of every
//! rule in force. A running `rampart serve` watches the directory and
//! reloads by itself, so writing the file is the whole job.

use super::overrides::{self, QuickRule};
use crate::style;
use daemon::{PolicySource, RampartHome};
use policy_cache::compile::{self, PolicySet};
use policy_cache::snapshot::CondKind;
use policy_cache::{Action, Call, Command, Snapshot, evaluate, scratch_needed};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `rampart allow|block|ask` was asked to add.
pub struct QuickArgs<'a> {
    pub action: Action,
    pub pattern: &'a str,
    pub message: Option<&'a str>,
    pub force: bool,
}

/// The verb the user typed for an action (`deny` is spelled `block`).
fn verb(a: Action) -> &'static str {
    match a {
        Action::Deny => "block",
        other => other.as_str(),
    }
}

pub fn add(a: QuickArgs<'_>) -> anyhow::Result<ExitCode> {
    if a.pattern.trim().is_empty() {
        anyhow::bail!("the pattern is empty; give a command glob such as \"npm install *\"");
    }
    let home = RampartHome::from_env();
    let dir = home.policies_dir();
    let file = dir.join(overrides::FILE_NAME);
    let (source, current, bytes) = super::load_compiled(None)?;

    if a.action == Action::Allow
        && let Some((policy, message)) = denied_by(&current, &bytes, a.pattern)?
    {
        let at = super::policy_location(&current, &policy)
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        let why = if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        };
        if !a.force {
            eprintln!(
                "rampart: {:?} is denied by policy {policy}{at}{why}. An allow cannot override a deny (a deny ends evaluation); edit or disable that policy instead, or pass --force to write the allow anyway.",
                a.pattern
            );
            return Ok(ExitCode::from(1));
        }
        eprintln!(
            "{}: policy {policy}{at} denies {:?}; the allow is written, but the deny still wins.",
            style::paint("warning", "33"),
            a.pattern
        );
    }

    // The first quick rule in a directory without policy files would
    // replace the built-in default policy: copy it in so it stays in force.
    let seed_standard = source == PolicySource::Builtin;
    let existing = std::fs::read_to_string(&file).ok();
    let text = existing.as_deref().unwrap_or(overrides::EMPTY);
    let names = if seed_standard {
        compile::builtin::standard("")
            .map(|s| s.policies.into_iter().map(|p| p.name).collect())
            .unwrap_or_default()
    } else {
        current
            .policies
            .iter()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
    };
    let rule = QuickRule {
        name: overrides::next_name(verb(a.action), &names),
        action: a.action,
        pattern: a.pattern.to_string(),
        message: a.message.map(str::to_string),
    };
    let new_text = overrides::insert(text, &rule)
        .map_err(|e| anyhow::anyhow!("cannot add to {}: {e}", file.display()))?;
    let mut writes = vec![(file.clone(), new_text)];
    if seed_standard {
        writes.push((
            dir.join("standard.yaml"),
            compile::builtin::STANDARD_YAML.to_string(),
        ));
    }
    check(&dir, &writes)?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    for (path, text) in &writes {
        write_atomic(path, text)?;
    }
    if seed_standard {
        println!(
            "created {} (a copy of the built-in default policy, so it stays in force)",
            dir.join("standard.yaml").display()
        );
    }
    println!(
        "added {} to {}: {} {:?}",
        rule.name,
        file.display(),
        a.action.as_str(),
        a.pattern
    );
    println!(
        "{}",
        style::dim(
            "a running `rampart serve` reloads it by itself; `rampart rules` lists every rule"
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// The policy (and its message) that denies `pattern` run as a command.
fn denied_by(
    set: &PolicySet,
    bytes: &[u8],
    pattern: &str,
) -> anyhow::Result<Option<(String, String)>> {
    let snap = Snapshot::from_bytes(bytes).map_err(|e| anyhow::anyhow!(e.message()))?;
    let mut call = Call::exec(Command::Shell(pattern.as_bytes()), set.home.as_bytes());
    let params: [(&[u8], &[u8]); 1] = [(b"command", pattern.as_bytes())];
    call.params = &params;
    let mut scratch = vec![0u8; scratch_needed(&call)];
    let d = evaluate(&snap, &call, &mut scratch);
    if d.action != Action::Deny {
        return Ok(None);
    }
    let policy = d.policy.map_or_else(
        || format!("default_action ({})", set.default_action.as_str()),
        |p| String::from_utf8_lossy(snap.policy_name(p as usize)).into_owned(),
    );
    Ok(Some((
        policy,
        String::from_utf8_lossy(d.message).into_owned(),
    )))
}

/// Load and compile the policies directory as it would be after `writes`;
/// refuse with the loader's error otherwise.
fn check(dir: &Path, writes: &[(PathBuf, String)]) -> anyhow::Result<()> {
    let mut sources: Vec<(PathBuf, String)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for p in rd.filter_map(|e| e.ok().map(|e| e.path())) {
            let yaml = matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if yaml && !hidden && !writes.iter().any(|(w, _)| *w == p) {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
                sources.push((p, text));
            }
        }
    }
    sources.extend(writes.iter().cloned());
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    let home = daemon::user_home().to_string_lossy().into_owned();
    let set = PolicySet::from_sources(sources, &home).map_err(|e| {
        anyhow::anyhow!(
            "the policies would not load after this change, so nothing was written: {e}"
        )
    })?;
    compile::compile(&set, 0).map_err(|e| {
        anyhow::anyhow!(
            "the policies would not compile after this change, so nothing was written: {e}"
        )
    })?;
    Ok(())
}

/// Write through a hidden temporary file (the loader skips dot files) and
/// rename, so a reloading daemon never reads half a file.
pub fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("policy");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// The condition key as written in a policy file.
fn cond_key(k: CondKind) -> &'static str {
    match k {
        CondKind::CommandMatches => "command_matches",
        CondKind::CommandNotMatches => "command_not_matches",
        CondKind::CommandContains => "command_contains",
        CondKind::EnvAssignments => "command_env_assignments",
        CondKind::PathMatches => "path_matches",
        CondKind::PathNotMatches => "path_not_matches",
        CondKind::UrlMatches => "url_matches",
        CondKind::DomainMatches => "domain_matches",
        CondKind::SessionMatches => "session_matches",
        CondKind::SessionNotMatches => "session_not_matches",
        CondKind::ToolParamMatches => "tool_param_matches",
        CondKind::ResponseMatches => "response_matches",
        CondKind::CallCount => "call_count",
    }
}

/// One rule in force, as `rampart rules` numbers it.
struct Listed<'a> {
    number: usize,
    policy: &'a compile::Policy,
    rule: &'a compile::Rule,
    file: PathBuf,
}

/// Every rule of the enabled policies, in evaluation order, numbered from 1.
fn listed(set: &PolicySet) -> Vec<Listed<'_>> {
    let mut out = Vec::new();
    for p in set.ordered() {
        let file = set
            .files
            .get(p.file)
            .map(|(f, _)| f.clone())
            .unwrap_or_default();
        for r in &p.rules {
            out.push(Listed {
                number: out.len() + 1,
                policy: p,
                rule: r,
                file: file.clone(),
            });
        }
    }
    out
}

fn is_overrides(source: &PolicySource, file: &Path) -> bool {
    matches!(source, PolicySource::UserDir(_))
        && file.file_name().and_then(|n| n.to_str()) == Some(overrides::FILE_NAME)
}

pub fn list(as_json: bool) -> anyhow::Result<ExitCode> {
    let (source, set, _) = super::load_compiled(None)?;
    let rules = listed(&set);
    if as_json {
        let items: Vec<_> = rules
            .iter()
            .map(|l| {
                let conds: Vec<_> = l
                    .rule
                    .conds
                    .iter()
                    .map(|c| {
                        let mut v = json!({"key": cond_key(c.kind), "patterns": c.patterns});
                        if !c.param.is_empty() {
                            v["param"] = json!(c.param);
                        }
                        v
                    })
                    .collect();
                json!({
                    "number": l.number,
                    "action": l.rule.action.as_str(),
                    "policy": l.policy.name,
                    "priority": l.policy.priority,
                    "match": {"agent": l.policy.agent, "session": l.policy.session, "tool": l.policy.tool},
                    "conditions": conds,
                    "match_all": l.rule.match_all,
                    "message": l.rule.message,
                    "file": l.file.display().to_string(),
                    "line": l.rule.line,
                    "removable": is_overrides(&source, &l.file),
                })
            })
            .collect();
        let v = json!({
            "source": source.describe(),
            "default_action": set.default_action.as_str(),
            "rules": items,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} rules from {} (in evaluation order; a deny ends evaluation)",
        rules.len(),
        source.describe()
    );
    let width = rules.len().to_string().len();
    for l in &rules {
        let label_pad = " ".repeat(5usize.saturating_sub(l.rule.action.as_str().len()));
        println!(
            "{:>width$}. {}{label_pad} {} {}",
            l.number,
            style::action(l.rule.action),
            l.policy.name,
            style::dim(&format!(
                "({}:{}, priority {})",
                l.file.display(),
                l.rule.line,
                l.policy.priority
            )),
        );
        let pad = " ".repeat(width + 2);
        let scope: Vec<String> = [
            ("agent", &l.policy.agent),
            ("session", &l.policy.session),
            ("tool", &l.policy.tool),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty() && v.iter().any(|g| g != "*"))
        .map(|(k, v)| format!("{k}: {}", v.join(", ")))
        .collect();
        if !scope.is_empty() {
            println!("{pad}match: {}", scope.join("; "));
        }
        if l.rule.match_all {
            println!("{pad}when:  every call the policy matches");
        }
        for c in &l.rule.conds {
            let pats: Vec<String> = c.patterns.iter().map(|p| format!("{p:?}")).collect();
            let key = if c.param.is_empty() {
                cond_key(c.kind).to_string()
            } else {
                format!("{}.{}", cond_key(c.kind), c.param)
            };
            println!("{pad}{key}: {}", pats.join(", "));
        }
        if !l.rule.message.is_empty() {
            println!("{pad}message: {}", l.rule.message);
        }
    }
    println!(
        "default_action: {} (when no rule decides)",
        set.default_action.as_str()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn remove(number: usize) -> anyhow::Result<ExitCode> {
    let (source, set, _) = super::load_compiled(None)?;
    let rules = listed(&set);
    let Some(l) = rules.iter().find(|l| l.number == number) else {
        anyhow::bail!(
            "there is no rule {number}: `rampart rules` lists {} rules",
            rules.len()
        );
    };
    if !is_overrides(&source, &l.file) {
        anyhow::bail!(
            "rule {number} (policy {}) is in {}, not in {}; only quick rules can be removed here, so edit that file (or copy it with `rampart init`) instead",
            l.policy.name,
            l.file.display(),
            overrides::FILE_NAME
        );
    }
    if l.policy.rules.len() != 1 {
        anyhow::bail!(
            "rule {number} belongs to policy {}, which has {} rules; remove it by editing {} (line {})",
            l.policy.name,
            l.policy.rules.len(),
            l.file.display(),
            l.rule.line
        );
    }
    let text = std::fs::read_to_string(&l.file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", l.file.display()))?;
    let new_text = overrides::remove(&text, &l.policy.name, l.policy.line).map_err(|e| {
        anyhow::anyhow!("cannot remove rule {number} from {}: {e}", l.file.display())
    })?;
    let dir = l.file.parent().map_or_else(PathBuf::new, Path::to_path_buf);
    check(&dir, &[(l.file.clone(), new_text.clone())])?;
    write_atomic(&l.file, &new_text)?;
    println!(
        "removed rule {number} ({}: {} {}) from {}",
        l.policy.name,
        l.rule.action.as_str(),
        l.rule
            .conds
            .iter()
            .flat_map(|c| c.patterns.iter().map(|p| format!("{p:?}")))
            .collect::<Vec<_>>()
            .join(", "),
        l.file.display()
    );
    Ok(ExitCode::SUCCESS)
}
