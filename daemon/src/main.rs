//! `enmesh`: the regional backend daemon and its operator commands.
//!
//! Only argument parsing and dispatch live here; every command is implemented in the library.

use clap::{Parser, Subcommand};
use enmesh_daemon::pki;

/// enmesh: exposure-notification interoperability without a hub.
#[derive(Debug, Parser)]
#[command(name = "enmesh", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The CA tree: root, cluster CAs, node and auditor certificates, CRLs, checks.
    Pki {
        #[command(subcommand)]
        command: pki::cli::PkiCommand,
    },
}

fn main() -> std::process::ExitCode {
    pki::tls::install_default_provider();
    match run(Cli::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Pki { command } => pki::cli::run(command)?,
    }
    Ok(())
}
