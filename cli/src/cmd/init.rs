//! `rampart init`: a starter `~/.rampart/policies/`, the default policy as
//! an editable copy plus an empty overrides file.

use super::overrides;
use super::rules::write_atomic;
use daemon::RampartHome;
use policy_cache::compile::builtin::STANDARD_YAML;
use std::process::ExitCode;

pub fn run(force: bool) -> anyhow::Result<ExitCode> {
    let dir = RampartHome::from_env().policies_dir();
    let files = [
        (dir.join("standard.yaml"), STANDARD_YAML),
        (dir.join(overrides::FILE_NAME), overrides::EMPTY),
    ];
    let existing: Vec<String> = files
        .iter()
        .filter(|(p, _)| p.exists())
        .map(|(p, _)| p.display().to_string())
        .collect();
    if !existing.is_empty() && !force {
        eprintln!(
            "rampart: {} already exist{}; nothing was written. Pass --force to overwrite (the old files are kept as *.bak).",
            existing.join(" and "),
            if existing.len() == 1 { "s" } else { "" }
        );
        return Ok(ExitCode::from(1));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    for (path, text) in &files {
        if path.exists() {
            let bak = path.with_extension("yaml.bak");
            std::fs::copy(path, &bak).map_err(|e| {
                anyhow::anyhow!(
                    "cannot back up {} to {}: {e}",
                    path.display(),
                    bak.display()
                )
            })?;
            println!("kept the old {} as {}", path.display(), bak.display());
        }
        write_atomic(path, text)?;
        println!("wrote {}", path.display());
    }
    println!(
        "edit {} freely, or add quick rules with `rampart allow|block|ask PATTERN`",
        files[0].0.display()
    );
    Ok(ExitCode::SUCCESS)
}
