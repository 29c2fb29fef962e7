//! `rampart serve`: run the daemon, or (`--reload`) ask the running one to
//! reload its policies.

use crate::cli::{Mode, ServeAction, ServeArgs};
use daemon::RampartHome;
use daemon::serve::{self, Config};
use daemon::service::{self, Installed, Manager, ServiceFile};
use std::process::ExitCode;

pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let home = RampartHome::from_env();
    match a.action {
        Some(ServeAction::Install { dry_run }) => return install(dry_run),
        Some(ServeAction::Uninstall { dry_run }) => return uninstall(dry_run),
        None => {}
    }
    if a.reload {
        return reload(&home);
    }
    serve::init_logging();
    if !a.addr.is_loopback() {
        eprintln!(
            "rampart: warning: listening on {}, which is not a loopback address: anyone who can reach it and has the token can use the API",
            a.addr
        );
    }
    let config = Config {
        addr: a.addr,
        port: a.port,
        mode: match a.mode {
            Mode::Enforce => serve::Mode::Enforce,
            Mode::Monitor => serve::Mode::Monitor,
            Mode::Disabled => serve::Mode::Disabled,
        },
        policies: a.policies,
        approval_timeout: a.approval_timeout,
        ..Config::new(home)
    };
    serve::run(config)?;
    Ok(ExitCode::SUCCESS)
}

/// `rampart serve --reload`: "reloaded: generation N in X ms", or the
/// compile error with its location and exit 1.
fn reload(home: &RampartHome) -> anyhow::Result<ExitCode> {
    let r = daemon::client::post(&home.socket_path(), "/v1/policy/reload", None)?;
    let v = r.json();
    match r.status {
        200 => {
            let note = if v["changed"] == false {
                " (policies unchanged)"
            } else {
                ""
            };
            println!(
                "reloaded: generation {} in {} ms — {} policies, {} rules{note}",
                v["generation"], v["duration_ms"], v["policies"], v["rules"]
            );
            Ok(ExitCode::SUCCESS)
        }
        422 => {
            let msg = super::load_error_from_json(&v["error"]);
            eprintln!("{}: {msg}", crate::style::paint("error", "1;31"));
            eprintln!(
                "rampart: the daemon keeps the last good snapshot (generation {})",
                v["generation"]
            );
            Ok(ExitCode::from(1))
        }
        s => anyhow::bail!("the daemon answered {s}: {}", r.error_message()),
    }
}

fn service_file() -> anyhow::Result<ServiceFile> {
    let exe = std::env::current_exe()?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let nonempty = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    };
    Ok(ServiceFile::new(
        Manager::native(),
        &exe,
        &daemon::user_home(),
        nonempty("XDG_CONFIG_HOME").as_deref(),
        nonempty("RAMPART_HOME").as_deref(),
    ))
}

/// Is the service manager there to talk to (a user systemd, launchctl)?
fn manager_available(m: Manager) -> bool {
    let (prog, args): (&str, &[&str]) = match m {
        Manager::Systemd => ("systemctl", &["--user", "show-environment"]),
        Manager::Launchd => ("launchctl", &["version"]),
    };
    std::process::Command::new(prog)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Run `cmds`, or print them when the manager is not reachable.
fn run_or_print(f: &ServiceFile, cmds: &[Vec<String>], dry_run: bool) -> ExitCode {
    let show = |c: &[String]| c.join(" ");
    if dry_run || !manager_available(f.manager) {
        if !dry_run {
            println!("the service manager is not reachable from here; run:");
        } else {
            println!("then:");
        }
        for c in cmds {
            println!("  {}", show(c));
        }
        return ExitCode::SUCCESS;
    }
    for c in cmds {
        let ok = std::process::Command::new(&c[0])
            .args(&c[1..])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("rampart: `{}` failed", show(c));
            return ExitCode::from(1);
        }
        println!("ran: {}", show(c));
    }
    ExitCode::SUCCESS
}

fn install(dry_run: bool) -> anyhow::Result<ExitCode> {
    let f = service_file()?;
    if dry_run {
        println!("would write {}:\n", f.path.display());
        print!("{}", f.text);
        println!();
        return Ok(run_or_print(&f, &f.commands(true), true));
    }
    match service::install(&f)? {
        Installed::Written => println!("wrote {}", f.path.display()),
        Installed::Unchanged => println!("{} is already installed", f.path.display()),
    }
    Ok(run_or_print(&f, &f.commands(true), false))
}

fn uninstall(dry_run: bool) -> anyhow::Result<ExitCode> {
    let f = service_file()?;
    if dry_run {
        println!("would stop the service and remove {}", f.path.display());
        return Ok(run_or_print(&f, &f.commands(false), true));
    }
    if !f.path.exists() {
        println!("not installed ({} does not exist)", f.path.display());
        return Ok(ExitCode::SUCCESS);
    }
    // Refuse before stopping anything if the file is not ours.
    let text = std::fs::read_to_string(&f.path)?;
    if !text.contains(service::MARKER) {
        return Err(service::ServiceError::NotOurs(f.path.clone()).into());
    }
    let code = run_or_print(&f, &f.commands(false), false);
    if service::uninstall(&f.path)? {
        println!("removed {}", f.path.display());
    }
    Ok(code)
}
