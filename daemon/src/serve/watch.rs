//! Watching the policies directory (never the files: editors save by
//! writing a temp file and renaming it over the old one, and a watch on the
//! old file goes deaf after the first save).
//!
//! Events are debounced for 100 ms (an editor's save is several events)
//! and collapse into one "reload" signal on a channel of capacity one: a
//! burst while a reload runs yields exactly one more reload.

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

/// The debounce window.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// A running watcher (stops when dropped).
pub type Watcher = Debouncer<notify::RecommendedWatcher, RecommendedCache>;

/// Watch `dir`; each settled burst of relevant changes sends `()` on `tx`.
pub fn start(dir: &Path, tx: mpsc::Sender<()>) -> notify::Result<Watcher> {
    start_with(dir, tx, relevant)
}

/// Watch the spool directory: any change to a `.jsonl` file there (the
/// library appending a record) wakes the ingester.
pub fn start_spool(dir: &Path, tx: mpsc::Sender<()>) -> notify::Result<Watcher> {
    start_with(dir, tx, |e| {
        !matches!(e.kind, EventKind::Access(_))
            && e.paths.iter().any(|p| {
                p.extension().and_then(|x| x.to_str()) == Some("jsonl")
                    && p.file_name().and_then(|n| n.to_str()) != Some("quarantine.jsonl")
            })
    })
}

fn start_with(
    dir: &Path,
    tx: mpsc::Sender<()>,
    relevant: fn(&notify::Event) -> bool,
) -> notify::Result<Watcher> {
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |res: DebounceEventResult| match res {
        Ok(events) => {
            for e in &events {
                tracing::debug!(kind = ?e.event.kind, paths = ?e.event.paths, "watched directory changed");
            }
            if events.iter().any(|e| relevant(&e.event)) {
                // Full: a reload is already due, it will see this change.
                let _ = tx.try_send(());
            }
        }
        Err(errors) => {
            for e in errors {
                tracing::warn!("watching {}: {e}", "a directory");
            }
        }
    })?;
    debouncer.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(debouncer)
}

/// A change that may alter the policies: anything but reads, on a YAML
/// file (or on the directory itself).
fn relevant(e: &notify::Event) -> bool {
    let kind_matters = match e.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    };
    kind_matters
        && (e.paths.is_empty()
            || e.paths.iter().any(|p| {
                matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml"))
                    || p.extension().is_none()
            }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind};
    use std::path::PathBuf;

    fn ev(kind: EventKind, path: &str) -> notify::Event {
        notify::Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn writes_to_yaml_files_matter_and_reads_and_other_files_do_not() {
        assert!(relevant(&ev(
            EventKind::Create(CreateKind::File),
            "/p/a.yaml"
        )));
        assert!(relevant(&ev(
            EventKind::Modify(ModifyKind::Any),
            "/p/b.yml"
        )));
        assert!(relevant(&ev(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            "/p/a.yaml"
        )));
        assert!(!relevant(&ev(
            EventKind::Access(AccessKind::Open(AccessMode::Read)),
            "/p/a.yaml"
        )));
        assert!(!relevant(&ev(
            EventKind::Modify(ModifyKind::Any),
            "/p/.a.yaml.swp"
        )));
    }
}
