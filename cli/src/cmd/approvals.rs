//! `rampart pending`, `rampart approve ID`, `rampart deny ID`: the calls
//! waiting for a human, over the daemon's Unix socket.

use daemon::RampartHome;
use serde_json::Value;
use std::process::ExitCode;

pub fn pending(json: bool) -> anyhow::Result<ExitCode> {
    let home = RampartHome::from_env();
    let r = daemon::client::get(&home.socket_path(), "/v1/approvals")?;
    if r.status != 200 {
        anyhow::bail!("the daemon answered {}: {}", r.status, r.error_message());
    }
    let v = r.json();
    let list = v["approvals"].as_array().cloned().unwrap_or_default();
    if json {
        println!("{}", Value::Array(list));
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("nothing is waiting for approval");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<10} {:>6}  {:<12} COMMAND", "ID", "AGE", "AGENT");
    for a in &list {
        let agent = a["agent"].as_str().filter(|s| !s.is_empty()).unwrap_or("-");
        println!(
            "{:<10} {:>6}  {:<12} {}",
            a["id"].as_str().unwrap_or("?"),
            age(a["age_s"].as_f64().unwrap_or(0.0)),
            agent,
            a["command"].as_str().unwrap_or("")
        );
    }
    println!("\nrampart approve ID | rampart deny ID");
    Ok(ExitCode::SUCCESS)
}

pub fn resolve(id: &str, approved: bool) -> anyhow::Result<ExitCode> {
    let verb = if approved { "approve" } else { "deny" };
    match send_resolution(id, approved, &format!("rampart {verb}"))? {
        Ok(v) => {
            println!(
                "{} {id}: {}",
                if approved { "approved" } else { "denied" },
                v["command"].as_str().unwrap_or("")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(message) => {
            eprintln!("rampart: {message}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Resolve approval `id` over the socket, as `$USER (via)`: the approval's
/// JSON, or the daemon's refusal (unknown id, already resolved).
pub fn send_resolution(
    id: &str,
    approved: bool,
    via: &str,
) -> anyhow::Result<Result<Value, String>> {
    let home = RampartHome::from_env();
    let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    let path = format!("/v1/approvals/{}/resolve", encode(id));
    let r = daemon::client::post(
        &home.socket_path(),
        &path,
        Some(&serde_json::json!({"approved": approved, "resolved_by": format!("{who} ({via})")})),
    )?;
    Ok(match r.status {
        200 => Ok(r.json()),
        _ => Err(r.error_message()),
    })
}

/// `12s`, `3m`, `2h`.
pub fn age(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// Ids are hex; anything else is percent-encoded so it cannot change the
/// request line.
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
