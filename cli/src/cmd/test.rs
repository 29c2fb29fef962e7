//! `rampart test`: what would the policy say?

use crate::cli::{TestArgs, Tool};
use crate::style;
use policy_cache::{Action, Call, Command, Snapshot, evaluate, scratch_needed};
use std::process::ExitCode;
use std::time::Instant;

pub fn run(a: TestArgs) -> anyhow::Result<ExitCode> {
    let (_source, set, bytes) = super::load_compiled(a.policy.as_deref())?;
    let snap = Snapshot::from_bytes(&bytes).map_err(|e| anyhow::anyhow!(e.message()))?;
    let input = a.input.as_bytes();
    let params: Vec<(&[u8], &[u8])> = match a.tool {
        Tool::Exec => vec![(b"command", input)],
        Tool::Read | Tool::Write => vec![(b"path", input)],
        Tool::Fetch => vec![(b"url", input)],
    };
    let call = Call {
        tool: a.tool.as_str().as_bytes(),
        agent: a.agent.as_bytes(),
        session: a.session.as_bytes(),
        command: (a.tool == Tool::Exec).then_some(Command::Shell(input)),
        path: matches!(a.tool, Tool::Read | Tool::Write).then_some(input),
        url: (a.tool == Tool::Fetch).then_some(input),
        params: &params,
        home: set.home.as_bytes(),
    };
    let mut scratch = vec![0u8; scratch_needed(&call)];
    let d = evaluate(&snap, &call, &mut scratch);
    // Time a batch of decisions: one alone is below the clock's resolution.
    let runs = 200u32;
    let start = Instant::now();
    for _ in 0..runs {
        let _ = std::hint::black_box(evaluate(&snap, &call, &mut scratch));
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
    let policy = d
        .policy
        .map(|p| String::from_utf8_lossy(snap.policy_name(p as usize)).into_owned());
    let fired: Vec<String> = d
        .fired()
        .iter()
        .map(|&p| String::from_utf8_lossy(snap.policy_name(p as usize)).into_owned())
        .collect();
    let message = String::from_utf8_lossy(d.message).into_owned();
    if a.json {
        let v = serde_json::json!({
            "input": a.input,
            "tool": a.tool.as_str(),
            "decision": d.action.as_str(),
            "allowed": d.allowed(),
            "message": message,
            "policy": policy,
            "matched_policies": fired,
            "eval_duration_us": (micros * 100.0).round() / 100.0,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}  {}", style::action(d.action), a.input);
        if !message.is_empty() {
            println!("  message:  {message}");
        }
        match &policy {
            Some(p) => {
                let loc = super::policy_location(&set, p)
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default();
                println!("  policy:   {p}{}", style::dim(&loc));
            }
            None => println!(
                "  policy:   {}",
                style::dim(&format!(
                    "none matched: default_action {}",
                    set.default_action.as_str()
                ))
            ),
        }
        if fired.len() > 1 {
            println!("  fired:    {}", fired.join(", "));
        }
        println!("  time:     {micros:.2} µs");
    }
    Ok(if d.action == Action::Deny {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
