//! `ble-agent`: the edge of enmesh. Today: field-engineer inspection commands that print JSON.
//!
//! Argument and input errors print one line on stderr and exit with status 2; nothing here
//! panics on input.

mod inspect;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The enmesh edge agent.
#[derive(Debug, Parser)]
#[command(name = "ble-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode and derive exposure-notification identifiers; prints JSON.
    #[command(subcommand)]
    Inspect(inspect::InspectCommand),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            err.exit()
        }
        Err(err) => {
            // One line, like every other error of this tool: clap's first line names the argument
            // and what was wrong with it; the usage block after it is dropped.
            let text = err.to_string();
            let first = text.lines().next().unwrap_or("error: bad arguments");
            eprintln!("{first} (see --help)");
            return ExitCode::from(2);
        }
    };
    let result = match &cli.command {
        Command::Inspect(cmd) => inspect::run(cmd),
    };
    match result.and_then(|value| Ok(serde_json::to_string_pretty(&value)?)) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
