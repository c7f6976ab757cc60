//! `inspect tcn_report` (being built).

use super::TcnReportArgs;

pub fn run(_args: &TcnReportArgs) -> anyhow::Result<serde_json::Value> {
    anyhow::bail!("inspect tcn_report is not built yet")
}
