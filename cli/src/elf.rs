//! Just enough ELF to tell whether the library can load into a program:
//! a static binary has no `PT_INTERP` (no dynamic loader runs, so
//! `LD_PRELOAD` is ignored); a setuid one has `LD_PRELOAD` stripped.

use std::io::Read;
use std::path::{Path, PathBuf};

/// What `rampart doctor` and `rampart preload` say about a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linkage {
    /// Dynamically linked: the library loads.
    Dynamic,
    /// No dynamic loader: the library cannot load into it.
    Static,
    /// A script: its interpreter decides.
    Script(String),
    /// Not an ELF file we understand.
    Unknown,
}

/// Find `cmd` on PATH (or as given when it has a `/`).
pub fn which(cmd: &str) -> Option<PathBuf> {
    if cmd.contains('/') {
        let p = PathBuf::from(cmd);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(cmd))
        .find(|p| is_executable(p))
}

/// A regular file with an execute bit.
pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Is the file setuid or setgid?
pub fn is_setuid(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o6000 != 0)
}

/// Inspect a program file.
pub fn linkage(p: &Path) -> Linkage {
    let mut head = vec![0u8; 4096];
    let n = match std::fs::File::open(p).and_then(|mut f| f.read(&mut head)) {
        Ok(n) => n,
        Err(_) => return Linkage::Unknown,
    };
    head.truncate(n);
    if head.starts_with(b"#!") {
        let line = head.split(|&c| c == b'\n').next().unwrap_or(&[]);
        return Linkage::Script(String::from_utf8_lossy(&line[2..]).trim().to_string());
    }
    if !head.starts_with(b"\x7fELF") || head.len() < 64 {
        return Linkage::Unknown;
    }
    let is64 = head[4] == 2;
    let le = head[5] == 1;
    let u16_at = |o: usize| -> usize {
        let b = [
            head.get(o).copied().unwrap_or(0),
            head.get(o + 1).copied().unwrap_or(0),
        ];
        (if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }) as usize
    };
    let u32_at = |o: usize| -> u64 {
        let mut b = [0u8; 4];
        for (i, x) in b.iter_mut().enumerate() {
            *x = head.get(o + i).copied().unwrap_or(0);
        }
        u64::from(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let u64_at = |o: usize| -> u64 {
        let mut b = [0u8; 8];
        for (i, x) in b.iter_mut().enumerate() {
            *x = head.get(o + i).copied().unwrap_or(0);
        }
        if le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        }
    };
    let (phoff, phentsize, phnum) = if is64 {
        (u64_at(0x20) as usize, u16_at(0x36), u16_at(0x38))
    } else {
        (u32_at(0x1C) as usize, u16_at(0x2A), u16_at(0x2C))
    };
    // Program headers may lie past the first 4 KiB: read them if so.
    let need = phoff.saturating_add(phentsize.saturating_mul(phnum));
    let data = if need > head.len() {
        match std::fs::read(p) {
            Ok(d) => d,
            Err(_) => return Linkage::Unknown,
        }
    } else {
        head.clone()
    };
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        let b = [
            data.get(o).copied().unwrap_or(0),
            data.get(o + 1).copied().unwrap_or(0),
            data.get(o + 2).copied().unwrap_or(0),
            data.get(o + 3).copied().unwrap_or(0),
        ];
        let p_type = if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        };
        if p_type == 3 {
            return Linkage::Dynamic;
        }
    }
    Linkage::Static
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_binaries_are_dynamic_and_scripts_are_scripts() {
        assert_eq!(linkage(Path::new("/bin/sh")), Linkage::Dynamic);
        let dir = std::env::temp_dir().join(format!("rampart-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("s.sh");
        std::fs::write(&script, "#!/bin/bash -e\necho hi\n").unwrap();
        assert_eq!(linkage(&script), Linkage::Script("/bin/bash -e".into()));
        std::fs::write(dir.join("x"), "hello").unwrap();
        assert_eq!(linkage(&dir.join("x")), Linkage::Unknown);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
