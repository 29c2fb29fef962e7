//! What the user typed: the clap definitions (also the source of `--help`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXIT_CODES: &str = "Exit codes: 0 ok, 1 denied or check failed, 2 usage error.";

/// A local policy firewall for AI coding agents: every program an agent
/// starts is checked against your policy before it runs.
#[derive(Parser, Debug)]
#[command(name = "rampart", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// What would the policy say about a command, path or URL?
    #[command(after_help = "Exit codes: 0 allowed (allow, watch, ask), 1 denied, 2 usage error.")]
    Test(TestArgs),
    /// Lint, test, compile and explain policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Run a command with every program it starts checked by the library.
    #[command(
        after_help = "The command's own exit status and signals pass through.\nExample: rampart preload --agent codex -- codex"
    )]
    Preload(PreloadArgs),
    /// Make a plain agent command (`codex`) always run under `rampart preload`:
    /// writes a wrapper script to ~/.local/bin.
    #[command(after_help = SETUP_HELP)]
    Setup(SetupArgs),
    /// Run the daemon: publish and hot-reload the policy snapshot, hold
    /// approvals, serve the API.
    #[command(
        after_help = "The API listens on --addr:--port (bearer token in ~/.rampart/token) and on\n~/.rampart/rampart.sock (this user only, no token).\nSIGHUP or `rampart serve --reload` reloads the policies; SIGTERM stops it."
    )]
    Serve(ServeArgs),
    /// Is the daemon running, which policy is in force, is the library installed?
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the calls waiting for approval.
    Pending {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the installation, and whether the library can protect a program.
    #[command(after_help = "Exit codes: 0 everything checked is fine, 1 a problem was found.")]
    Doctor {
        /// Programs to check (looked up on PATH): dynamic, static, setuid?
        programs: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Let a waiting call run.
    Approve {
        /// The approval's id (from `rampart pending`).
        id: String,
    },
    /// Refuse a waiting call (it fails with EPERM).
    Deny {
        /// The approval's id (from `rampart pending`).
        id: String,
    },
    /// Read, search, count and verify the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Watch decisions and approvals live: a full-screen view (one plain
    /// line per event when stdout is not a terminal).
    #[command(after_help = WATCH_HELP)]
    Watch {
        /// Only this agent's decisions (`g` and `/` change it).
        #[arg(long, value_name = "AGENT")]
        agent: Option<String>,
        /// Only this decision (`f` cycles it).
        #[arg(long, value_name = "DECISION", value_parser = ["allow", "deny", "ask", "watch"])]
        decision: Option<String>,
    },
    /// Allow commands matching a glob (a quick rule in ~/.rampart/policies/user-overrides.yaml).
    #[command(after_help = ALLOW_HELP)]
    Allow(AllowArgs),
    /// Deny commands matching a glob (a quick rule in ~/.rampart/policies/user-overrides.yaml).
    #[command(after_help = QUICK_HELP)]
    Block(QuickRuleArgs),
    /// Ask for approval before commands matching a glob run (a quick rule in
    /// ~/.rampart/policies/user-overrides.yaml).
    #[command(after_help = QUICK_HELP)]
    Ask(QuickRuleArgs),
    /// List every rule in force, numbered, with its source file and line;
    /// `rules remove N` removes a quick rule.
    #[command(after_help = RULES_HELP)]
    Rules(RulesArgs),
    /// Write a starter ~/.rampart/policies/: the default policy as an
    /// editable copy (standard.yaml) and an empty user-overrides.yaml.
    #[command(
        after_help = "Refuses to overwrite either file without --force (with it, the old files are kept as *.yaml.bak).\nExit codes: 0 written, 1 refused or failed, 2 usage error."
    )]
    Init {
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "bash: rampart completions bash > ~/.local/share/bash-completion/completions/rampart\nzsh:  rampart completions zsh > \"${fpath[1]}/_rampart\"\nfish: rampart completions fish > ~/.config/fish/completions/rampart.fish\nExit codes: 0 ok, 2 usage error."
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print the manual page (roff), for rampart or one of its commands.
    #[command(
        after_help = "Example: rampart man | man -l -\nExit codes: 0 ok, 1 no such command, 2 usage error."
    )]
    Man {
        /// A command (`rampart man allow` prints rampart-allow(1)).
        command: Option<String>,
    },
}

const QUICK_HELP: &str = "The pattern is a command glob (`*` matches anything, `/` and spaces included) matched against\nevery segment of the command. The rule is its own small policy (user-block-N or user-ask-N,\npriority 1, tool exec); the whole policies directory is loaded first, and nothing is written\nif it would not load. A running `rampart serve` reloads by itself.\nExit codes: 0 written, 1 refused or failed, 2 usage error.";

const ALLOW_HELP: &str = "The pattern is a command glob (`*` matches anything, `/` and spaces included); a command is\nallowed only when every segment matches. The rule is its own small policy (user-allow-N,\npriority 5, tool exec).\n\nAn allow can never override a deny: a deny ends evaluation. If the policies in force deny the\npattern, rampart names the policy and refuses; with --force the allow is written anyway, and\nthe deny still wins. To lift a deny, edit or disable the policy that denies.\nExit codes: 0 written, 1 refused (denied elsewhere, or the policies would not load), 2 usage error.";

const WATCH_HELP: &str = "Keys: q quit · ↑↓ or j k select an approval · a approve · d deny · f decision filter ·\ng next agent · / type an agent · c clear filters · p or space pause · PgUp/PgDn scroll.\nThe counts are the daemon's since it started; with no daemon it follows the audit files\n(counts: what this view has seen; approvals are unavailable) and reconnects when\n`rampart serve` starts.\nExample: rampart watch --decision deny | tee denied.log";

const RULES_HELP: &str = "Rules are numbered in evaluation order (priority, then file order). `rampart rules remove N`\nremoves rule N only when it is a quick rule in user-overrides.yaml.\nExit codes: 0 ok, 1 refused or the policies do not load, 2 usage error.";

const SETUP_HELP: &str = "The wrapper runs `rampart preload --agent AGENT -- <the real program> \"$@\"`; the real program is\nthe first one on PATH that is not a wrapper written by this command. Running it again changes\nnothing; a file it did not write is never replaced without --force (and then kept as\n<file>.rampart-backup); --remove deletes only its own wrapper. ~/.local/bin must come before the\nreal program on PATH (it warns when it does not).\nExample: rampart setup codex\nExit codes: 0 done, 1 refused or failed, 2 usage error.";

#[derive(Args, Debug)]
pub struct SetupArgs {
    /// The agent to wrap.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(
        crate::cmd::setup::AGENTS.iter().map(|a| a.name)
    ))]
    pub agent: String,
    /// Delete the wrapper (only if this command wrote it).
    #[arg(long, conflicts_with_all = ["force", "print"])]
    pub remove: bool,
    /// Replace a file this command did not write (the old one is kept, suffixed .rampart-backup).
    #[arg(long)]
    pub force: bool,
    /// Print the wrapper instead of writing it.
    #[arg(long, conflicts_with = "force")]
    pub print: bool,
}

#[derive(Args, Debug)]
pub struct AllowArgs {
    /// Command glob, quoted (e.g. "npm install *").
    pub pattern: String,
    /// Message recorded with the decision.
    #[arg(long)]
    pub message: Option<String>,
    /// Write the allow even though another policy denies the pattern (the deny still wins).
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct QuickRuleArgs {
    /// Command glob, quoted (e.g. "curl * | bash").
    pub pattern: String,
    /// Message shown to the agent and recorded with the decision.
    #[arg(long)]
    pub message: Option<String>,
}

#[derive(Args, Debug)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub action: Option<RulesAction>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum RulesAction {
    /// Remove quick rule N (as numbered by `rampart rules`) from user-overrides.yaml.
    Remove {
        /// The rule's number.
        number: usize,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub action: Option<ServeAction>,
    /// Address of the HTTP API (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1")]
    pub addr: std::net::IpAddr,
    /// Port of the HTTP API (0 picks a free one).
    #[arg(long, default_value_t = 9090)]
    pub port: u16,
    /// What the API enforces.
    #[arg(long, value_enum, default_value = "enforce")]
    pub mode: Mode,
    /// Policy file or directory (default: ~/.rampart/policies, else the built-in policy).
    #[arg(long)]
    pub policies: Option<PathBuf>,
    /// How long a call that needs approval waits before it is denied (120s, 2m, 500ms).
    #[arg(long, default_value = "120s", value_parser = daemon::serve::parse_duration)]
    pub approval_timeout: std::time::Duration,
    /// Ask the running daemon to reload its policies, print the result, exit.
    #[arg(long)]
    pub reload: bool,
}

#[derive(Subcommand, Debug)]
pub enum ServeAction {
    /// Run the daemon at login: a systemd user unit (Linux) or a launchd agent (macOS).
    Install {
        /// Print the file and the commands, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop running the daemon at login and remove the file `install` wrote.
    Uninstall {
        /// Print what would be done, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Deny blocks, ask waits for approval.
    Enforce,
    /// Record decisions, never block.
    Monitor,
    /// Check nothing.
    Disabled,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
            Mode::Disabled => "disabled",
        }
    }
}

#[derive(Args, Debug)]
pub struct PreloadArgs {
    /// Enforcement mode (default: enforce).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Agent name recorded with every decision (and matched by `match.agent`).
    #[arg(long)]
    pub agent: Option<String>,
    /// Session name.
    #[arg(long)]
    pub session: Option<String>,
    /// One line per decision on stderr.
    #[arg(long)]
    pub debug: bool,
    /// Policy file or directory to compile instead of ~/.rampart/policies.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Exec,
    Read,
    Write,
    Fetch,
}

impl Tool {
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Exec => "exec",
            Tool::Read => "read",
            Tool::Write => "write",
            Tool::Fetch => "fetch",
        }
    }
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// The command (exec), path (read, write) or URL (fetch) to decide.
    pub input: String,
    /// Which kind of call it is.
    #[arg(long, value_enum, default_value = "exec")]
    pub tool: Tool,
    /// Policy file or directory (default: ~/.rampart/policies, else the built-in policy).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Agent name to decide for.
    #[arg(long, default_value = "")]
    pub agent: String,
    /// Session name to decide for.
    #[arg(long, default_value = "")]
    pub session: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Check a policy file or directory for errors and likely mistakes.
    Lint {
        /// Policy file or directory.
        path: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the `tests:` cases of a policy file or directory.
    Test {
        /// Policy file or directory.
        path: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compile policies to a snapshot file.
    Compile {
        /// Policy file or directory (default: ~/.rampart/policies, else the built-in policy).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Where to write it (default: ~/.rampart/cache/policy.snap).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Show how a command is seen: its segments and every rule that fires.
    Explain {
        /// The command.
        command: String,
        /// Policy file or directory (default: ~/.rampart/policies, else the built-in policy).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Agent name.
        #[arg(long, default_value = "")]
        agent: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// The latest decisions (records not yet ingested are marked pending).
    Tail {
        /// How many.
        #[arg(short = 'n', long = "lines", default_value_t = 20)]
        lines: usize,
        /// Keep printing new decisions as they happen.
        #[arg(short, long)]
        follow: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Decisions matching text and filters.
    Search {
        /// Text to look for in the command, path, URL, message, policies.
        text: Option<String>,
        #[command(flatten)]
        filter: AuditFilter,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Per agent: total, allowed, denied, asked, watched; top policies.
    Stats {
        /// Only since (24h, 7d, 2026-11-21, 2026-11-21T10:00).
        #[arg(long)]
        since: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the whole hash chain.
    #[command(
        after_help = "Exit codes: 0 the chain is intact, 1 it is broken (file:line and sequence named)."
    )]
    Verify {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the decisions as JSON lines or CSV.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        #[command(flatten)]
        filter: AuditFilter,
    },
    /// Ingest the spool in this process (when no daemon runs).
    #[command(hide = true)]
    Ingest {
        /// Records per group commit.
        #[arg(long)]
        batch: Option<usize>,
        /// Keep ingesting every 200 ms.
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Args, Debug, Default)]
pub struct AuditFilter {
    /// Only this agent.
    #[arg(long)]
    pub agent: Option<String>,
    /// Only this session.
    #[arg(long)]
    pub session: Option<String>,
    /// Only this tool (exec, read, write, fetch).
    #[arg(long)]
    pub tool: Option<String>,
    /// Only this decision (allow, watch, ask, deny).
    #[arg(long)]
    pub decision: Option<String>,
    /// Only since (24h, 7d, 2026-11-21, 2026-11-21T10:00).
    #[arg(long)]
    pub since: Option<String>,
    /// Only before.
    #[arg(long)]
    pub until: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}
