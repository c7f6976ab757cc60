//! `ble-agent inspect`: turn hex from the field into JSON, using only `enmesh-protocol`.
//!
//! Each subcommand lives in its own file and returns a JSON value; printing and exit codes are
//! `main`'s. These commands never touch the network or the disk.

mod decode;
mod rpis;
mod tcn_report;

use clap::{Args, Subcommand};

/// The inspection commands.
#[derive(Debug, Subcommand)]
pub enum InspectCommand {
    /// Decode a BLE advertisement or its service data (GAEN 0xFD6F, TCN 0xC019, Herald by header).
    Decode(DecodeArgs),
    /// Derive the 144 RPIs (and AEMs with --metadata) of a TEK from a rolling start interval.
    Rpis(RpisArgs),
    /// Verify a signed TCN report and list the TCNs it covers.
    TcnReport(TcnReportArgs),
}

/// Arguments of `inspect decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Hex of a whole advertisement (AD structures) or of one service-data payload.
    pub hex: String,
}

/// Arguments of `inspect rpis`.
#[derive(Debug, Args)]
pub struct RpisArgs {
    /// The Temporary Exposure Key, 16 bytes as hex.
    #[arg(long)]
    pub tek: String,
    /// The key's rolling start ENIntervalNumber.
    #[arg(long)]
    pub interval: u32,
    /// 4 bytes of metadata as hex; when given, the AEM of each interval is printed too.
    #[arg(long)]
    pub metadata: Option<String>,
}

/// Arguments of `inspect tcn-report`.
#[derive(Debug, Args)]
pub struct TcnReportArgs {
    /// The signed report as hex.
    pub hex: String,
}

/// Runs one inspection command.
pub fn run(cmd: &InspectCommand) -> anyhow::Result<serde_json::Value> {
    match cmd {
        InspectCommand::Decode(args) => decode::run(args),
        InspectCommand::Rpis(args) => rpis::run(args),
        InspectCommand::TcnReport(args) => tcn_report::run(args),
    }
}
