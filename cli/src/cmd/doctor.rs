//! `rampart doctor [PROGRAM…]`: is the library installed and does it load;
//! is the daemon up and the snapshot valid; can the library protect a given
//! program (dynamic, static, setuid); does a `codex` wrapper win on PATH.

use super::preload::{PRELOAD_VAR, daemon_running, find_library};
use crate::elf::{self, Linkage};
use crate::style;
use daemon::RampartHome;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

struct Check {
    ok: bool,
    what: String,
    detail: String,
}

fn check(ok: bool, what: impl Into<String>, detail: impl Into<String>) -> Check {
    Check {
        ok,
        what: what.into(),
        detail: detail.into(),
    }
}

/// Load the library into `/bin/sh` with debug output and see it decide.
fn library_loads(lib: &Path, home: &RampartHome) -> Result<(), String> {
    let out = Command::new("/bin/sh")
        .args(["-c", "/bin/true"])
        .env(PRELOAD_VAR, lib)
        .env("RAMPART_DEBUG", "1")
        .env("RAMPART_HOME", home.root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run /bin/sh: {e}"))?;
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() && err.contains("]: allow execve /bin/true") {
        Ok(())
    } else {
        Err(format!(
            "no decision seen (exit {:?}): {}",
            out.status.code(),
            err.trim()
        ))
    }
}

fn program(name: &str) -> Check {
    let Some(path) = elf::which(name) else {
        return check(false, format!("program {name}"), "not found on PATH");
    };
    let shown = path.display().to_string();
    if elf::is_setuid(&path) {
        return check(
            false,
            format!("program {name}"),
            format!("{shown} is setuid/setgid: the loader ignores {PRELOAD_VAR} for it"),
        );
    }
    match elf::linkage(&path) {
        Linkage::Dynamic => check(
            true,
            format!("program {name}"),
            format!("{shown} is dynamically linked: the library loads into it"),
        ),
        Linkage::Static => check(
            false,
            format!("program {name}"),
            format!(
                "{shown} is statically linked: the library cannot load into it, only into the dynamic programs it starts"
            ),
        ),
        Linkage::Script(interp) => {
            let first = interp.split_whitespace().next().unwrap_or("").to_string();
            let inner = if first.ends_with("/env") {
                interp.split_whitespace().nth(1).unwrap_or("").to_string()
            } else {
                first
            };
            let sub = program(&inner);
            check(
                sub.ok,
                format!("program {name}"),
                format!("{shown} is a script run by {interp}; {}", sub.detail),
            )
        }
        Linkage::Unknown => check(
            false,
            format!("program {name}"),
            format!("{shown} is not an ELF program this check understands"),
        ),
    }
}

/// Does `~/.local/bin/codex` (the wrapper `rampart setup codex` writes)
/// come first on PATH?
fn codex_wrapper() -> Option<Check> {
    let home = daemon::user_home();
    let wrapper = home.join(".local/bin/codex");
    if !wrapper.is_file() {
        return None;
    }
    let first = elf::which("codex")?;
    let ok = first == wrapper;
    Some(check(
        ok,
        "codex wrapper",
        if ok {
            format!("{} comes first on PATH", wrapper.display())
        } else {
            format!(
                "{} is shadowed by {}: put ~/.local/bin earlier in PATH",
                wrapper.display(),
                first.display()
            )
        },
    ))
}

pub fn run(programs: &[String], json: bool) -> anyhow::Result<ExitCode> {
    let home = RampartHome::from_env();
    let mut checks = Vec::new();
    match find_library(&home) {
        Some(lib) => {
            checks.push(check(true, "library", lib.display().to_string()));
            match library_loads(&lib, &home) {
                Ok(()) => checks.push(check(
                    true,
                    "library loads",
                    "loaded into /bin/sh and decided its exec",
                )),
                Err(e) => checks.push(check(false, "library loads", e)),
            }
        }
        None => checks.push(check(
            false,
            "library",
            format!(
                "not found; run ./install.sh (it goes to {})",
                home.lib_dir().display()
            ),
        )),
    }
    let snap = home.snapshot_path();
    match std::fs::read(&snap) {
        Ok(bytes) => match policy_cache::Snapshot::from_bytes(&bytes) {
            Ok(s) => checks.push(check(
                true,
                "snapshot",
                format!(
                    "{} (generation {}, {} policies)",
                    snap.display(),
                    s.generation(),
                    s.policy_count()
                ),
            )),
            Err(e) => checks.push(check(
                false,
                "snapshot",
                format!(
                    "{}: {}; the library uses its built-in policy",
                    snap.display(),
                    e.message()
                ),
            )),
        },
        Err(_) => checks.push(check(
            true,
            "snapshot",
            format!(
                "none at {}: the library uses its built-in policy",
                snap.display()
            ),
        )),
    }
    let up = daemon_running(&home);
    checks.push(check(
        true,
        "daemon",
        if up {
            "running"
        } else {
            "not running: decisions go on from the snapshot; `ask` is denied"
        },
    ));
    checks.extend(codex_wrapper());
    for p in programs {
        checks.push(program(p));
    }
    let ok = checks.iter().all(|c| c.ok);
    if json {
        let v: Vec<_> = checks
            .iter()
            .map(|c| serde_json::json!({"check": c.what, "ok": c.ok, "detail": c.detail}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"ok": ok, "checks": v}))?
        );
    } else {
        for c in &checks {
            let mark = if c.ok {
                style::paint("ok  ", "32")
            } else {
                style::paint("FAIL", "1;31")
            };
            println!("{mark} {}: {}", c.what, c.detail);
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
