//! The policy in force: compile, publish, reload.
//!
//! The daemon keeps the bytes of the snapshot it last published, and
//! evaluates API calls against them, so the API and the library decide by
//! the same compiled policy. A reload compiles the policies again and, only
//! when that succeeds, publishes the result (temp file, fsync, rename) with
//! the next generation; a policy that fails to compile leaves the last good
//! snapshot in place and is remembered as the last reload's error.

use crate::{PolicySource, RampartHome};
use policy_cache::Snapshot;
use policy_cache::compile::{self, LoadError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// A compiled snapshot the daemon serves from.
#[derive(Debug)]
pub struct Published {
    /// The snapshot bytes (validated once, then opened with
    /// `Snapshot::from_validated`).
    pub bytes: Vec<u8>,
    /// Its generation.
    pub generation: u64,
    /// Enabled policies.
    pub policies: usize,
    /// Rules.
    pub rules: usize,
    /// Where the policies came from (for people).
    pub source: String,
    /// When it was published (or found, at start).
    pub at: SystemTime,
    /// `false` when nothing compiled at start and this is the built-in
    /// policy held in memory only (nothing was published).
    pub published: bool,
}

impl Published {
    /// The snapshot view of the bytes.
    pub fn snapshot(&self) -> Option<Snapshot<'_>> {
        Snapshot::from_validated(&self.bytes)
    }
}

/// What set off a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The daemon started.
    Start,
    /// A change in the policies directory.
    Watch,
    /// SIGHUP.
    Signal,
    /// `POST /v1/policy/reload`.
    Api,
}

impl Trigger {
    /// For logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::Watch => "watch",
            Trigger::Signal => "sighup",
            Trigger::Api => "api",
        }
    }
}

/// How the last reload went.
#[derive(Debug, Clone)]
pub struct ReloadReport {
    /// When it finished.
    pub at: SystemTime,
    /// What set it off.
    pub trigger: Trigger,
    /// Load and compile (and publish) time.
    pub duration: Duration,
    /// The generation in force afterwards.
    pub generation: u64,
    /// Policies and rules in force afterwards.
    pub policies: usize,
    /// Rules in force afterwards.
    pub rules: usize,
    /// `false` when the sources were unchanged and nothing was published.
    pub changed: bool,
    /// Why it failed (the last good snapshot stayed in force).
    pub error: Option<LoadError>,
}

impl ReloadReport {
    /// As JSON for `/v1/status` and the event stream.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.error.is_none(),
            "at": unix_secs(self.at),
            "trigger": self.trigger.as_str(),
            "duration_ms": ms(self.duration),
            "generation": self.generation,
            "policies": self.policies,
            "rules": self.rules,
            "changed": self.changed,
            "error": self.error.as_ref().map(error_json),
        })
    }
}

/// A load error as `{file, line, column, message, suggestion}`.
pub fn error_json(e: &LoadError) -> serde_json::Value {
    serde_json::json!({
        "file": e.file.display().to_string(),
        "line": e.line,
        "column": e.column,
        "message": e.message,
        "suggestion": e.suggestion,
    })
}

/// Seconds since the epoch.
pub fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Milliseconds, with a fraction.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// The policy in force and how it got there.
#[derive(Debug)]
pub struct PolicyStore {
    home: RampartHome,
    explicit: Option<PathBuf>,
    current: RwLock<Arc<Published>>,
    last: Mutex<Option<ReloadReport>>,
    /// One reload at a time (they publish to the same file).
    reloading: Mutex<()>,
}

impl PolicyStore {
    /// Compile and publish at start. When the policies do not compile, the
    /// snapshot already published (if valid) stays in force; failing that,
    /// the built-in policy is held in memory for the API (the library
    /// falls back to its own built-in copy when there is no snapshot).
    pub fn start(home: RampartHome, explicit: Option<PathBuf>) -> PolicyStore {
        let fallback = existing_or_builtin(&home);
        let store = PolicyStore {
            home,
            explicit,
            current: RwLock::new(Arc::new(fallback)),
            last: Mutex::new(None),
            reloading: Mutex::new(()),
        };
        store.reload_forced(Trigger::Start, true);
        store
    }

    /// The snapshot in force.
    pub fn current(&self) -> Arc<Published> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The last reload's report.
    pub fn last(&self) -> Option<ReloadReport> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Where the policies come from now (a directory gaining its first
    /// policy file switches from the built-in policy to it).
    pub fn source(&self) -> PolicySource {
        PolicySource::resolve(self.explicit.as_deref(), &self.home)
    }

    /// The directory to watch: the explicit directory (or a file's
    /// directory), else `~/.rampart/policies`.
    pub fn watch_dir(&self) -> PathBuf {
        match &self.explicit {
            Some(p) if p.is_dir() => p.clone(),
            Some(p) => p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), PathBuf::from),
            None => self.home.policies_dir(),
        }
    }

    /// Reload now (blocking: call from a blocking thread). Unchanged
    /// sources publish nothing.
    pub fn reload(&self, trigger: Trigger) -> ReloadReport {
        self.reload_forced(trigger, false)
    }

    fn reload_forced(&self, trigger: Trigger, force: bool) -> ReloadReport {
        let _one = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let started = Instant::now();
        let prev = self.current();
        let source = self.source();
        let outcome = match self.vanished_policies(&prev, &source) {
            Some(e) => Err(e),
            None => compile_and_publish(&self.home, &source, &prev, force),
        };
        let duration = started.elapsed();
        let report = match outcome {
            Ok(Some(new)) => {
                let new = Arc::new(new);
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = new.clone();
                ReloadReport {
                    at: SystemTime::now(),
                    trigger,
                    duration,
                    generation: new.generation,
                    policies: new.policies,
                    rules: new.rules,
                    changed: true,
                    error: None,
                }
            }
            Ok(None) | Err(_) => ReloadReport {
                at: SystemTime::now(),
                trigger,
                duration,
                generation: prev.generation,
                policies: prev.policies,
                rules: prev.rules,
                changed: false,
                error: outcome.err(),
            },
        };
        match &report.error {
            None if report.changed => tracing::info!(
                trigger = trigger.as_str(),
                generation = report.generation,
                policies = report.policies,
                rules = report.rules,
                duration_ms = ms(duration),
                source = %source.describe(),
                "published policy snapshot"
            ),
            None => tracing::debug!(trigger = trigger.as_str(), "policies unchanged"),
            Some(e) => tracing::error!(
                trigger = trigger.as_str(),
                generation = report.generation,
                "policy error, keeping the last good snapshot: {e}"
            ),
        }
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
        report
    }
}

impl PolicyStore {
    /// The user's policies were in force and their directory is gone
    /// (deleted, or moved away). That is not a request for the weaker
    /// built-in policy: the last good snapshot stays in force, and the
    /// reload reports why, until the directory is back (the watcher sees
    /// it return and reloads; or a restart, which starts from the built-in
    /// policy when there is none).
    fn vanished_policies(&self, prev: &Published, source: &PolicySource) -> Option<LoadError> {
        let dir = self.home.policies_dir();
        let was_user_dir = prev.published && prev.source == dir.display().to_string();
        (self.explicit.is_none()
            && *source == PolicySource::Builtin
            && was_user_dir
            && !dir.is_dir())
        .then(|| LoadError {
            file: dir.clone(),
            line: 0,
            column: 0,
            message: format!(
                "the policies directory is gone; keeping the last good snapshot (generation {}) until it is back (recreating it reloads by itself)",
                prev.generation
            ),
            suggestion: None,
        })
    }
}

/// Load, compile and publish `source` as the generation after `prev`.
/// `Ok(None)`: the sources are those of `prev` and `force` is off.
fn compile_and_publish(
    home: &RampartHome,
    source: &PolicySource,
    prev: &Published,
    force: bool,
) -> Result<Option<Published>, LoadError> {
    let set = source.load()?;
    let digest = compile::source_digest(&set);
    if !force
        && prev.published
        && prev
            .snapshot()
            .is_some_and(|s| s.source_digest() == digest.as_slice())
    {
        return Ok(None);
    }
    let path = home.snapshot_path();
    let on_disk = compile::read_generation(&path).unwrap_or(0);
    let generation = prev.generation.max(on_disk) + 1;
    let bytes = compile::compile(&set, generation)?;
    compile::publish(&bytes, &path).map_err(|e| LoadError {
        file: path.clone(),
        line: 0,
        column: 0,
        message: format!("cannot publish the snapshot: {e}"),
        suggestion: None,
    })?;
    Ok(Some(Published {
        generation,
        policies: set.ordered().len(),
        rules: Snapshot::from_bytes(&bytes).map_or(0, |s| s.rule_count()),
        bytes,
        source: source.describe(),
        at: SystemTime::now(),
        published: true,
    }))
}

/// At start, before compiling: the valid snapshot already published, else
/// the built-in policy compiled in memory (generation 0, not published).
fn existing_or_builtin(home: &RampartHome) -> Published {
    let path = home.snapshot_path();
    if let Ok(bytes) = std::fs::read(&path)
        && let Ok(s) = Snapshot::from_bytes(&bytes)
    {
        let (generation, policies, rules) = (s.generation(), s.policy_count(), s.rule_count());
        let at = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now());
        return Published {
            bytes,
            generation,
            policies,
            rules,
            source: format!("{} (published earlier)", path.display()),
            at,
            published: true,
        };
    }
    let home_dir = crate::user_home().to_string_lossy().into_owned();
    let bytes = compile::builtin::standard(&home_dir)
        .and_then(|set| compile::compile_builtin(&set, 0))
        .unwrap_or_default();
    let (policies, rules) =
        Snapshot::from_bytes(&bytes).map_or((0, 0), |s| (s.policy_count(), s.rule_count()));
    Published {
        bytes,
        generation: 0,
        policies,
        rules,
        source: PolicySource::Builtin.describe(),
        at: SystemTime::now(),
        published: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_home(name: &str) -> RampartHome {
        let dir =
            std::env::temp_dir().join(format!("rampart-policy-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let home = RampartHome::at(&dir);
        home.ensure_dirs().unwrap();
        std::fs::create_dir_all(home.policies_dir()).unwrap();
        home
    }

    const GOOD: &str = "version: \"1\"\ndefault_action: allow\npolicies:\n  - name: one\n    rules:\n      - action: deny\n        when: { command_matches: [\"rm -rf /\"] }\n";

    #[test]
    fn a_broken_policy_never_replaces_the_last_good_snapshot() {
        let home = temp_home("broken");
        let file = home.policies_dir().join("mine.yaml");
        std::fs::write(&file, GOOD).unwrap();
        let store = PolicyStore::start(home.clone(), None);
        let first = store.current().generation;
        assert!(first >= 1);
        assert_eq!(compile::read_generation(&home.snapshot_path()), Some(first));

        std::fs::write(
            &file,
            "policies:\n  - name: one\n    rules:\n      - action: denny\n",
        )
        .unwrap();
        let r = store.reload(Trigger::Api);
        let e = r.error.expect("the broken file is reported");
        assert_eq!(e.line, 4, "{e}");
        assert_eq!(store.current().generation, first);
        assert_eq!(compile::read_generation(&home.snapshot_path()), Some(first));

        std::fs::write(&file, GOOD.replace("rm -rf /", "rm -rf /x")).unwrap();
        let r = store.reload(Trigger::Watch);
        assert!(r.error.is_none());
        assert_eq!(r.generation, first + 1);
        assert_eq!(
            compile::read_generation(&home.snapshot_path()),
            Some(first + 1)
        );
        let _ = std::fs::remove_dir_all(home.root());
    }

    #[test]
    fn a_deleted_policies_directory_keeps_the_last_good_snapshot() {
        let home = temp_home("vanished");
        std::fs::write(home.policies_dir().join("a.yaml"), GOOD).unwrap();
        let store = PolicyStore::start(home.clone(), None);
        let g = store.current().generation;
        std::fs::remove_dir_all(home.policies_dir()).unwrap();
        let r = store.reload(Trigger::Watch);
        let e = r.error.expect("reported");
        assert!(e.message.contains("policies directory is gone"), "{e}");
        assert_eq!(store.current().generation, g);
        assert_eq!(compile::read_generation(&home.snapshot_path()), Some(g));
        // Back again: reloads as usual.
        std::fs::create_dir_all(home.policies_dir()).unwrap();
        std::fs::write(
            home.policies_dir().join("a.yaml"),
            GOOD.replace("/\"]", "/x\"]"),
        )
        .unwrap();
        let r = store.reload(Trigger::Api);
        assert!(r.error.is_none() && r.changed, "{:?}", r.error);
        // An emptied (not deleted) directory is the documented switch to
        // the built-in policy.
        std::fs::remove_file(home.policies_dir().join("a.yaml")).unwrap();
        let r = store.reload(Trigger::Api);
        assert!(r.error.is_none() && r.changed, "{:?}", r.error);
        assert_eq!(store.current().source, PolicySource::Builtin.describe());
        let _ = std::fs::remove_dir_all(home.root());
    }

    #[test]
    fn unchanged_policies_publish_nothing() {
        let home = temp_home("unchanged");
        std::fs::write(home.policies_dir().join("a.yaml"), GOOD).unwrap();
        let store = PolicyStore::start(home.clone(), None);
        let g = store.current().generation;
        let r = store.reload(Trigger::Signal);
        assert!(!r.changed && r.error.is_none());
        assert_eq!(store.current().generation, g);
        let _ = std::fs::remove_dir_all(home.root());
    }
}
