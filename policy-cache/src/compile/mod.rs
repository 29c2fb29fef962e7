//! YAML policies → snapshot bytes (feature `compile`).
//!
//! ```
//! use policy_cache::compile::{PolicySet, compile};
//! use policy_cache::{Call, Command, Snapshot, evaluate, Action};
//! let yaml = r#"
//! version: "1"
//! default_action: allow
//! policies:
//!   - name: no-wipe
//!     rules:
//!       - action: deny
//!         when: { command_matches: ["rm -rf ~"] }
//!         message: "Deleting your home directory is blocked"
//! "#;
//! let set = PolicySet::from_str("example.yaml", yaml).unwrap();
//! let bytes = compile(&set, 1).unwrap();
//! let snap = Snapshot::from_bytes(&bytes).unwrap();
//! let mut scratch = vec![0u8; 64 * 1024];
//! let call = Call::exec(Command::Shell(b"cd /tmp; rm -fr $HOME"), b"/home/me");
//! assert_eq!(evaluate(&snap, &call, &mut scratch).action, Action::Deny);
//! ```

mod build;
pub mod builtin;
mod error;
mod pattern;
mod publish;
mod schema;
mod testing;

pub use build::{compile, compile_builtin, source_digest};
pub use error::LoadError;
pub use pattern::MAX_PATTERN;
pub use publish::{publish, read_generation};
pub use testing::{TestOutcome, TestReport, run_tests};

use crate::snapshot::Action;
use schema::{FileDoc, Patterns, WhenDoc};
use serde_saphyr::{Location, Spanned};
use std::borrow::ToOwned;
use std::collections::HashMap;
#[allow(unused_imports)]
use std::format;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

/// Largest policy file accepted.
pub const MAX_FILE: u64 = 1 << 20;

/// Keys a policy file may have, for suggestions.
const TOP_KEYS: &[&str] = &["version", "default_action", "policies", "tests"];
const POLICY_KEYS: &[&str] = &[
    "name",
    "description",
    "priority",
    "enabled",
    "match",
    "rules",
];
const RULE_KEYS: &[&str] = &["action", "when", "message"];
const MATCH_KEYS: &[&str] = &["agent", "session", "tool"];
const WHEN_KEYS: &[&str] = &[
    "command_matches",
    "command_not_matches",
    "command_contains",
    "command_env_assignments",
    "path_matches",
    "path_not_matches",
    "url_matches",
    "domain_matches",
    "session_matches",
    "session_not_matches",
    "tool_param_matches",
    "response_matches",
    "call_count",
    "default",
];
const TEST_KEYS: &[&str] = &["name", "tool", "agent", "session", "params", "expect"];
const ACTIONS: &[&str] = &["allow", "deny", "ask", "watch", "log"];

/// A loaded, checked set of policies (one file or a directory of them).
#[derive(Debug, Clone)]
pub struct PolicySet {
    /// Source files, in load order, with their text.
    pub files: Vec<(PathBuf, String)>,
    /// Enabled and disabled policies, in file order.
    pub policies: Vec<Policy>,
    /// The first file's `default_action`, else `deny`.
    pub default_action: Action,
    /// `tests:` cases from every file.
    pub tests: Vec<TestCase>,
    /// The home directory patterns were written against (`~` rewriting).
    pub home: String,
}

/// One policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Unique name.
    pub name: String,
    /// Lower runs first.
    pub priority: i64,
    /// Disabled policies are loaded and checked, not compiled.
    pub enabled: bool,
    /// Index into [`PolicySet::files`].
    pub file: usize,
    /// Line of its `name`.
    pub line: u64,
    /// `match.agent` globs (empty: any).
    pub agent: Vec<String>,
    /// `match.session` globs.
    pub session: Vec<String>,
    /// `match.tool` globs.
    pub tool: Vec<String>,
    /// Rules, in order.
    pub rules: Vec<Rule>,
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// What it decides.
    pub action: Action,
    /// Shown when it decides.
    pub message: String,
    /// Line of its `action`.
    pub line: u64,
    /// `when` is empty or `default: true`.
    pub match_all: bool,
    /// Conditions (ANDed), each a list of patterns (ORed).
    pub conds: Vec<Cond>,
}

/// One `when` key.
#[derive(Debug, Clone)]
pub struct Cond {
    /// Which key.
    pub kind: crate::snapshot::CondKind,
    /// For `tool_param_matches`: the parameter.
    pub param: String,
    /// Patterns as written.
    pub patterns: Vec<String>,
}

/// A `tests:` case.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// Its name.
    pub name: String,
    /// File it came from.
    pub file: usize,
    /// Line of its `expect`.
    pub line: u64,
    /// Tool (default `exec`).
    pub tool: String,
    /// Agent.
    pub agent: String,
    /// Session.
    pub session: String,
    /// Parameters: `command`, `path`, `url`, others.
    pub params: Vec<(String, String)>,
    /// Expected action.
    pub expect: Action,
}

/// Parse an action name (`log` is `watch`).
pub fn parse_action(s: &str) -> Option<Action> {
    Some(match s {
        "allow" => Action::Allow,
        "deny" => Action::Deny,
        "ask" => Action::Ask,
        "watch" | "log" => Action::Watch,
        _ => return None,
    })
}

/// The home directory used for `~` at compile time: `$HOME`, or empty
/// when unset (then only the `~`, `$HOME` and `${HOME}` spellings are
/// recognised, not a literal home path).
pub fn default_home() -> String {
    std::env::var("HOME").unwrap_or_default()
}

impl PolicySet {
    /// Load one file, or every `*.yaml`/`*.yml` of a directory in name order.
    pub fn load(path: &Path) -> Result<PolicySet, LoadError> {
        Self::load_with_home(path, &default_home())
    }

    /// [`PolicySet::load`] with an explicit home directory for `~`.
    pub fn load_with_home(path: &Path, home: &str) -> Result<PolicySet, LoadError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| LoadError::new(path, 0, 0, std::format!("cannot read: {e}")))?;
        let files: Vec<PathBuf> = if meta.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| LoadError::new(path, 0, 0, std::format!("cannot list: {e}")))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                        && !p
                            .file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with('.'))
                })
                .collect();
            v.sort();
            v
        } else {
            std::vec![path.to_path_buf()]
        };
        let mut sources = Vec::new();
        for f in files {
            let len = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            if len > MAX_FILE {
                return Err(LoadError::new(
                    &f,
                    1,
                    1,
                    std::format!(
                        "file is {len} bytes; policy files are limited to 1 MiB (split it into several files)"
                    ),
                ));
            }
            let bytes = std::fs::read(&f)
                .map_err(|e| LoadError::new(&f, 0, 0, std::format!("cannot read: {e}")))?;
            let text = String::from_utf8(bytes).map_err(|e| {
                LoadError::new(
                    &f,
                    1,
                    1,
                    std::format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
                )
            })?;
            sources.push((f, text));
        }
        Self::from_sources(sources, home)
    }

    /// Load a single document from a string (`name` is used in errors).
    pub fn from_str(name: &str, text: &str) -> Result<PolicySet, LoadError> {
        Self::from_sources(
            std::vec![(PathBuf::from(name), text.to_owned())],
            &default_home(),
        )
    }

    /// Load documents already read, with an explicit home directory.
    pub fn from_sources(
        sources: Vec<(PathBuf, String)>,
        home: &str,
    ) -> Result<PolicySet, LoadError> {
        let mut set = PolicySet {
            files: Vec::new(),
            policies: Vec::new(),
            default_action: Action::Deny,
            tests: Vec::new(),
            home: home.to_owned(),
        };
        let mut default_set = false;
        let mut names: HashMap<String, (usize, u64)> = HashMap::new();
        for (idx, (path, text)) in sources.into_iter().enumerate() {
            if text.len() as u64 > MAX_FILE {
                return Err(LoadError::new(&path, 1, 1, "file larger than 1 MiB"));
            }
            let doc = parse_doc(&path, &text)?;
            if let Some(v) = &doc.version
                && v.value.0 != "1"
            {
                return Err(at(
                    &path,
                    v.referenced,
                    std::format!(
                        "unsupported version {:?}: this rampart reads version \"1\"",
                        v.value.0
                    ),
                ));
            }
            if let Some(d) = &doc.default_action {
                let a = action(&path, d)?;
                if !default_set {
                    set.default_action = a;
                    default_set = true;
                }
            }
            for p in doc.policies {
                let name = p.name.value.trim().to_owned();
                if name.is_empty() {
                    return Err(at(&path, p.name.referenced, "policy name is empty"));
                }
                if let Some((f, line)) = names.get(&name) {
                    let other = set
                        .files
                        .get(*f)
                        .map_or(path.clone(), |(p, _): &(PathBuf, String)| p.clone());
                    return Err(at(
                        &path,
                        p.name.referenced,
                        std::format!(
                            "policy name {name:?} is already used at {}:{line}; names must be unique across files",
                            other.display()
                        ),
                    ));
                }
                names.insert(name.clone(), (idx, p.name.referenced.line()));
                let m = p.match_.unwrap_or_default();
                let mut policy = Policy {
                    name,
                    priority: p.priority.unwrap_or(100),
                    enabled: p.enabled.unwrap_or(true),
                    file: idx,
                    line: p.name.referenced.line(),
                    agent: globs(&path, m.agent.as_ref(), home, false)?,
                    session: globs(&path, m.session.as_ref(), home, false)?,
                    tool: globs(&path, m.tool.as_ref(), home, false)?,
                    rules: Vec::new(),
                };
                for r in p.rules {
                    let act = action(&path, &r.action)?;
                    let (match_all, conds) = match &r.when {
                        None => (true, Vec::new()),
                        Some(w) => conditions(&path, w, home)?,
                    };
                    policy.rules.push(Rule {
                        action: act,
                        message: r.message.unwrap_or_default(),
                        line: r.action.referenced.line(),
                        match_all,
                        conds,
                    });
                }
                set.policies.push(policy);
            }
            for t in doc.tests {
                let expect = action(&path, &t.expect)?;
                set.tests.push(TestCase {
                    name: t.name,
                    file: idx,
                    line: t.expect.referenced.line(),
                    tool: t.tool.unwrap_or_else(|| "exec".into()),
                    agent: t.agent.unwrap_or_default(),
                    session: t.session.unwrap_or_default(),
                    params: t.params.into_iter().collect(),
                    expect,
                });
            }
            set.files.push((path, text));
        }
        Ok(set)
    }

    /// Enabled policies in evaluation order (priority, then file order).
    pub fn ordered(&self) -> Vec<&Policy> {
        let mut v: Vec<&Policy> = self.policies.iter().filter(|p| p.enabled).collect();
        v.sort_by_key(|p| p.priority);
        v
    }

    /// Number of rules in enabled policies.
    pub fn rule_count(&self) -> usize {
        self.ordered().iter().map(|p| p.rules.len()).sum()
    }
}

/// The compiler's path-glob tokeniser (no home directory), exposed so the
/// property tests and fuzz targets can drive [`crate::glob::match_path`]
/// with exactly the byte code a policy would produce. Not a stable API.
#[doc(hidden)]
pub fn tokenise_path_glob(pattern: &str) -> Result<Vec<u8>, String> {
    pattern::path(pattern, "")
}

/// The compiler's command-glob tokeniser (no home directory, case kept), for
/// [`crate::glob::match_command`] in tests and fuzz targets. Not a stable API.
#[doc(hidden)]
pub fn tokenise_command_glob(pattern: &str) -> Result<Vec<u8>, String> {
    pattern::command(pattern, "", false)
}

fn at(path: &Path, loc: Location, msg: impl Into<String>) -> LoadError {
    LoadError::new(path, loc.line(), loc.column(), msg)
}

fn action(path: &Path, s: &Spanned<String>) -> Result<Action, LoadError> {
    parse_action(s.value.trim()).ok_or_else(|| {
        at(
            path,
            s.referenced,
            std::format!(
                "unknown action {:?}; actions are allow, deny, ask and watch (log)",
                s.value
            ),
        )
        .with_suggestion(error::suggest(&s.value, ACTIONS.iter().copied()))
    })
}

fn globs(
    path: &Path,
    p: Option<&Spanned<Patterns>>,
    home: &str,
    _fold: bool,
) -> Result<Vec<String>, LoadError> {
    let Some(p) = p else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (s, loc) in &p.value.0 {
        pattern::command(s, home, false).map_err(|e| {
            at(
                path,
                loc.unwrap_or(p.referenced),
                std::format!("pattern {s:?}: {e}"),
            )
        })?;
        out.push(s.clone());
    }
    Ok(out)
}

fn conditions(
    path: &Path,
    w: &Spanned<WhenDoc>,
    home: &str,
) -> Result<(bool, Vec<Cond>), LoadError> {
    use crate::snapshot::CondKind as K;
    let d = &w.value;
    let mut conds = Vec::new();
    let mut add = |kind: K, param: &str, p: Option<&Spanned<Patterns>>| -> Result<(), LoadError> {
        let Some(p) = p else { return Ok(()) };
        if p.value.0.is_empty() {
            return Err(at(
                path,
                p.referenced,
                "empty pattern list (remove the key, or list at least one pattern)",
            ));
        }
        for (s, loc) in &p.value.0 {
            let loc = loc.unwrap_or(p.referenced);
            let checked = match kind {
                K::PathMatches | K::PathNotMatches => pattern::path(s, home),
                K::CommandContains => {
                    if s.is_empty() {
                        Err("empty substring".into())
                    } else if s.len() > MAX_PATTERN {
                        Err("substring too long".into())
                    } else {
                        Ok(Vec::new())
                    }
                }
                _ => pattern::command(s, home, false),
            };
            checked.map_err(|e| at(path, loc, std::format!("pattern {s:?}: {e}")))?;
        }
        conds.push(Cond {
            kind,
            param: param.into(),
            patterns: p.value.0.iter().map(|(s, _)| s.clone()).collect(),
        });
        Ok(())
    };
    add(K::CommandMatches, "", d.command_matches.as_ref())?;
    add(K::CommandNotMatches, "", d.command_not_matches.as_ref())?;
    add(K::CommandContains, "", d.command_contains.as_ref())?;
    add(K::EnvAssignments, "", d.command_env_assignments.as_ref())?;
    add(K::PathMatches, "", d.path_matches.as_ref())?;
    add(K::PathNotMatches, "", d.path_not_matches.as_ref())?;
    add(K::UrlMatches, "", d.url_matches.as_ref())?;
    add(K::DomainMatches, "", d.domain_matches.as_ref())?;
    add(K::SessionMatches, "", d.session_matches.as_ref())?;
    add(K::SessionNotMatches, "", d.session_not_matches.as_ref())?;
    add(K::ResponseMatches, "", d.response_matches.as_ref())?;
    if let Some(m) = &d.tool_param_matches {
        for (name, p) in m {
            add(K::ToolParamMatches, name, Some(p))?;
        }
    }
    if d.call_count.is_some() {
        conds.push(Cond {
            kind: K::CallCount,
            param: String::new(),
            patterns: Vec::new(),
        });
    }
    let match_all = d.default == Some(true) || conds.is_empty();
    if d.default == Some(true) && !conds.is_empty() {
        return Err(at(
            path,
            w.referenced,
            "`default: true` matches everything; remove the other conditions or the `default` key",
        ));
    }
    Ok((match_all, conds))
}

/// Parse one file, turning serde-saphyr's errors into ours.
fn parse_doc(path: &Path, text: &str) -> Result<FileDoc, LoadError> {
    if text
        .trim()
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(FileDoc::default());
    }
    let opts = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options::<FileDoc>(text, opts).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let raw = e.to_string();
        let msg = raw.lines().next().unwrap_or("").trim().to_string();
        let msg = strip_location(&msg);
        let suggestion = unknown_field(&msg).and_then(|(field, expected)| {
            let pool: Vec<&str> = if expected.is_empty() {
                all_keys()
            } else {
                expected.clone()
            };
            error::suggest(field, pool)
        });
        LoadError::new(path, line, column, msg).with_suggestion(suggestion)
    })
}

fn all_keys() -> Vec<&'static str> {
    [
        TOP_KEYS,
        POLICY_KEYS,
        RULE_KEYS,
        MATCH_KEYS,
        WHEN_KEYS,
        TEST_KEYS,
    ]
    .concat()
}

/// Drop a trailing " at line N, column M" (we print the location first).
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`" → ("x", ["a", "b"]).
fn unknown_field(msg: &str) -> Option<(&str, Vec<&str>)> {
    let rest = &msg[msg.find("unknown field `")? + 15..];
    let field = &rest[..rest.find('`')?];
    let expected = rest.split('`').skip(2).step_by(2).collect();
    Some((field, expected))
}

#[cfg(test)]
mod tests;
