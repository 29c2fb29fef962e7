//! `rampart preload -- CMD ARGS…`: run a program with every exec it (and
//! everything under it) makes decided by the library.

use crate::elf::{self, Linkage};
use daemon::{PolicySource, RampartHome};
use policy_cache::compile;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// The library's file name on this platform.
pub const LIB_NAME: &str = if cfg!(target_os = "macos") {
    "librampart.dylib"
} else {
    "librampart.so"
};
/// The variable that loads it.
pub const PRELOAD_VAR: &str = if cfg!(target_os = "macos") {
    "DYLD_INSERT_LIBRARIES"
} else {
    "LD_PRELOAD"
};

/// Where the library is: `RAMPART_LIB`, `~/.rampart/lib`, next to this
/// binary, `../lib` from it, `/usr/local/lib`.
pub fn find_library(home: &RampartHome) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("RAMPART_LIB").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(home.lib_dir().join(LIB_NAME));
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.join(LIB_NAME));
        candidates.push(dir.join("../lib").join(LIB_NAME));
        // A development tree: target/debug/rampart next to target/release/.
        candidates.push(dir.join("../release").join(LIB_NAME));
    }
    candidates.push(PathBuf::from("/usr/local/lib").join(LIB_NAME));
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .map(|p| p.canonicalize().unwrap_or(p))
}

/// Where macOS keeps the binaries System Integrity Protection guards: when
/// the kernel starts one of them it strips every `DYLD_*` variable, so the
/// library never loads into it.
pub const SIP_DIRS: [&str; 5] = ["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/System"];

/// Is `path` under a SIP-protected directory? (By path alone: the check
/// holds on any platform; only macOS acts on it.)
pub fn sip_protected(path: &Path) -> bool {
    SIP_DIRS.iter().any(|d| path.starts_with(d))
}

/// The warning for a SIP-protected target, naming an unprotected copy to
/// run instead; `None` when `path` is not protected.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub fn sip_warning(path: &Path) -> Option<String> {
    if !sip_protected(path) {
        return None;
    }
    let name = path.file_name()?.to_string_lossy();
    Some(format!(
        "{} is protected by System Integrity Protection: macOS strips {PRELOAD_VAR} when it \
         starts, so the library does not load into it and what it runs is not checked. \
         Run an unprotected copy instead, e.g. Homebrew's: `brew install {name}`, then \
         `rampart preload -- $(brew --prefix)/bin/{name}`",
        path.display()
    ))
}

/// Is a daemon answering on the socket?
pub fn daemon_running(home: &RampartHome) -> bool {
    std::os::unix::net::UnixStream::connect(home.socket_path()).is_ok()
}

/// Make sure the snapshot reflects the user's policies. Returns a note for
/// the user when something was done or is wrong.
pub fn ensure_snapshot(
    home: &RampartHome,
    policy: Option<&Path>,
    snapshot: &Path,
) -> Option<String> {
    if policy.is_none() && daemon_running(home) {
        return None; // the daemon publishes and reloads
    }
    let source = PolicySource::resolve(policy, home);
    let set = match source.load() {
        Ok(s) => s,
        Err(e) => {
            let keep = compile::read_generation(snapshot).map_or_else(
                || "the library's built-in default policy will be used".to_string(),
                |g| format!("keeping the last good snapshot (generation {g})"),
            );
            return Some(format!("policy error: {e}; {keep}"));
        }
    };
    let digest = compile::source_digest(&set);
    let current = std::fs::read(snapshot).ok().and_then(|b| {
        policy_cache::Snapshot::from_bytes(&b)
            .ok()
            .map(|s| (s.generation(), s.source_digest().to_vec()))
    });
    if let Some((_, d)) = &current
        && d.as_slice() == digest.as_slice()
    {
        return None;
    }
    let generation = current.map_or(1, |(g, _)| g + 1);
    match compile::compile(&set, generation)
        .map_err(|e| e.to_string())
        .and_then(|b| {
            compile::publish(&b, snapshot)
                .map_err(|e| format!("cannot write {}: {e}", snapshot.display()))
        }) {
        Ok(()) => Some(format!(
            "compiled {} policies from {} (no daemon running; generation {generation})",
            set.ordered().len(),
            source.describe()
        )),
        Err(e) => Some(format!("cannot publish the snapshot: {e}")),
    }
}

pub struct PreloadArgs<'a> {
    pub mode: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub session: Option<&'a str>,
    pub debug: bool,
    pub policy: Option<&'a Path>,
    pub command: &'a [String],
}

pub fn run(a: PreloadArgs<'_>) -> anyhow::Result<std::process::ExitCode> {
    let home = RampartHome::from_env();
    home.ensure_dirs()
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", home.root().display()))?;
    let Some(lib) = find_library(&home) else {
        anyhow::bail!(
            "cannot find {LIB_NAME}; install it into {} (see README, \"Install\"), or set RAMPART_LIB",
            home.lib_dir().display()
        );
    };
    let snapshot =
        std::env::var_os("RAMPART_SNAPSHOT").map_or_else(|| home.snapshot_path(), PathBuf::from);
    if let Some(note) = ensure_snapshot(&home, a.policy, &snapshot) {
        eprintln!("rampart: {note}");
    }
    let Some((program, args)) = a.command.split_first() else {
        anyhow::bail!("nothing to run: rampart preload -- COMMAND [ARGS…]");
    };
    if let Some(path) = elf::which(program) {
        #[cfg(target_os = "macos")]
        if let Some(w) =
            sip_warning(&path).or_else(|| path.canonicalize().ok().and_then(|p| sip_warning(&p)))
        {
            eprintln!("rampart: warning: {w}");
        }
        match elf::linkage(&path) {
            Linkage::Static => eprintln!(
                "rampart: warning: {} is statically linked, so the library cannot load into it; \
                 only the dynamically linked programs it starts are checked",
                path.display()
            ),
            _ if elf::is_setuid(&path) => eprintln!(
                "rampart: warning: {} is setuid; the loader ignores {PRELOAD_VAR} for it",
                path.display()
            ),
            _ => {}
        }
    }
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    let mut preload = lib.to_string_lossy().into_owned();
    if let Ok(existing) = std::env::var(PRELOAD_VAR)
        && !existing.is_empty()
        && !existing.split([':', ' ']).any(|e| e == preload)
    {
        preload = format!("{preload}:{existing}");
    }
    cmd.env(PRELOAD_VAR, preload);
    cmd.env("RAMPART_HOME", home.root());
    if let Some(m) = a.mode {
        cmd.env("RAMPART_MODE", m);
    }
    if let Some(ag) = a.agent {
        cmd.env("RAMPART_AGENT", ag);
    }
    if let Some(s) = a.session {
        cmd.env("RAMPART_SESSION", s);
    }
    if a.debug {
        cmd.env("RAMPART_DEBUG", "1");
    }
    if std::env::var_os("RAMPART_SNAPSHOT").is_some() {
        cmd.env("RAMPART_SNAPSHOT", &snapshot);
    }
    // exec: exit codes and signals are the program's own.
    let err = cmd.exec();
    anyhow::bail!("cannot run {program}: {err}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_under_the_system_directories_are_sip_protected() {
        for p in [
            "/bin/bash",
            "/bin/sh",
            "/usr/bin/python3",
            "/usr/sbin/chown",
            "/sbin/mount",
            "/System/Library/x",
        ] {
            assert!(sip_protected(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn homebrew_and_user_binaries_are_not_sip_protected() {
        for p in [
            "/usr/local/bin/bash",
            "/opt/homebrew/bin/bash",
            "/Users/me/.local/bin/codex",
            "/usr/binary/x",
            "/binx/sh",
        ] {
            assert!(!sip_protected(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn the_sip_warning_points_to_an_unprotected_copy() {
        let w = sip_warning(Path::new("/bin/bash")).expect("protected");
        assert!(w.contains("/bin/bash is protected"), "{w}");
        assert!(w.contains("brew install bash"), "{w}");
        assert!(w.contains("$(brew --prefix)/bin/bash"), "{w}");
        assert_eq!(sip_warning(Path::new("/opt/homebrew/bin/bash")), None);
    }
}
