//! `rampart completions SHELL` and `rampart man [COMMAND]`: both generated
//! from the clap definitions that also produce `--help`.

use crate::cli::{Cli, CompletionShell};
use clap::CommandFactory;
use std::process::ExitCode;

pub fn completions(shell: CompletionShell) -> anyhow::Result<ExitCode> {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "rampart", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

pub fn man(command: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut root = Cli::command();
    root.build();
    let page = match command {
        None => root,
        Some(name) => {
            let sub = root
                .get_subcommands()
                .find(|c| c.get_name() == name)
                .cloned()
                .ok_or_else(|| {
                    anyhow::anyhow!("there is no command {name:?}; `rampart --help` lists them")
                })?;
            let full = format!("rampart-{name}");
            sub.name(full.clone()).bin_name(full)
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    std::io::Write::write_all(&mut std::io::stdout(), &out)?;
    Ok(ExitCode::SUCCESS)
}
