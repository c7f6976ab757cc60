//! `inspect tcn-report`: verify a signed TCN report and list the TCNs it covers (j1 ..= j2).
//!
//! Prints nothing about a report whose signature does not verify: that is an error, never a
//! partial result, and a signature-stripped report is rejected as truncated.

use super::TcnReportArgs;
use anyhow::Context as _;
use enmesh_protocol::codec::{hex_decode, hex_encode};
use enmesh_protocol::tcn::SignedReport;
use serde_json::json;

/// Decodes and verifies the report in `args.hex`; returns its fields and covered TCNs as JSON.
pub fn run(args: &TcnReportArgs) -> anyhow::Result<serde_json::Value> {
    let bytes = hex_decode(&args.hex).context("report hex")?;
    let verified = SignedReport::decode(&bytes)?.verify()?;
    let report = verified.report();
    let memo = report.memo();
    let tcns: Vec<_> = report
        .covered_tcns()
        .map(|(index, tcn)| json!({ "index": index.0, "tcn": hex_encode(&tcn.0) }))
        .collect();
    Ok(json!({
        "verified": true,
        "rvk": hex_encode(&report.rvk().0),
        "j1": report.j1().0,
        "j2": report.j2().0,
        "memo_type": {
            "code": u8::from(memo.memo_type()),
            "name": memo.memo_type().name(),
        },
        "memo_data": {
            "hex": hex_encode(memo.data()),
            "utf8": std::str::from_utf8(memo.data()).ok(),
        },
        "tcns": tcns,
    }))
}
