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

fn main() -> anyhow::Result<()> {
    pki::tls::install_default_provider();
    match Cli::parse().command {
        Command::Pki { command } => pki::cli::run(command)?,
    }
    Ok(())
}
