//! `rampart status`: the daemon (asked over its socket when it runs), the
//! snapshot in force, the last reload, the library, the spool. Without a
//! daemon it reports what the files say.

use super::approvals::age;
use crate::style;
use daemon::RampartHome;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::SystemTime;

pub fn run(as_json: bool) -> anyhow::Result<ExitCode> {
    let home = RampartHome::from_env();
    let daemon = match daemon::client::get(&home.socket_path(), "/v1/status") {
        Ok(r) if r.status == 200 => Ok(r.json()),
        Ok(r) => Err(format!(
            "the daemon answered {}: {}",
            r.status,
            r.error_message()
        )),
        Err(e) => Err(e.to_string()),
    };
    let library = super::preload::find_library(&home);
    let (lines, bytes) = home.spool_backlog();
    let snapshot = match &daemon {
        Ok(d) => d["snapshot"].clone(),
        Err(_) => snapshot_from_file(&home),
    };
    let report = json!({
        "home": home.root().display().to_string(),
        "daemon": match &daemon {
            Ok(d) => json!({"running": true, "pid": d["daemon"]["pid"], "tcp": d["daemon"]["tcp"],
                            "uptime_s": d["daemon"]["uptime_s"], "socket": d["daemon"]["socket"]}),
            Err(e) => json!({"running": false, "error": e}),
        },
        "mode": daemon.as_ref().ok().map(|d| d["mode"].clone()),
        "snapshot": snapshot,
        "last_reload": daemon.as_ref().ok().map(|d| d["last_reload"].clone()),
        "pending_approvals": daemon.as_ref().ok().map(|d| d["approvals"]["pending"].clone()),
        "library": { "installed": library.is_some(), "path": library.as_ref().map(|p| p.display().to_string()) },
        "spool": { "lines": lines, "bytes": bytes },
    });
    if as_json {
        println!("{report}");
    } else {
        print_human(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn snapshot_from_file(home: &RampartHome) -> Value {
    let path = home.snapshot_path();
    let Ok(bytes) = std::fs::read(&path) else {
        return json!({"path": path.display().to_string(), "present": false});
    };
    let age_s = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map(|d| d.as_secs_f64());
    match policy_cache::Snapshot::from_bytes(&bytes) {
        Ok(s) => json!({
            "path": path.display().to_string(), "present": true, "valid": true,
            "generation": s.generation(), "policies": s.policy_count(), "rules": s.rule_count(),
            "age_s": age_s,
        }),
        Err(e) => {
            json!({"path": path.display().to_string(), "present": true, "valid": false, "error": e.message()})
        }
    }
}

fn print_human(r: &Value) {
    let d = &r["daemon"];
    if d["running"] == true {
        println!(
            "daemon:      {} (pid {}, up {}, {}, mode {})",
            style::paint("running", "32"),
            d["pid"],
            age(d["uptime_s"].as_f64().unwrap_or(0.0)),
            d["tcp"].as_str().unwrap_or("?"),
            r["mode"].as_str().unwrap_or("?")
        );
    } else {
        println!(
            "daemon:      {} ({})",
            style::paint("not running", "33"),
            d["error"].as_str().unwrap_or("")
        );
    }
    let s = &r["snapshot"];
    if s["generation"].is_u64() {
        println!(
            "snapshot:    generation {}, {} policies, {} rules, published {} ago{}",
            s["generation"],
            s["policies"],
            s["rules"],
            age(s["age_s"].as_f64().unwrap_or(0.0)),
            s["source"]
                .as_str()
                .map(|src| format!(" from {src}"))
                .unwrap_or_default()
        );
    } else if s["present"] == false {
        println!(
            "snapshot:    none at {} (the library uses its built-in default policy)",
            s["path"].as_str().unwrap_or("?")
        );
    } else {
        println!(
            "snapshot:    {} at {}: {} (the library uses its built-in default policy)",
            style::paint("invalid", "1;31"),
            s["path"].as_str().unwrap_or("?"),
            s["error"].as_str().unwrap_or("")
        );
    }
    let lr = &r["last_reload"];
    if lr.is_object() {
        if lr["error"].is_object() {
            let msg = super::load_error_from_json(&lr["error"]);
            println!(
                "last reload: {} {msg}\n             (generation {} stays in force)",
                style::paint("error", "1;31"),
                lr["generation"]
            );
        } else {
            println!(
                "last reload: ok ({}, {} ms)",
                lr["trigger"].as_str().unwrap_or("?"),
                lr["duration_ms"]
            );
        }
    }
    if let Some(n) = r["pending_approvals"].as_u64() {
        println!("approvals:   {n} pending");
    }
    match r["library"]["path"].as_str() {
        Some(p) => println!("library:     installed at {p}"),
        None => println!(
            "library:     {} (see README, \"Install\")",
            style::paint("not installed", "33")
        ),
    }
    println!(
        "spool:       {} records ({} bytes) waiting",
        r["spool"]["lines"], r["spool"]["bytes"]
    );
}
