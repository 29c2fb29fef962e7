//! `rampart setup AGENT [--remove] [--force] [--print]`: make the plain
//! agent command (`codex`) always run under `rampart preload`.
//!
//! It writes a small shell script, `~/.local/bin/<program>`, that execs
//! `rampart preload --agent <name> -- <the real program> "$@"`. The script
//! carries a marker line, so `setup` can tell its own file from anyone
//! else's: it rewrites its own wrapper freely (running it twice changes
//! nothing), refuses to replace a file it did not write unless `--force`
//! (and then keeps the old one as `<program>.rampart-backup`), and
//! `--remove` deletes only its own wrapper.
//!
//! The real program is the first one on `PATH` that is neither the wrapper
//! itself nor another wrapper this command wrote (a copy left in another
//! directory), so the wrapper can never exec itself.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// An agent `rampart setup` knows how to wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentSpec {
    /// What the user types after `rampart setup`.
    pub name: &'static str,
    /// The command the wrapper stands in for.
    pub program: &'static str,
    /// The agent name recorded with every decision (`--agent`).
    pub agent: &'static str,
}

/// The agents `rampart setup` can wrap. Another CLI agent is one more row.
pub const AGENTS: &[AgentSpec] = &[AgentSpec {
    name: "codex",
    program: "codex",
    agent: "codex",
}];

/// The line that marks a file as written by `rampart setup`.
pub const MARKER: &str = "# rampart-setup-wrapper:";

/// What `rampart setup` was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupAction {
    /// Write (or refresh) the wrapper.
    Install { force: bool },
    /// Print the wrapper, write nothing.
    Print,
    /// Delete the wrapper, if it is ours.
    Remove,
}

/// The file at the wrapper's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    Absent,
    /// A wrapper this command wrote, with its text.
    Ours(String),
    /// Anything else (including the real program installed there).
    Foreign,
}

/// Look at `path`: absent, our wrapper, or someone else's file.
pub fn existing(path: &Path) -> Existing {
    match std::fs::symlink_metadata(path) {
        Err(_) => Existing::Absent,
        Ok(m) if !m.is_file() => Existing::Foreign,
        Ok(_) => match head(path) {
            Some(bytes) if is_ours(&bytes) => {
                Existing::Ours(String::from_utf8_lossy(&bytes).into())
            }
            _ => Existing::Foreign,
        },
    }
}

/// The most of a wrapper anyone writes: a few short lines.
const HEAD: u64 = 4096;

/// The first [`HEAD`] bytes of the file at `path` (a real program found on
/// PATH may be a binary of a hundred megabytes: it is never read whole).
fn head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(HEAD)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// Does this file start with a `#!` line and carry the marker line in its
/// first lines?
fn is_ours(head: &[u8]) -> bool {
    head.starts_with(b"#!")
        && head
            .split(|&b| b == b'\n')
            .take(5)
            .any(|l| l.starts_with(MARKER.as_bytes()))
}

/// Quote a path for `sh`: single quotes, with `'` spelled `'\''`.
fn sh_quote(s: &OsStr) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}

/// The wrapper script.
pub fn render(spec: &AgentSpec, rampart: &Path, real: &Path) -> String {
    format!(
        "#!/bin/sh\n\
         {MARKER} {name}\n\
         # Written by `rampart setup {name}`; `rampart setup {name} --remove` deletes it.\n\
         # Runs the real {program} with every program it starts checked by rampart.\n\
         exec {rampart} preload --agent {agent} -- {real} \"$@\"\n",
        name = spec.name,
        program = spec.program,
        agent = spec.agent,
        rampart = sh_quote(rampart.as_os_str()),
        real = sh_quote(real.as_os_str()),
    )
}

/// The first executable `program` in the `PATH` directories that is not
/// `wrapper` itself (by path or by identity) and not another wrapper of
/// ours.
pub fn find_real(program: &str, path_var: &OsStr, wrapper: &Path) -> Option<PathBuf> {
    let wrapper_id = file_id(wrapper);
    std::env::split_paths(path_var)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(program))
        .filter(|p| crate::elf::is_executable(p))
        .filter(|p| p != wrapper && (wrapper_id.is_none() || file_id(p) != wrapper_id))
        .find(|p| !head(p).is_some_and(|b| is_ours(&b)))
}

/// Device and inode of the file a path leads to.
fn file_id(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// The warning when the wrapper's directory does not come before the real
/// program's on `PATH` (so typing the program's name would skip rampart).
pub fn path_order_warning(path_var: &OsStr, wrapper_dir: &Path, real: &Path) -> Option<String> {
    let dirs: Vec<PathBuf> = std::env::split_paths(path_var).collect();
    let at = |d: &Path| dirs.iter().position(|x| x == d);
    let real_dir = real.parent()?;
    let shown = wrapper_dir.display();
    match (at(wrapper_dir), at(real_dir)) {
        (None, _) => Some(format!(
            "{shown} is not on PATH: add it, before {}, e.g. in ~/.profile: \
             export PATH=\"{shown}:$PATH\"",
            real_dir.display()
        )),
        (Some(w), Some(r)) if r < w => Some(format!(
            "{shown} comes after {} on PATH, so `{}` still runs the real program unprotected: \
             put {shown} first, e.g. in ~/.profile: export PATH=\"{shown}:$PATH\"",
            real_dir.display(),
            real.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        )),
        _ => None,
    }
}

/// Write `text` to `path` atomically, mode 0755: a temp file in the same
/// directory, fsync, rename.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.rampart-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        // The umask may have narrowed the mode given at creation.
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What a run did, for the message and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Written,
    Unchanged,
    Printed(String),
    Removed,
    NothingToRemove,
    /// Refused, with the reason.
    Refused(String),
}

/// Everything the command depends on, resolved by the caller (so tests
/// give their own home, PATH and rampart binary).
pub struct Setup<'a> {
    pub spec: &'a AgentSpec,
    /// `~/.local/bin/<program>`.
    pub wrapper: PathBuf,
    pub path_var: std::ffi::OsString,
    /// The `rampart` binary the wrapper runs.
    pub rampart: PathBuf,
}

impl Setup<'_> {
    /// Do `action`; warnings go to `warn`.
    pub fn apply(
        &self,
        action: SetupAction,
        warn: &mut dyn FnMut(String),
    ) -> anyhow::Result<Outcome> {
        let shown = self.wrapper.display();
        let found = existing(&self.wrapper);
        let force = match action {
            SetupAction::Remove => return self.remove(found),
            SetupAction::Print => None,
            SetupAction::Install { force } => Some(force),
        };
        let program = self.spec.program;
        let Some(real) = find_real(program, &self.path_var, &self.wrapper) else {
            anyhow::bail!(
                "cannot find the real `{program}` on PATH (besides {shown}); install it first"
            );
        };
        let text = render(self.spec, &self.rampart, &real);
        if let Some(w) = self
            .wrapper
            .parent()
            .and_then(|dir| path_order_warning(&self.path_var, dir, &real))
        {
            warn(w);
        }
        let Some(force) = force else {
            return Ok(Outcome::Printed(text));
        };
        match found {
            Existing::Ours(old) if old == text && crate::elf::is_executable(&self.wrapper) => {
                return Ok(Outcome::Unchanged);
            }
            Existing::Foreign if !force => {
                return Ok(Outcome::Refused(format!(
                    "{shown} exists and was not written by rampart setup; \
                     use --force to replace it (it is kept as {shown}.rampart-backup)"
                )));
            }
            Existing::Foreign => {
                let mut backup = self.wrapper.clone().into_os_string();
                backup.push(".rampart-backup");
                let backup = PathBuf::from(backup);
                std::fs::rename(&self.wrapper, &backup)
                    .map_err(|e| anyhow::anyhow!("cannot move {shown} aside: {e}"))?;
                warn(format!("the previous {shown} is now {}", backup.display()));
            }
            Existing::Ours(_) | Existing::Absent => {}
        }
        if let Some(dir) = self.wrapper.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        write_atomic(&self.wrapper, &text)
            .map_err(|e| anyhow::anyhow!("cannot write {shown}: {e}"))?;
        Ok(Outcome::Written)
    }

    /// `--remove`: delete the wrapper only when it is ours.
    fn remove(&self, found: Existing) -> anyhow::Result<Outcome> {
        let shown = self.wrapper.display();
        Ok(match found {
            Existing::Absent => Outcome::NothingToRemove,
            Existing::Foreign => Outcome::Refused(format!(
                "{shown} was not written by rampart setup; left alone"
            )),
            Existing::Ours(_) => {
                std::fs::remove_file(&self.wrapper)
                    .map_err(|e| anyhow::anyhow!("cannot remove {shown}: {e}"))?;
                Outcome::Removed
            }
        })
    }
}

/// `rampart setup AGENT …`.
pub fn run(agent: &str, action: SetupAction) -> anyhow::Result<ExitCode> {
    let Some(spec) = AGENTS.iter().find(|a| a.name == agent) else {
        let known: Vec<_> = AGENTS.iter().map(|a| a.name).collect();
        anyhow::bail!("unknown agent `{agent}` (known: {})", known.join(", "));
    };
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty() && Path::new(h).is_absolute())
        .ok_or_else(|| anyhow::anyhow!("HOME is not set to an absolute path"))?;
    let rampart = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| anyhow::anyhow!("cannot tell where the rampart binary is: {e}"))?;
    let setup = Setup {
        spec,
        wrapper: Path::new(&home).join(".local/bin").join(spec.program),
        path_var: std::env::var_os("PATH").unwrap_or_default(),
        rampart,
    };
    let outcome = setup.apply(action, &mut |w| eprintln!("rampart: warning: {w}"))?;
    let shown = setup.wrapper.display();
    let program = spec.program;
    match outcome {
        Outcome::Printed(text) => print!("{text}"),
        Outcome::Written => println!(
            "wrote {shown}: `{program}` now runs under rampart preload --agent {}",
            spec.agent
        ),
        Outcome::Unchanged => println!("{shown} is already up to date"),
        Outcome::Removed => println!("removed {shown}"),
        Outcome::NothingToRemove => println!("no wrapper at {shown}; nothing to remove"),
        Outcome::Refused(why) => {
            eprintln!("rampart: {why}");
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::fs::PermissionsExt;

    const CODEX: &AgentSpec = &AGENTS[0];

    struct Place {
        _dir: tempfile::TempDir,
        root: PathBuf,
    }

    impl Place {
        fn new() -> Place {
            let dir = tempfile::tempdir().expect("tempdir");
            let root = dir.path().to_path_buf();
            Place { _dir: dir, root }
        }
        fn exe(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            p
        }
        fn path(&self, dirs: &[&str]) -> OsString {
            std::env::join_paths(dirs.iter().map(|d| self.root.join(d))).unwrap()
        }
        fn setup(&self, path: &[&str]) -> Setup<'static> {
            Setup {
                spec: CODEX,
                wrapper: self.root.join("home/.local/bin/codex"),
                path_var: self.path(path),
                rampart: PathBuf::from("/opt/rampart/bin/rampart"),
            }
        }
    }

    fn quiet() -> impl FnMut(String) {
        |_| {}
    }

    #[test]
    fn the_wrapper_runs_the_real_program_under_preload_with_the_agent_name() {
        let text = render(
            CODEX,
            Path::new("/opt/rampart/bin/rampart"),
            Path::new("/usr/lib/node_modules/.bin/codex"),
        );
        assert!(text.starts_with("#!/bin/sh\n"), "{text}");
        assert!(is_ours(text.as_bytes()), "{text}");
        assert!(
            text.contains(
                "exec '/opt/rampart/bin/rampart' preload --agent codex -- '/usr/lib/node_modules/.bin/codex' \"$@\"\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn paths_with_quotes_and_spaces_are_quoted_for_sh() {
        assert_eq!(sh_quote(OsStr::new("/a b/it's")), r"'/a b/it'\''s'");
    }

    #[test]
    fn installing_twice_changes_nothing_the_second_time() {
        let p = Place::new();
        p.exe("npm/bin/codex", "#!/bin/sh\necho real\n");
        let s = p.setup(&["home/.local/bin", "npm/bin"]);
        let install = SetupAction::Install { force: false };
        assert_eq!(s.apply(install, &mut quiet()).unwrap(), Outcome::Written);
        let meta = std::fs::metadata(&s.wrapper).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        let first = std::fs::read_to_string(&s.wrapper).unwrap();
        assert_eq!(s.apply(install, &mut quiet()).unwrap(), Outcome::Unchanged);
        assert_eq!(std::fs::read_to_string(&s.wrapper).unwrap(), first);
        // A wrapper that lost its execute bit is written again.
        std::fs::set_permissions(&s.wrapper, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(s.apply(install, &mut quiet()).unwrap(), Outcome::Written);
        assert!(crate::elf::is_executable(&s.wrapper));
        assert!(first.contains(&format!("'{}'", p.root.join("npm/bin/codex").display())));
    }

    #[test]
    fn a_file_it_did_not_write_is_refused_then_replaced_with_force_and_kept_as_backup() {
        let p = Place::new();
        p.exe("npm/bin/codex", "#!/bin/sh\necho real\n");
        let mine = p.exe("home/.local/bin/codex", "#!/bin/sh\necho my own script\n");
        let s = p.setup(&["home/.local/bin", "npm/bin"]);
        let refused = s
            .apply(SetupAction::Install { force: false }, &mut quiet())
            .unwrap();
        assert!(
            matches!(&refused, Outcome::Refused(w) if w.contains("--force")),
            "{refused:?}"
        );
        assert_eq!(
            std::fs::read_to_string(&mine).unwrap(),
            "#!/bin/sh\necho my own script\n"
        );
        let forced = s
            .apply(SetupAction::Install { force: true }, &mut quiet())
            .unwrap();
        assert_eq!(forced, Outcome::Written);
        assert!(matches!(existing(&mine), Existing::Ours(_)));
        let backup = p.root.join("home/.local/bin/codex.rampart-backup");
        assert_eq!(
            std::fs::read_to_string(backup).unwrap(),
            "#!/bin/sh\necho my own script\n"
        );
    }

    #[test]
    fn remove_deletes_its_own_wrapper_and_leaves_a_foreign_file_alone() {
        let p = Place::new();
        p.exe("npm/bin/codex", "#!/bin/sh\necho real\n");
        let s = p.setup(&["home/.local/bin", "npm/bin"]);
        assert_eq!(
            s.apply(SetupAction::Remove, &mut quiet()).unwrap(),
            Outcome::NothingToRemove
        );
        s.apply(SetupAction::Install { force: false }, &mut quiet())
            .unwrap();
        assert_eq!(
            s.apply(SetupAction::Remove, &mut quiet()).unwrap(),
            Outcome::Removed
        );
        assert!(!s.wrapper.exists());
        let foreign = p.exe("home/.local/bin/codex", "#!/bin/sh\necho mine\n");
        let out = s.apply(SetupAction::Remove, &mut quiet()).unwrap();
        assert!(matches!(out, Outcome::Refused(_)), "{out:?}");
        assert!(foreign.is_file());
    }

    #[test]
    fn the_real_program_skips_the_wrapper_and_earlier_wrappers_on_path() {
        let p = Place::new();
        let s = p.setup(&["home/.local/bin", "old/bin", "npm/bin"]);
        // A wrapper written earlier into another directory (older HOME, copied).
        let old = render(CODEX, Path::new("/x/rampart"), Path::new("/npm/bin/codex"));
        p.exe("old/bin/codex", &old);
        let real = p.exe("npm/bin/codex", "#!/bin/sh\necho real\n");
        s.apply(SetupAction::Install { force: false }, &mut quiet())
            .unwrap();
        assert_eq!(
            find_real("codex", &s.path_var, &s.wrapper),
            Some(real.clone())
        );
        // Run again with the wrapper now first on PATH: still the real one.
        let text = std::fs::read_to_string(&s.wrapper).unwrap();
        assert!(text.contains(&format!("'{}'", real.display())), "{text}");
        assert!(!text.contains("old/bin"), "{text}");
    }

    #[test]
    fn no_real_program_on_path_is_a_clear_error() {
        let p = Place::new();
        let s = p.setup(&["home/.local/bin", "npm/bin"]);
        let e = s
            .apply(SetupAction::Install { force: false }, &mut quiet())
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot find the real `codex` on PATH"),
            "{e}"
        );
        assert!(!s.wrapper.exists());
    }

    #[test]
    fn print_writes_nothing() {
        let p = Place::new();
        p.exe("npm/bin/codex", "#!/bin/sh\n");
        let s = p.setup(&["home/.local/bin", "npm/bin"]);
        let out = s.apply(SetupAction::Print, &mut quiet()).unwrap();
        assert!(
            matches!(&out, Outcome::Printed(t) if t.contains(MARKER)),
            "{out:?}"
        );
        assert!(!s.wrapper.exists());
    }

    #[test]
    fn a_wrapper_dir_after_the_real_program_or_missing_from_path_is_warned_about() {
        let p = Place::new();
        let real = p.exe("npm/bin/codex", "#!/bin/sh\n");
        let wdir = p.root.join("home/.local/bin");
        let later = p.path(&["npm/bin", "home/.local/bin"]);
        let w = path_order_warning(&later, &wdir, &real).expect("warned");
        assert!(
            w.contains("comes after") && w.contains("export PATH="),
            "{w}"
        );
        let missing = p.path(&["npm/bin"]);
        let w = path_order_warning(&missing, &wdir, &real).expect("warned");
        assert!(w.contains("is not on PATH"), "{w}");
        let first = p.path(&["home/.local/bin", "npm/bin"]);
        assert_eq!(path_order_warning(&first, &wdir, &real), None);
        let mut warned = Vec::new();
        let s = p.setup(&["npm/bin", "home/.local/bin"]);
        s.apply(SetupAction::Install { force: false }, &mut |w| {
            warned.push(w)
        })
        .unwrap();
        assert_eq!(warned.len(), 1, "{warned:?}");
    }
}
