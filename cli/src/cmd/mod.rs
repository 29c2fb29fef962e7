//! One module per command; each returns the exit code.

mod approvals;
mod audit;
mod docs;
mod doctor;
mod init;
mod overrides;
mod policy;
pub mod preload;
mod rules;
mod serve;
pub mod setup;
mod status;
mod test;
mod watch;

use crate::cli::{Cli, Command, PolicyCommand, RulesAction};
use std::process::ExitCode;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Test(a) => test::run(a),
        Command::Policy(PolicyCommand::Lint { path, json }) => policy::lint(&path, json),
        Command::Policy(PolicyCommand::Test { path, json }) => policy::test(&path, json),
        Command::Policy(PolicyCommand::Compile { policy, out }) => {
            policy::compile(policy.as_deref(), out.as_deref())
        }
        Command::Policy(PolicyCommand::Explain {
            command,
            policy,
            agent,
            json,
        }) => policy::explain(&command, policy.as_deref(), &agent, json),
        Command::Preload(a) => preload::run(preload::PreloadArgs {
            mode: a.mode.map(|m| m.as_str()),
            agent: a.agent.as_deref(),
            session: a.session.as_deref(),
            debug: a.debug,
            policy: a.policy.as_deref(),
            command: &a.command,
        }),
        Command::Setup(a) => setup::run(
            &a.agent,
            if a.remove {
                setup::SetupAction::Remove
            } else if a.print {
                setup::SetupAction::Print
            } else {
                setup::SetupAction::Install { force: a.force }
            },
        ),
        Command::Serve(a) => serve::run(a),
        Command::Status { json } => status::run(json),
        Command::Doctor { programs, json } => doctor::run(&programs, json),
        Command::Pending { json } => approvals::pending(json),
        Command::Approve { id } => approvals::resolve(&id, true),
        Command::Deny { id } => approvals::resolve(&id, false),
        Command::Audit(a) => audit::run(a),
        Command::Watch { agent, decision } => watch::run(agent, decision),
        Command::Allow(a) => rules::add(rules::QuickArgs {
            action: policy_cache::Action::Allow,
            pattern: &a.pattern,
            message: a.message.as_deref(),
            force: a.force,
        }),
        Command::Block(a) => rules::add(rules::QuickArgs {
            action: policy_cache::Action::Deny,
            pattern: &a.pattern,
            message: a.message.as_deref(),
            force: false,
        }),
        Command::Ask(a) => rules::add(rules::QuickArgs {
            action: policy_cache::Action::Ask,
            pattern: &a.pattern,
            message: a.message.as_deref(),
            force: false,
        }),
        Command::Rules(a) => match a.action {
            None => rules::list(a.json),
            Some(RulesAction::Remove { number }) => rules::remove(number),
        },
        Command::Init { force } => init::run(force),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { command } => docs::man(command.as_deref()),
    }
}

/// Load and compile the policies in force (or named).
pub fn load_compiled(
    explicit: Option<&std::path::Path>,
) -> anyhow::Result<(
    daemon::PolicySource,
    policy_cache::compile::PolicySet,
    Vec<u8>,
)> {
    let home = daemon::RampartHome::from_env();
    let source = daemon::PolicySource::resolve(explicit, &home);
    let set = source.load().map_err(|e| anyhow::anyhow!("{e}"))?;
    let bytes = policy_cache::compile::compile(&set, 0).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((source, set, bytes))
}

/// `file:line` of policy `name` in `set`.
pub fn policy_location(set: &policy_cache::compile::PolicySet, name: &str) -> Option<String> {
    let p = set.policies.iter().find(|p| p.name == name)?;
    let (file, _) = set.files.get(p.file)?;
    Some(format!("{}:{}", file.display(), p.line))
}

/// A compile error as the daemon reports it in JSON, back as the
/// `LoadError` it came from (so it prints the one way errors print:
/// `file:line:column: message (did you mean …?)`).
pub fn load_error_from_json(e: &serde_json::Value) -> policy_cache::compile::LoadError {
    policy_cache::compile::LoadError {
        file: e["file"].as_str().unwrap_or("?").into(),
        line: e["line"].as_u64().unwrap_or(0),
        column: e["column"].as_u64().unwrap_or(0),
        message: e["message"].as_str().unwrap_or("").into(),
        suggestion: e["suggestion"].as_str().map(Into::into),
    }
}
