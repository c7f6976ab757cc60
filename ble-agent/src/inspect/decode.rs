//! `inspect decode` (being built).

use super::DecodeArgs;

pub fn run(_args: &DecodeArgs) -> anyhow::Result<serde_json::Value> {
    anyhow::bail!("inspect decode is not built yet")
}
