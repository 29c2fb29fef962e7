//! `rampart`: a local policy firewall for AI coding agents.
//!
//! Thin glue: argument parsing here, the work in `policy-cache` and `daemon`.
//! Exit codes: 0 ok, 1 denied or check failed, 2 usage error.
#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod elf;
mod style;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cmd::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rampart: {e:#}");
            ExitCode::from(1)
        }
    }
}
