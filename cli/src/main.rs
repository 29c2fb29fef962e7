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
    // `println!` panics when stdout is a closed pipe (`rampart audit tail |
    // head`): end quietly instead, with the status SIGPIPE's default would
    // give.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    let args = cli::Cli::parse();
    match cmd::run(args) {
        Ok(code) => code,
        // The reader went away (`| head`): not an error worth a message.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::from(141)
        }
        Err(e) => {
            eprintln!("rampart: {e:#}");
            ExitCode::from(1)
        }
    }
}
