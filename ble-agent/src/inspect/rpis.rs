//! `inspect rpis`: the RPIK, AEMK and the 144 RPIs (and AEMs, given metadata) of one TEK.
//!
//! A field tool to compare a phone's broadcasts with a key it later published. It derives with
//! `enmesh_protocol::gaen` only and never prints anything but the JSON it returns.

use anyhow::Context;
use enmesh_protocol::codec::{hex_decode, hex_encode};
use enmesh_protocol::gaen::{AemKey, Metadata, RpiKey, Tek};
use enmesh_protocol::interval::IntervalNumber;
use serde_json::{Map, Value, json};

use super::RpisArgs;

/// Derives the keys and the 144 `{interval, rpi[, aem]}` objects from `--interval` on.
pub fn run(args: &RpisArgs) -> anyhow::Result<Value> {
    let tek = Tek::from_slice(&hex_decode(&args.tek).context("--tek")?).context("--tek")?;
    let metadata = args
        .metadata
        .as_deref()
        .map(|text| {
            Metadata::decode(&hex_decode(text).context("--metadata")?).context("--metadata")
        })
        .transpose()?;

    let rpi_key = RpiKey::derive(&tek);
    let aem_key = AemKey::derive(&tek);
    let day = rpi_key
        .day_rpis(IntervalNumber(args.interval))
        .context("--interval")?;

    let rpis: Vec<Value> = day
        .iter()
        .map(|(interval, rpi)| {
            let mut entry = Map::new();
            entry.insert("interval".into(), interval.0.into());
            entry.insert("rpi".into(), hex_encode(&rpi.0).into());
            if let Some(metadata) = &metadata {
                let aem = aem_key.encrypt(&rpi, metadata);
                entry.insert("aem".into(), hex_encode(&aem.0).into());
            }
            Value::Object(entry)
        })
        .collect();

    Ok(json!({
        "tek": hex_encode(&tek.0),
        "rpik": hex_encode(&rpi_key.to_bytes()),
        "aemk": hex_encode(&aem_key.to_bytes()),
        "rolling_start": day.rolling_start().0,
        "rpis": rpis,
    }))
}
