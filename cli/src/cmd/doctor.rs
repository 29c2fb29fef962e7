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
/// A shell the library can load into, to watch it decide: `/bin/sh` on
/// Linux; on macOS, SIP strips `DYLD_*` from `/bin/sh`, so the first
/// `bash`, `zsh`, `sh` or `dash` on PATH outside the protected directories
/// (Homebrew's, typically).
fn probe_shell() -> Option<std::path::PathBuf> {
    if !cfg!(target_os = "macos") {
        return Some("/bin/sh".into());
    }
    let path = std::env::var_os("PATH")?;
    ["bash", "zsh", "sh", "dash"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| elf::is_executable(p) && !super::preload::sip_protected(p))
    })
}

fn library_loads(lib: &Path, home: &RampartHome) -> Result<(), String> {
    let shell = probe_shell().ok_or("no shell outside SIP-protected directories to load it into (install one, e.g. `brew install bash`)")?;
    let out = Command::new(&shell)
        .args(["-c", "/bin/true"])
        .env(PRELOAD_VAR, lib)
        .env("RAMPART_DEBUG", "1")
        .env("RAMPART_HOME", home.root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", shell.display()))?;
    let err = String::from_utf8_lossy(&out.stderr);
    // One debug line per decision: `rampart[pid]: allow <entry> /bin/true …`.
    let decided = err
        .lines()
        .any(|l| l.contains("]: allow ") && l.contains(" /bin/true"));
    if out.status.success() && decided {
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
    #[cfg(target_os = "macos")]
    return macos_program(name, &path);
    #[cfg(not(target_os = "macos"))]
    elf_program(name, &path)
}

/// `doctor PROGRAM` for ELF systems: setuid, static or dynamic, scripts.
#[cfg_attr(target_os = "macos", allow(dead_code))]
fn elf_program(name: &str, path: &Path) -> Check {
    let shown = path.display().to_string();
    if elf::is_setuid(path) {
        return check(
            false,
            format!("program {name}"),
            format!("{shown} is setuid/setgid: the loader ignores {PRELOAD_VAR} for it"),
        );
    }
    match elf::linkage(path) {
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

/// The code-signing flags that decide whether dyld honours
/// `DYLD_INSERT_LIBRARIES` for a binary, from `codesign -d --verbose=4`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigningFlags {
    /// `codesign` described a signature at all.
    pub signed: bool,
    /// Hardened runtime (`0x10000`, `runtime`): dyld ignores `DYLD_*`
    /// unless the binary has the entitlement
    /// `com.apple.security.cs.allow-dyld-environment-variables`.
    pub hardened_runtime: bool,
    /// Library validation (`0x2000`, `library-validation`): only libraries
    /// signed by Apple or the binary's own team load, so librampart is
    /// refused.
    pub library_validation: bool,
}

#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
const CS_RUNTIME: u32 = 0x1_0000;
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
const CS_REQUIRE_LV: u32 = 0x2000;

/// Parse `codesign -d --verbose=4 PATH` output (it writes to stderr): the
/// `flags=0x…(name,…)` field of the `CodeDirectory` line, by bit and by
/// name. Unsigned binaries ("code object is not signed at all") have none.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub fn parse_codesign(output: &str) -> SigningFlags {
    let mut f = SigningFlags::default();
    for line in output.lines() {
        let Some(at) = line.find("flags=0x") else {
            continue;
        };
        f.signed = true;
        let rest = &line[at + "flags=0x".len()..];
        let hex_end = rest
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len());
        let bits = u32::from_str_radix(&rest[..hex_end], 16).unwrap_or(0);
        let names = rest[hex_end..]
            .strip_prefix('(')
            .and_then(|r| r.split_once(')'))
            .map_or("", |(n, _)| n);
        let named = |want: &str| names.split(',').any(|n| n.trim() == want);
        f.hardened_runtime |= bits & CS_RUNTIME != 0 || named("runtime");
        f.library_validation |= bits & CS_REQUIRE_LV != 0 || named("library-validation");
    }
    f
}

/// What the signing flags mean for the library; `None` when nothing stops
/// it loading.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn signing_problem(f: SigningFlags) -> Option<String> {
    let mut why = Vec::new();
    if f.hardened_runtime {
        why.push(format!(
            "hardened runtime (dyld ignores {PRELOAD_VAR} unless the binary has the \
             com.apple.security.cs.allow-dyld-environment-variables entitlement)"
        ));
    }
    if f.library_validation {
        why.push(
            "library validation (only libraries signed by Apple or its own team load)".to_string(),
        );
    }
    (!why.is_empty()).then(|| why.join(" and "))
}

/// `doctor PROGRAM` on macOS: SIP-protected path, then the signing flags.
#[cfg(target_os = "macos")]
fn macos_program(name: &str, path: &Path) -> Check {
    let what = format!("program {name}");
    let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let shown = real.display();
    if super::preload::sip_protected(path) || super::preload::sip_protected(&real) {
        return check(
            false,
            what,
            format!(
                "{shown} is protected by System Integrity Protection: macOS strips {PRELOAD_VAR} \
                 for it; run an unprotected copy (e.g. Homebrew's)"
            ),
        );
    }
    let out = match Command::new("codesign")
        .args(["-d", "--verbose=4"])
        .arg(&real)
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => o,
        Err(e) => return check(false, what, format!("cannot run codesign: {e}")),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let flags = parse_codesign(&text);
    match signing_problem(flags) {
        Some(why) => check(
            false,
            what,
            format!("{shown} is signed with {why}: the library may not load into it"),
        ),
        None if flags.signed => check(
            true,
            what,
            format!("{shown}: no hardened runtime or library validation; the library loads"),
        ),
        None => check(
            true,
            what,
            format!("{shown} is not signed with restrictions; the library loads"),
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
                    "loaded into a shell and decided its exec",
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

#[cfg(test)]
mod tests {
    use super::*;

    const HARDENED: &str = "Executable=/Applications/Tool.app/Contents/MacOS/tool
Identifier=com.example.tool
Format=app bundle with Mach-O universal (x86_64 arm64)
CodeDirectory v=20500 size=1234 flags=0x10000(runtime) hashes=28+7 location=embedded
Hash type=sha256 size=32
Signature size=9000
Authority=Developer ID Application: Example (ABCDE12345)
TeamIdentifier=ABCDE12345
Runtime Version=14.0.0
";

    #[test]
    fn hardened_runtime_is_read_from_the_code_directory_flags() {
        let f = parse_codesign(HARDENED);
        assert!(f.signed && f.hardened_runtime && !f.library_validation);
        assert!(signing_problem(f).is_some_and(|w| w.contains("hardened runtime")));
    }

    #[test]
    fn library_validation_is_read_by_name_and_by_bit() {
        let named =
            "CodeDirectory v=20400 size=1 flags=0x12000(library-validation,runtime) hashes=1+1";
        let f = parse_codesign(named);
        assert!(f.hardened_runtime && f.library_validation);
        let bits_only = "CodeDirectory v=20400 size=1 flags=0x2000 hashes=1+1";
        let f = parse_codesign(bits_only);
        assert!(f.library_validation && !f.hardened_runtime);
    }

    #[test]
    fn an_ad_hoc_signature_without_restrictions_lets_the_library_load() {
        let adhoc = "Executable=/opt/homebrew/Cellar/bash/5.2/bin/bash
CodeDirectory v=20400 size=1 flags=0x20002(adhoc,linker-signed) hashes=1+0 location=embedded
Signature=adhoc
";
        let f = parse_codesign(adhoc);
        assert!(f.signed && !f.hardened_runtime && !f.library_validation);
        assert_eq!(signing_problem(f), None);
    }

    #[test]
    fn an_unsigned_binary_has_no_flags() {
        let f = parse_codesign("/usr/local/bin/x: code object is not signed at all\n");
        assert_eq!(f, SigningFlags::default());
    }
}
