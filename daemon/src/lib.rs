//! Rampart's per-user state and the daemon, `rampart serve`.
//!
//! - [`RampartHome`] is the layout of `~/.rampart/` (ARCHITECTURE.md,
//!   "Per-user state") shared by the CLI, the daemon and (by convention) the
//!   library; [`PolicySource`] decides which policies are in force.
//! - [`serve`] is the daemon: it compiles and publishes the snapshot the
//!   library maps, reloads it when a policy changes, holds `ask` approvals
//!   and serves the HTTP API on `127.0.0.1` (bearer token) and on the Unix
//!   socket (peer uid checked).
//! - [`client`] is the small blocking HTTP/1.1 client the CLI uses to talk to
//!   the daemon over its Unix socket.
//! - [`service`] writes the systemd user unit or launchd agent that runs the
//!   daemon at login (`rampart serve install`).
//!
//! ```no_run
//! let home = daemon::RampartHome::from_env();
//! let status = daemon::client::get(&home.socket_path(), "/v1/status");
//! match status {
//!     Ok(r) => println!("{}", String::from_utf8_lossy(&r.body)),
//!     Err(e) => eprintln!("{e}"),
//! }
//! ```
#![forbid(unsafe_code)]

pub mod audit;
pub mod client;
pub mod serve;
pub mod service;

use policy_cache::compile::{LoadError, PolicySet, builtin};
use std::path::{Path, PathBuf};

/// `~/.rampart/`, or `$RAMPART_HOME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RampartHome {
    root: PathBuf,
}

impl RampartHome {
    /// From `RAMPART_HOME`, else `$HOME/.rampart`.
    pub fn from_env() -> Self {
        match std::env::var_os("RAMPART_HOME").filter(|v| !v.is_empty()) {
            Some(r) => RampartHome {
                root: PathBuf::from(r),
            },
            None => RampartHome {
                root: user_home().join(".rampart"),
            },
        }
    }
    /// At an explicit root.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        RampartHome { root: root.into() }
    }
    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `policies/`: the user's policy files.
    pub fn policies_dir(&self) -> PathBuf {
        self.root.join("policies")
    }
    /// `cache/policy.snap`: the published snapshot.
    pub fn snapshot_path(&self) -> PathBuf {
        self.root.join("cache").join("policy.snap")
    }
    /// `spool/`: audit records written by the library.
    pub fn spool_dir(&self) -> PathBuf {
        self.root.join("spool")
    }
    /// `audit/`: the hash-chained log.
    pub fn audit_dir(&self) -> PathBuf {
        self.root.join("audit")
    }
    /// `token`: bearer token for the TCP API.
    pub fn token_path(&self) -> PathBuf {
        self.root.join("token")
    }
    /// `rampart.sock`: the daemon's Unix socket.
    pub fn socket_path(&self) -> PathBuf {
        self.root.join("rampart.sock")
    }
    /// `lib/`: the installed library.
    pub fn lib_dir(&self) -> PathBuf {
        self.root.join("lib")
    }
    /// `spool/current.jsonl`: the records the daemon has not ingested yet.
    pub fn spool_path(&self) -> PathBuf {
        self.spool_dir().join("current.jsonl")
    }
    /// `serve.lock`: held by the running daemon (one per home); holds its pid.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("serve.lock")
    }

    /// Records waiting in the spool: `(lines, bytes)` of
    /// `spool/current.jsonl` (zeros when there is none).
    pub fn spool_backlog(&self) -> (u64, u64) {
        use std::io::Read;
        let Ok(mut f) = std::fs::File::open(self.spool_path()) else {
            return (0, 0);
        };
        let (mut lines, mut bytes) = (0u64, 0u64);
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            bytes += n as u64;
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        (lines, bytes)
    }

    /// Create the root, `cache/`, `spool/` and `audit/` (0700 where private).
    pub fn ensure_dirs(&self) -> std::io::Result<()> {
        for (dir, mode) in [
            (self.root.clone(), 0o700),
            (self.root.join("cache"), 0o755),
            (self.spool_dir(), 0o700),
            (self.audit_dir(), 0o700),
        ] {
            std::fs::create_dir_all(&dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))?;
            }
        }
        Ok(())
    }
}

/// The user's home directory (`$HOME`; `/` when unset).
pub fn user_home() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// Where the policies in force come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// A file or directory named on the command line.
    Explicit(PathBuf),
    /// `~/.rampart/policies/` (it has at least one policy file).
    UserDir(PathBuf),
    /// The embedded default policy.
    Builtin,
}

impl PolicySource {
    /// `explicit` if given; else the user's policies directory when it has
    /// `*.yaml`/`*.yml` files; else the built-in default.
    pub fn resolve(explicit: Option<&Path>, home: &RampartHome) -> Self {
        if let Some(p) = explicit {
            return PolicySource::Explicit(p.to_path_buf());
        }
        let dir = home.policies_dir();
        let has_yaml = std::fs::read_dir(&dir).is_ok_and(|rd| {
            rd.filter_map(Result::ok).any(|e| {
                matches!(
                    e.path().extension().and_then(|x| x.to_str()),
                    Some("yaml" | "yml")
                )
            })
        });
        if has_yaml {
            PolicySource::UserDir(dir)
        } else {
            PolicySource::Builtin
        }
    }

    /// Load the policies.
    pub fn load(&self) -> Result<PolicySet, LoadError> {
        let home = user_home().to_string_lossy().into_owned();
        match self {
            PolicySource::Explicit(p) | PolicySource::UserDir(p) => {
                PolicySet::load_with_home(p, &home)
            }
            PolicySource::Builtin => builtin::standard(&home),
        }
    }

    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            PolicySource::Explicit(p) => p.display().to_string(),
            PolicySource::UserDir(p) => p.display().to_string(),
            PolicySource::Builtin => "the built-in default policy".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_policies_directory_means_the_builtin_policy() {
        let dir = std::env::temp_dir().join(format!("rampart-src-{}", std::process::id()));
        let home = RampartHome::at(&dir);
        std::fs::create_dir_all(home.policies_dir()).unwrap();
        assert_eq!(PolicySource::resolve(None, &home), PolicySource::Builtin);
        std::fs::write(home.policies_dir().join("mine.yaml"), "policies: []\n").unwrap();
        assert_eq!(
            PolicySource::resolve(None, &home),
            PolicySource::UserDir(home.policies_dir())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_builtin_policy_loads_and_compiles() {
        let set = PolicySource::Builtin.load().expect("built-in policy loads");
        assert!(!set.policies.is_empty());
        policy_cache::compile::compile(&set, 1).expect("built-in policy compiles");
    }
}
