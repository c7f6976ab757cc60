//! `replay FILE`: field captures as JSON Lines, one sighting a line:
//! `{"t": <unix seconds, may be fractional>, "rssi": <dBm>, "uuid": "fd6f" | "c019" | "<herald uuid>",
//!   "data": "<hex of the service data>", "region": "<region where it was seen>"}`.
//!
//! Other fields are ignored. `uuid` is a 16-bit UUID in 4 hex digits or a 128-bit UUID in its
//! 36-character text form (the Bluetooth base UUID `0000xxxx-0000-1000-8000-00805f9b34fb` is
//! read as its 16-bit UUID; Herald's legacy service UUID is read as Herald). `data` is the
//! payload after the UUID. A line that is not such an object is reported with its line number and
//! skipped; the rest of the file is still read. Lines are read with a length cap, so one huge
//! line cannot exhaust memory. This module never panics on its input.

use super::{Event, Source};
use crate::sighting::{MAX_KEPT_PAYLOAD, Payload, ServiceId, Sighting};
use enmesh_protocol::ble::{ServiceData, ServiceUuid16};
use enmesh_protocol::codec::{HexError, hex_decode};
use enmesh_protocol::herald::HeraldPayload;
use enmesh_protocol::region::{RegionError, RegionId};
use serde::Deserialize;
use std::borrow::Cow;
use std::io::BufRead;
use thiserror::Error;

/// Longest line read, in bytes.
pub const MAX_LINE_BYTES: usize = 4096;
/// Herald's legacy 128-bit service UUID.
pub const HERALD_LEGACY_UUID: [u8; 16] = [
    0x42, 0x81, 0x32, 0xaf, 0x47, 0x46, 0x42, 0xd3, 0x80, 0x1e, 0x45, 0x72, 0xd6, 0x5b, 0xfd, 0x9b,
];
const BASE_UUID_TAIL: [u8; 12] = [
    0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0x80, 0x5f, 0x9b, 0x34, 0xfb,
];

/// Why a replay line was skipped.
#[derive(Debug, Error)]
pub enum LineError {
    /// Not a JSON object with the fields of a sighting.
    #[error("not a sighting object: {0}")]
    Json(#[from] serde_json::Error),
    /// `t` is negative, not finite or beyond the interval range.
    #[error("t = {0} is not a unix time in seconds")]
    Time(f64),
    /// `rssi` is outside −128..=127 dBm.
    #[error("rssi = {0} is outside -128..=127 dBm")]
    Rssi(i64),
    /// `uuid` is neither 4 hex digits nor a 36-character UUID.
    #[error("uuid {0:?} is neither 4 hex digits nor a 128-bit UUID")]
    Uuid(String),
    /// `data` is not hex.
    #[error("data: {0}")]
    Hex(#[from] HexError),
    /// `data` is longer than the agent keeps.
    #[error("data is {0} bytes; at most {MAX_KEPT_PAYLOAD} are accepted")]
    DataTooLong(usize),
    /// The payload does not decode for its UUID (e.g. GAEN data that is not 20 bytes).
    #[error("payload: {0}")]
    Payload(String),
    /// `region` is not a region id.
    #[error("region {text:?}: {source}")]
    Region {
        /// The text.
        text: String,
        /// Why.
        #[source]
        source: RegionError,
    },
    /// No `region` field and no default region given.
    #[error("no region: the line has none and no --region was given")]
    NoRegion,
    /// The line is longer than [`MAX_LINE_BYTES`].
    #[error("line is longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
    /// The line is not UTF-8.
    #[error("line is not UTF-8")]
    NotUtf8,
}

#[derive(Deserialize)]
struct Line<'a> {
    t: f64,
    rssi: i64,
    #[serde(borrow)]
    uuid: Cow<'a, str>,
    #[serde(borrow)]
    data: Cow<'a, str>,
    #[serde(borrow, default)]
    region: Option<Cow<'a, str>>,
}

/// Parses one line into a sighting; `default_region` is used when the line names none.
pub fn parse_line(text: &str, default_region: Option<&RegionId>) -> Result<Sighting, LineError> {
    let line: Line<'_> = serde_json::from_str(text)?;
    // Interval numbers are u32: anything later than u32::MAX × 600 s is not a GAEN time.
    if !line.t.is_finite() || line.t < 0.0 || line.t >= 2_576_980_377_000.0 {
        return Err(LineError::Time(line.t));
    }
    let at_ms = (line.t * 1000.0).round() as u64;
    let rssi = i8::try_from(line.rssi).map_err(|_| LineError::Rssi(line.rssi))?;
    let service = parse_uuid(&line.uuid)?;
    let data = hex_decode(&line.data)?;
    if data.len() > MAX_KEPT_PAYLOAD {
        return Err(LineError::DataTooLong(data.len()));
    }
    let payload = payload_of(service, data)?;
    let region = match line.region {
        Some(text) => text.parse().map_err(|source| LineError::Region {
            text: text.into_owned(),
            source,
        })?,
        None => default_region.cloned().ok_or(LineError::NoRegion)?,
    };
    Ok(Sighting {
        at_ms,
        rssi,
        payload,
        region,
    })
}

/// Reads a UUID: 4 hex digits, or `8-4-4-4-12` hex digits.
pub fn parse_uuid(text: &str) -> Result<ServiceId, LineError> {
    let bad = || LineError::Uuid(text.chars().take(64).collect());
    let hex_only: String = text.chars().filter(|c| *c != '-').collect();
    let dashes_ok = text.len() == 36
        && text
            .char_indices()
            .all(|(i, c)| (c == '-') == matches!(i, 8 | 13 | 18 | 23));
    match (text.len(), dashes_ok) {
        (4, _) => {
            let bytes = hex_decode(text).map_err(|_| bad())?;
            let [hi, lo] = bytes.as_slice() else {
                return Err(bad());
            };
            Ok(ServiceId::Uuid16(u16::from_be_bytes([*hi, *lo])))
        }
        (36, true) => {
            let bytes = hex_decode(&hex_only).map_err(|_| bad())?;
            let uuid: [u8; 16] = bytes.as_slice().try_into().map_err(|_| bad())?;
            if uuid[..2] == [0, 0] && uuid[4..] == BASE_UUID_TAIL {
                Ok(ServiceId::Uuid16(u16::from_be_bytes([uuid[2], uuid[3]])))
            } else {
                Ok(ServiceId::Uuid128(uuid))
            }
        }
        _ => Err(bad()),
    }
}

/// Decodes `data` heard on `service` with the protocol crate.
pub fn payload_of(service: ServiceId, data: Vec<u8>) -> Result<Payload, LineError> {
    let payload_error = |e: &dyn std::fmt::Display| LineError::Payload(e.to_string());
    match service {
        ServiceId::Uuid16(uuid) => {
            let mut bytes = Vec::with_capacity(data.len() + 2);
            bytes.extend_from_slice(&uuid.to_le_bytes());
            bytes.extend_from_slice(&data);
            let decoded = ServiceData::decode(&bytes).map_err(|e| payload_error(&e))?;
            if uuid == ServiceUuid16::HERALD.0 {
                // Keep the bytes as heard (re-encoding could normalise them).
                return Ok(Payload::Herald(data));
            }
            Payload::from_service_data(&decoded).map_err(|e| payload_error(&e))
        }
        ServiceId::Uuid128(uuid) if uuid == HERALD_LEGACY_UUID => {
            HeraldPayload::decode(&data).map_err(|e| payload_error(&e))?;
            Ok(Payload::Herald(data))
        }
        service @ ServiceId::Uuid128(_) => Ok(Payload::Unknown { service, data }),
    }
}

/// A JSON Lines capture as a [`Source`].
pub struct Replay<R> {
    reader: R,
    line: u64,
    default_region: Option<RegionId>,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Replay<R> {
    /// A replay of `reader`; lines without `region` get `default_region`.
    pub fn new(reader: R, default_region: Option<RegionId>) -> Self {
        Self {
            reader,
            line: 0,
            default_region,
            buf: Vec::with_capacity(256),
            done: false,
        }
    }

    /// Reads one line into `buf` (at most `MAX_LINE_BYTES` + 1 bytes kept); `Ok(false)` at the end.
    fn read_line(&mut self) -> std::io::Result<Option<bool>> {
        self.buf.clear();
        let mut too_long = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok((!self.buf.is_empty() || too_long).then_some(too_long));
            }
            let (chunk, found) = match available.iter().position(|b| *b == b'\n') {
                Some(end) => (&available[..end], Some(end + 1)),
                None => (available, None),
            };
            if self.buf.len() + chunk.len() > MAX_LINE_BYTES {
                too_long = true;
            } else {
                self.buf.extend_from_slice(chunk);
            }
            let consumed = found.unwrap_or(available.len());
            self.reader.consume(consumed);
            if found.is_some() {
                return Ok(Some(too_long));
            }
        }
    }
}

impl<R: BufRead> Source for Replay<R> {
    fn next_event(&mut self) -> Option<Event> {
        loop {
            if self.done {
                return None;
            }
            let too_long = match self.read_line() {
                Ok(Some(too_long)) => too_long,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Event::Skipped {
                        position: self.line + 1,
                        reason: format!("reading stopped: {e}"),
                    });
                }
            };
            self.line += 1;
            let position = self.line;
            if too_long {
                return Some(skipped(position, &LineError::TooLong));
            }
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                return Some(skipped(position, &LineError::NotUtf8));
            };
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            return Some(match parse_line(text, self.default_region.as_ref()) {
                Ok(sighting) => Event::Sighting(sighting),
                Err(e) => skipped(position, &e),
            });
        }
    }
}

fn skipped(position: u64, error: &LineError) -> Event {
    Event::Skipped {
        position,
        reason: error.to_string(),
    }
}

/// One sighting as a replay line (what `sim --jsonl` writes), with an extra `observer` field.
pub fn to_line(sighting: &Sighting, observer: Option<&str>) -> String {
    let (uuid, data) = match &sighting.payload {
        Payload::Unknown {
            service: ServiceId::Uuid128(uuid),
            data,
        } => (uuid_text(uuid), enmesh_protocol::codec::hex_encode(data)),
        payload => {
            let uuid = payload.uuid16().map_or(0, |u| u.0);
            let data = match payload {
                Payload::Gaen { rpi, aem } => [&rpi.0[..], &aem.0].concat(),
                Payload::Tcn(tcn) => tcn.0.to_vec(),
                Payload::Herald(bytes) => bytes.clone(),
                Payload::Unknown { data, .. } => data.clone(),
            };
            (
                format!("{uuid:04x}"),
                enmesh_protocol::codec::hex_encode(&data),
            )
        }
    };
    let mut value = serde_json::json!({
        "t": sighting.at_ms as f64 / 1000.0,
        "rssi": sighting.rssi,
        "uuid": uuid,
        "data": data,
        "region": sighting.region.to_string(),
    });
    if let Some(observer) = observer {
        value["observer"] = serde_json::json!(observer);
    }
    value.to_string()
}

fn uuid_text(uuid: &[u8; 16]) -> String {
    let hex = enmesh_protocol::codec::hex_encode(uuid);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
