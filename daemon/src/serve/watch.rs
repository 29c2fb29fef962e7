//! Watching the policies directory (never the files: editors save by
//! writing a temp file and renaming it over the old one, and a watch on the
//! old file goes deaf after the first save).
//!
//! Events are debounced for 100 ms (an editor's save is several events)
//! and collapse into one "reload" signal on a channel of capacity one: a
//! burst while a reload runs yields exactly one more reload.
//!
//! The directory's parent is watched too: a watch on a directory dies with
//! it, so when the policies directory is deleted (or moved away) and comes
//! back, the parent sees it return, the directory is watched again, and
//! then the reload runs — recreating the directory and saving a policy
//! into it reloads by itself, with no `rampart serve --reload`.

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The debounce window.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// A running watcher (stops when dropped).
pub type Watcher = Debouncer<notify::RecommendedWatcher, RecommendedCache>;

/// The policies directory's watcher: a debouncer over the directory and
/// its parent, and the thread that re-arms the directory's watch when it
/// comes back. Stops when dropped.
pub struct PolicyWatcher {
    stop: std_mpsc::Sender<Settled>,
}

impl std::fmt::Debug for PolicyWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyWatcher")
    }
}

impl Drop for PolicyWatcher {
    fn drop(&mut self) {
        let _ = self.stop.send(Settled::Stop);
    }
}

/// What a settled burst of events meant, for the re-arming thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    /// Policy files changed: reload.
    Changed,
    /// The directory itself was created, deleted or renamed: watch it
    /// again (if it is there), then reload.
    DirectoryTouched,
    /// The watcher was dropped.
    Stop,
}

/// Watch the policies directory `dir` (and its parent, to see it come
/// back); each settled burst of relevant changes sends `()` on `tx`.
pub fn start(dir: &Path, tx: mpsc::Sender<()>) -> notify::Result<PolicyWatcher> {
    let (settled_tx, settled) = std_mpsc::channel::<Settled>();
    let stop = settled_tx.clone();
    let watched = dir.to_path_buf();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |res: DebounceEventResult| match res {
        Ok(events) => {
            for e in &events {
                tracing::debug!(kind = ?e.event.kind, paths = ?e.event.paths, "policies directory changed");
            }
            let what = if events.iter().any(|e| touches_directory(&watched, &e.event)) {
                Some(Settled::DirectoryTouched)
            } else if events.iter().any(|e| relevant(&watched, &e.event)) {
                Some(Settled::Changed)
            } else {
                None
            };
            if let Some(what) = what {
                let _ = settled_tx.send(what);
            }
        }
        Err(errors) => {
            for e in errors {
                tracing::warn!("watching the policies directory: {e}");
            }
        }
    })?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    let parent_watched = match parent {
        Some(p) => match debouncer.watch(p, RecursiveMode::NonRecursive) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(
                    "not watching {}: {e}; if {} is deleted and comes back, reload with `rampart serve --reload`",
                    p.display(),
                    dir.display()
                );
                false
            }
        },
        None => false,
    };
    if let Err(e) = debouncer.watch(dir, RecursiveMode::NonRecursive) {
        // Not there yet: the parent's watch sees it arrive.
        if !parent_watched {
            return Err(e);
        }
        tracing::warn!("not watching {} yet: {e}", dir.display());
    }
    let dir = dir.to_path_buf();
    std::thread::Builder::new()
        .name("rampart-policy-watch".into())
        .spawn(move || rearm_loop(debouncer, &dir, &settled, &tx))
        .map_err(notify::Error::io)?;
    Ok(PolicyWatcher { stop })
}

/// Owns the debouncer: re-arms the directory's watch when the directory
/// itself changed, then signals a reload (in that order, so that a change
/// made after the reload's read is seen by the new watch).
fn rearm_loop(
    mut debouncer: Watcher,
    dir: &Path,
    settled: &std_mpsc::Receiver<Settled>,
    tx: &mpsc::Sender<()>,
) {
    while let Ok(what) = settled.recv() {
        match what {
            Settled::Stop => break,
            Settled::DirectoryTouched => rearm(&mut debouncer, dir),
            Settled::Changed => {}
        }
        // Full: a reload is already due, it will see this change.
        let _ = tx.try_send(());
    }
}

/// Watch `dir` again, on whatever directory now has its name. The old
/// watch (a deleted directory's, or one moved away) is dropped first.
fn rearm(debouncer: &mut Watcher, dir: &Path) {
    let _ = debouncer.unwatch(dir);
    if !dir.is_dir() {
        tracing::info!(
            "{} is gone; watching its parent for its return",
            dir.display()
        );
        return;
    }
    match debouncer.watch(dir, RecursiveMode::NonRecursive) {
        Ok(()) => tracing::info!("{} is back; watching it again", dir.display()),
        Err(e) => tracing::warn!("cannot watch {} again: {e}", dir.display()),
    }
}

/// The directory itself created, deleted or renamed (reads of it, and its
/// attributes, do not count: a reload reads it).
fn touches_directory(dir: &Path, e: &notify::Event) -> bool {
    matches!(
        e.kind,
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
    ) && e.paths.iter().any(|p| p == dir)
}

/// A change that may alter the policies: anything but reads, on a YAML
/// file in `dir` (or on `dir` itself). The parent's other entries do not
/// matter.
fn relevant(dir: &Path, e: &notify::Event) -> bool {
    let kind_matters = match e.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    };
    kind_matters
        && (e.paths.is_empty()
            || e.paths.iter().any(|p| {
                p == dir
                    || (p.parent() == Some(dir)
                        && (matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml"))
                            || p.extension().is_none()))
            }))
}

/// Watch the spool directory: any change to a `.jsonl` file there (the
/// library appending a record) wakes the ingester.
pub fn start_spool(dir: &Path, tx: mpsc::Sender<()>) -> notify::Result<Watcher> {
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |res: DebounceEventResult| match res {
        Ok(events) => {
            let wake = events.iter().any(|e| {
                !matches!(e.event.kind, EventKind::Access(_))
                    && e.event.paths.iter().any(|p| {
                        p.extension().and_then(|x| x.to_str()) == Some("jsonl")
                            && p.file_name().and_then(|n| n.to_str()) != Some("quarantine.jsonl")
                    })
            });
            if wake {
                let _ = tx.try_send(());
            }
        }
        Err(errors) => {
            for e in errors {
                tracing::warn!("watching the spool: {e}");
            }
        }
    })?;
    debouncer.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(debouncer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, RemoveKind};
    use std::path::PathBuf;
    use std::time::Instant;

    fn ev(kind: EventKind, path: &str) -> notify::Event {
        notify::Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn writes_to_yaml_files_matter_and_reads_and_other_files_do_not() {
        let dir = Path::new("/p");
        assert!(relevant(
            dir,
            &ev(EventKind::Create(CreateKind::File), "/p/a.yaml")
        ));
        assert!(relevant(
            dir,
            &ev(EventKind::Modify(ModifyKind::Any), "/p/b.yml")
        ));
        assert!(relevant(
            dir,
            &ev(
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                "/p/a.yaml"
            )
        ));
        assert!(!relevant(
            dir,
            &ev(
                EventKind::Access(AccessKind::Open(AccessMode::Read)),
                "/p/a.yaml"
            )
        ));
        assert!(!relevant(
            dir,
            &ev(EventKind::Modify(ModifyKind::Any), "/p/.a.yaml.swp")
        ));
    }

    #[test]
    fn the_parents_other_entries_do_not_matter_but_the_directory_itself_does() {
        let dir = Path::new("/h/policies");
        let created = ev(EventKind::Create(CreateKind::Folder), "/h/policies");
        assert!(touches_directory(dir, &created) && relevant(dir, &created));
        assert!(touches_directory(
            dir,
            &ev(EventKind::Remove(RemoveKind::Folder), "/h/policies")
        ));
        // The parent's own files (the token, the lock, the socket).
        for p in ["/h/token", "/h/serve.lock", "/h/other.yaml"] {
            assert!(
                !relevant(dir, &ev(EventKind::Modify(ModifyKind::Any), p)),
                "{p}"
            );
        }
        // A reload reads the directory: that is no reason to re-arm.
        let opened = ev(
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            "/h/policies",
        );
        assert!(!touches_directory(dir, &opened) && !relevant(dir, &opened));
        // A file in it is not the directory.
        assert!(!touches_directory(
            dir,
            &ev(EventKind::Create(CreateKind::File), "/h/policies/a.yaml")
        ));
    }

    /// Wait up to 10 s for a reload signal; then let the burst settle and
    /// drain what else came.
    fn signalled(rx: &mut mpsc::Receiver<()>) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if rx.try_recv().is_ok() {
                std::thread::sleep(DEBOUNCE * 4);
                while rx.try_recv().is_ok() {}
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn a_deleted_policies_directory_that_comes_back_is_watched_again() {
        let root = std::env::temp_dir().join(format!("rampart-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("policies");
        std::fs::create_dir_all(&dir).unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        let watcher = start(&dir, tx).unwrap();
        std::fs::write(dir.join("a.yaml"), "one").unwrap();
        assert!(signalled(&mut rx), "a saved policy");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(signalled(&mut rx), "the directory deleted");
        std::fs::create_dir(&dir).unwrap();
        assert!(signalled(&mut rx), "the directory back");
        // Only a watch on the new directory sees a file saved into it
        // (the parent's watch sees its own entries only).
        std::fs::write(dir.join("a.yaml"), "two").unwrap();
        assert!(signalled(&mut rx), "a policy saved into the new directory");
        std::fs::write(root.join("unrelated"), "x").unwrap();
        assert!(
            !signalled_within(&mut rx, DEBOUNCE * 5),
            "the parent's other files"
        );
        drop(watcher);
        let _ = std::fs::remove_dir_all(&root);
    }

    fn signalled_within(rx: &mut mpsc::Receiver<()>, d: Duration) -> bool {
        std::thread::sleep(d);
        rx.try_recv().is_ok()
    }
}
