//! `enmesh`: the regional backend daemon and its operator commands.

use clap::Parser;

/// enmesh: exposure-notification interoperability without a hub.
#[derive(Debug, Parser)]
#[command(name = "enmesh", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
