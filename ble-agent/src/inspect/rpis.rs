//! `inspect rpis` (being built).

use super::RpisArgs;

pub fn run(_args: &RpisArgs) -> anyhow::Result<serde_json::Value> {
    anyhow::bail!("inspect rpis is not built yet")
}
