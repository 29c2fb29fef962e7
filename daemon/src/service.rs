//! `rampart serve install|uninstall`: run the daemon at login, as a systemd
//! user unit on Linux or a launchd agent on macOS.
//!
//! Files this writes carry a marker line; a file without it was written by
//! someone else and is never overwritten or removed. Installing the same
//! file twice changes nothing.

use std::path::{Path, PathBuf};

/// The marker that says a service file is ours.
pub const MARKER: &str = "Written by `rampart serve install`";

/// Which service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    /// systemd user units (`~/.config/systemd/user/rampart.service`).
    Systemd,
    /// launchd agents (`~/Library/LaunchAgents/dev.rampart.serve.plist`).
    Launchd,
}

impl Manager {
    /// This platform's.
    pub fn native() -> Manager {
        if cfg!(target_os = "macos") {
            Manager::Launchd
        } else {
            Manager::Systemd
        }
    }
}

/// A service file to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFile {
    /// For which manager.
    pub manager: Manager,
    /// Where it goes.
    pub path: PathBuf,
    /// Its contents.
    pub text: String,
}

impl ServiceFile {
    /// The file that runs `exe serve`, with `rampart_home` when it is not
    /// the default, for the user whose home is `home` (and whose config
    /// directory is `xdg_config`, when set).
    pub fn new(
        manager: Manager,
        exe: &Path,
        home: &Path,
        xdg_config: Option<&Path>,
        rampart_home: Option<&Path>,
    ) -> ServiceFile {
        match manager {
            Manager::Systemd => {
                let dir = xdg_config
                    .map_or_else(|| home.join(".config"), Path::to_path_buf)
                    .join("systemd/user");
                let env = rampart_home
                    .map(|h| format!("Environment=\"RAMPART_HOME={}\"\n", h.display()))
                    .unwrap_or_default();
                let text = format!(
                    "# {MARKER}; `rampart serve uninstall` removes it.\n\
                     [Unit]\n\
                     Description=Rampart: policy firewall daemon for AI coding agents\n\
                     \n\
                     [Service]\n\
                     ExecStart={} serve\n\
                     ExecReload=/bin/kill -HUP $MAINPID\n\
                     {env}\
                     Restart=on-failure\n\
                     RestartSec=1\n\
                     \n\
                     [Install]\n\
                     WantedBy=default.target\n",
                    exe.display()
                );
                ServiceFile {
                    manager,
                    path: dir.join("rampart.service"),
                    text,
                }
            }
            Manager::Launchd => {
                let env = rampart_home
                    .map(|h| {
                        format!(
                            "  <key>EnvironmentVariables</key>\n  <dict>\n    <key>RAMPART_HOME</key>\n    <string>{}</string>\n  </dict>\n",
                            xml(&h.display().to_string())
                        )
                    })
                    .unwrap_or_default();
                let text = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                     <!-- {MARKER}; `rampart serve uninstall` removes it. -->\n\
                     <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
                     <plist version=\"1.0\">\n<dict>\n\
                     \x20 <key>Label</key>\n  <string>dev.rampart.serve</string>\n\
                     \x20 <key>ProgramArguments</key>\n  <array>\n    <string>{}</string>\n    <string>serve</string>\n  </array>\n\
                     {env}\
                     \x20 <key>RunAtLoad</key>\n  <true/>\n\
                     \x20 <key>KeepAlive</key>\n  <true/>\n\
                     </dict>\n</plist>\n",
                    xml(&exe.display().to_string())
                );
                ServiceFile {
                    manager,
                    path: home.join("Library/LaunchAgents/dev.rampart.serve.plist"),
                    text,
                }
            }
        }
    }

    /// Commands that start it (or stop it, `start == false`).
    pub fn commands(&self, start: bool) -> Vec<Vec<String>> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let path = self.path.display().to_string();
        match (self.manager, start) {
            (Manager::Systemd, true) => vec![
                s(&["systemctl", "--user", "daemon-reload"]),
                s(&["systemctl", "--user", "enable", "--now", "rampart.service"]),
            ],
            (Manager::Systemd, false) => {
                vec![s(&[
                    "systemctl",
                    "--user",
                    "disable",
                    "--now",
                    "rampart.service",
                ])]
            }
            (Manager::Launchd, true) => vec![s(&["launchctl", "load", "-w", &path])],
            (Manager::Launchd, false) => vec![s(&["launchctl", "unload", "-w", &path])],
        }
    }
}

/// What installing found.
#[derive(Debug, PartialEq, Eq)]
pub enum Installed {
    /// Written (new, or an older file of ours replaced).
    Written,
    /// The same file was already there.
    Unchanged,
}

/// Why a service file was left alone.
#[derive(Debug)]
pub enum ServiceError {
    /// The file exists and is not ours.
    NotOurs(PathBuf),
    /// Reading or writing failed.
    Io(PathBuf, std::io::Error),
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceError::NotOurs(p) => write!(
                f,
                "{} exists and was not written by rampart; leaving it alone (remove it yourself to let rampart manage it)",
                p.display()
            ),
            ServiceError::Io(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for ServiceError {}

/// Write `file` unless a foreign file is in the way.
pub fn install(file: &ServiceFile) -> Result<Installed, ServiceError> {
    let io = |e| ServiceError::Io(file.path.clone(), e);
    match std::fs::read_to_string(&file.path) {
        Ok(existing) if existing == file.text => return Ok(Installed::Unchanged),
        Ok(existing) if !existing.contains(MARKER) => {
            return Err(ServiceError::NotOurs(file.path.clone()));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    if let Some(dir) = file.path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = file.path.with_extension("rampart-tmp");
    std::fs::write(&tmp, &file.text).map_err(io)?;
    std::fs::rename(&tmp, &file.path).map_err(io)?;
    Ok(Installed::Written)
}

/// Remove the file at `path` if it is ours. `Ok(false)`: nothing there.
pub fn uninstall(path: &Path) -> Result<bool, ServiceError> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.contains(MARKER) => {
            Err(ServiceError::NotOurs(path.to_path_buf()))
        }
        Ok(_) => std::fs::remove_file(path)
            .map(|()| true)
            .map_err(|e| ServiceError::Io(path.to_path_buf(), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(ServiceError::Io(path.to_path_buf(), e)),
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-svc-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_systemd_unit_runs_serve_and_reloads_with_sighup() {
        let f = ServiceFile::new(
            Manager::Systemd,
            Path::new("/opt/bin/rampart"),
            Path::new("/home/me"),
            None,
            Some(Path::new("/home/me/rh")),
        );
        assert_eq!(
            f.path,
            Path::new("/home/me/.config/systemd/user/rampart.service")
        );
        assert!(
            f.text.contains("\nExecStart=/opt/bin/rampart serve\n"),
            "{}",
            f.text
        );
        assert!(f.text.contains("ExecReload=/bin/kill -HUP $MAINPID"));
        assert!(f.text.contains("Environment=\"RAMPART_HOME=/home/me/rh\""));
        assert!(f.text.contains("WantedBy=default.target"));
        assert!(f.text.starts_with(&format!("# {MARKER}")));
    }

    #[test]
    fn the_launchd_agent_runs_serve_at_load_and_keeps_it_alive() {
        let f = ServiceFile::new(
            Manager::Launchd,
            Path::new("/usr/local/bin/rampart"),
            Path::new("/Users/me"),
            None,
            None,
        );
        assert_eq!(
            f.path,
            Path::new("/Users/me/Library/LaunchAgents/dev.rampart.serve.plist")
        );
        assert!(
            f.text
                .contains("<string>/usr/local/bin/rampart</string>\n    <string>serve</string>"),
            "{}",
            f.text
        );
        assert!(f.text.contains("<key>RunAtLoad</key>\n  <true/>"));
        assert!(f.text.contains("<string>dev.rampart.serve</string>"));
        assert!(!f.text.contains("RAMPART_HOME"));
    }

    #[test]
    fn installing_twice_changes_nothing_and_a_foreign_file_is_left_alone() {
        let home = temp("install");
        let f = ServiceFile::new(
            Manager::Systemd,
            Path::new("/bin/rampart"),
            &home,
            None,
            None,
        );
        assert_eq!(install(&f).unwrap(), Installed::Written);
        assert_eq!(install(&f).unwrap(), Installed::Unchanged);
        let newer = ServiceFile::new(
            Manager::Systemd,
            Path::new("/usr/bin/rampart"),
            &home,
            None,
            None,
        );
        assert_eq!(
            install(&newer).unwrap(),
            Installed::Written,
            "ours: updated"
        );
        assert!(uninstall(&f.path).unwrap());
        assert!(!uninstall(&f.path).unwrap());

        std::fs::write(&f.path, "[Service]\nExecStart=/usr/bin/something-else\n").unwrap();
        assert!(matches!(install(&f), Err(ServiceError::NotOurs(_))));
        assert!(matches!(uninstall(&f.path), Err(ServiceError::NotOurs(_))));
        assert!(
            std::fs::read_to_string(&f.path)
                .unwrap()
                .contains("something-else")
        );
        let _ = std::fs::remove_dir_all(&home);
    }
}
