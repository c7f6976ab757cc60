//! `inspect decode HEX`: what a captured advertisement, service-data payload or Herald payload
//! carries, as JSON.
//!
//! The interpretation is `enmesh_protocol::ble::decode_any`'s; this file only turns its result into
//! JSON (bytes as lowercase hex, numbers as numbers). It never guesses beyond the protocol crate.

use super::DecodeArgs;
use anyhow::Context;
use enmesh_protocol::ble::{Decoded, ServiceData, ServiceUuid16, decode_any};
use enmesh_protocol::codec::{hex_decode, hex_encode};
use enmesh_protocol::herald::{ExposureHeader, ExtendedData, HeraldPayload};
use serde_json::{Value, json};

/// Decodes `args.hex` and describes it.
pub fn run(args: &DecodeArgs) -> anyhow::Result<Value> {
    let bytes = hex_decode(&args.hex).context("HEX argument")?;
    let decoded = decode_any(&bytes).context("cannot decode")?;
    Ok(match decoded {
        Decoded::Advertisement {
            advertisement,
            service_data,
        } => json!({
            "interpretation": "advertisement",
            "structures": advertisement.structures.iter().map(|s| json!({
                "type": s.ad_type.0,
                "type_hex": format!("{:#04x}", s.ad_type.0),
                "data": hex_encode(&s.data),
            })).collect::<Vec<_>>(),
            "sightings": service_data.iter().map(service_data_json).collect::<Vec<_>>(),
        }),
        Decoded::ServiceData(sd) => json!({
            "interpretation": "service_data",
            "sightings": [service_data_json(&sd)],
        }),
        Decoded::Herald(payload) => json!({
            "interpretation": "herald_payload",
            "sightings": [herald_json(&payload)],
        }),
    })
}

fn uuid_text(uuid: ServiceUuid16) -> String {
    format!("{:#06x}", uuid.0)
}

fn service_data_json(sd: &ServiceData) -> Value {
    match sd {
        ServiceData::Gaen { rpi, aem } => json!({
            "kind": "gaen",
            "uuid": uuid_text(ServiceUuid16::GAEN),
            "rpi": hex_encode(&rpi.0),
            "aem": hex_encode(&aem.0),
        }),
        ServiceData::Tcn { tcn, extra } => json!({
            "kind": "tcn",
            "uuid": uuid_text(ServiceUuid16::TCN),
            "tcn": hex_encode(&tcn.0),
            "extra": hex_encode(extra),
        }),
        ServiceData::Herald(payload) => {
            let mut value = herald_json(payload);
            value["uuid"] = json!(uuid_text(ServiceUuid16::HERALD));
            value
        }
        ServiceData::Unknown { uuid, data } => json!({
            "kind": "unknown",
            "uuid": uuid_text(*uuid),
            "data": hex_encode(data),
        }),
    }
}

fn herald_json(payload: &HeraldPayload) -> Value {
    let code = payload.code();
    let mut value = json!({
        "kind": "herald",
        "code": code.0,
        "code_hex": format!("{:#04x}", code.0),
        "classification": code.kind().name(),
    });
    if let Some(header) = payload.header() {
        add_header(&mut value, header);
    }
    match payload {
        HeraldPayload::Simple(simple) => {
            value["contact_id"] = json!(hex_encode(&simple.contact_id.0));
            add_extended(&mut value, &simple.extended);
        }
        HeraldPayload::Venue(venue) => {
            value["location_code"] = json!(venue.location_code);
            add_extended(&mut value, &venue.extended);
        }
        HeraldPayload::WithHeader { data, .. } | HeraldPayload::Headerless { data, .. } => {
            value["data"] = json!(hex_encode(data));
        }
        HeraldPayload::Routed { routing, data, .. } => {
            value["routing"] = json!(hex_encode(routing));
            value["data"] = json!(hex_encode(data));
        }
    }
    value
}

fn add_header(value: &mut Value, header: &ExposureHeader) {
    value["country"] = json!(header.country);
    value["country_alpha2"] = json!(header.iso_country().map(|c| c.alpha2()));
    value["state"] = json!(header.state);
}

fn add_extended(value: &mut Value, extended: &ExtendedData) {
    let parsed = extended.parse();
    let items: Vec<Value> = parsed
        .items
        .iter()
        .map(|item| {
            let typed = item
                .your_last_rssi()
                .map(|v| json!(v))
                .or_else(|| item.your_last_tx_power().map(|v| json!(v)))
                .or_else(|| item.my_phone_model().map(|v| json!(v)));
            json!({
                "code": item.code.to_u8(),
                "name": item.code.name(),
                "data": hex_encode(&item.data),
                "truncated": item.truncated,
                "value": typed,
            })
        })
        .collect();
    value["extended"] = json!(items);
    if !parsed.unread.is_empty() {
        value["extended_unread"] = json!(hex_encode(&parsed.unread));
    }
}
