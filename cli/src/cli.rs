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
