//! Publishing a snapshot: temp file in the same directory, fsync, rename.
//! A published file is never modified afterwards (a reader that has it
//! mapped would get SIGBUS if it shrank).

use std::io::Write;
use std::path::Path;

/// Atomically replace `dest` with `bytes` (mode 0644), fsyncing the file and
/// its directory.
pub fn publish(bytes: &[u8], dest: &Path) -> std::io::Result<()> {
    // Readers in the library check only header, CRC and section table:
    // the full validation happens here, once, before anything is renamed
    // into place.
    if let Err(e) = crate::snapshot::Snapshot::from_bytes(bytes) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            std::format!("refusing to publish an invalid snapshot: {}", e.message()),
        ));
    }
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("policy.snap");
    let tmp = dir.join(std::format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dest)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The generation of the snapshot at `path`, if it is a valid one.
pub fn read_generation(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    crate::snapshot::Snapshot::from_bytes(&bytes)
        .ok()
        .map(|s| s.generation())
}
