//! Signed TCN reports as they are published: a CoEpi-style JSON array of base64 reports, or
//! text with one report a line (hex or base64). Every report is decoded strictly and its
//! signature verified (`enmesh_protocol::tcn`) before its TCNs are used; a report that fails
//! either is reported and skipped. Bounded: at most [`MAX_REPORTS`] reports, each of the exact
//! signed length. This module does no I/O.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_protocol::codec::hex_decode;
use enmesh_protocol::tcn::{SignedReport, VerifiedReport};

/// Most reports read from one body.
pub const MAX_REPORTS: usize = 100_000;
/// Longest signed report: 70 header bytes, 255 memo bytes, 64 signature bytes.
pub const MAX_REPORT_BYTES: usize = 70 + 255 + 64;

/// Verified reports and the reasons others were skipped: (1-based position, reason).
#[derive(Debug, Default)]
pub struct Reports {
    /// Reports whose signature verified.
    pub verified: Vec<VerifiedReport>,
    /// The others.
    pub skipped: Vec<(usize, String)>,
}

/// Reads a body of reports.
pub fn parse_reports(body: &[u8]) -> Reports {
    let mut out = Reports::default();
    let items: Vec<String> = match serde_json::from_slice::<Vec<String>>(body) {
        Ok(items) => items,
        Err(_) => match std::str::from_utf8(body) {
            Ok(text) => text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            Err(_) => {
                out.skipped
                    .push((1, "not UTF-8 text nor a JSON array".into()));
                return out;
            }
        },
    };
    for (i, item) in items.iter().enumerate() {
        let position = i + 1;
        if position > MAX_REPORTS {
            out.skipped
                .push((position, format!("more than {MAX_REPORTS} reports")));
            break;
        }
        match one_report(item) {
            Ok(report) => out.verified.push(report),
            Err(reason) => out.skipped.push((position, reason)),
        }
    }
    out
}

fn one_report(text: &str) -> Result<VerifiedReport, String> {
    if text.len() > MAX_REPORT_BYTES * 2 {
        return Err("longer than any signed report".into());
    }
    let is_hex = text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit());
    let bytes = if is_hex {
        hex_decode(text).map_err(|e| e.to_string())?
    } else {
        STANDARD
            .decode(text)
            .map_err(|e| format!("neither hex nor base64: {e}"))?
    };
    SignedReport::decode(&bytes)
        .and_then(SignedReport::verify)
        .map_err(|e| e.to_string())
}
