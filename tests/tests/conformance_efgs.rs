//! Conformance of the EFGS canonical record with the gateway's own test data
//! (`efgs-CSharpTestdata.txt`, read from `shared/vectors/fixtures` at test time).
//!
//! Each of the 5000 lines has 17 `|`-separated columns: the input of every field as a byte list
//! (or a country list), each field's base64, and the base64 of the whole record
//! (`efgs_signing.json` → `cross_check.line_format`). Byte lists are in encoded order, so integers
//! are read big-endian.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enmesh_protocol::efgs::EfgsKey;
use enmesh_tests::fixture;

const LINES: usize = 5000;

/// `[a,b,c]` → the items between the brackets (none for `[]`).
fn list(column: &str) -> Vec<&str> {
    let inner = column
        .strip_prefix('[')
        .and_then(|c| c.strip_suffix(']'))
        .unwrap_or_else(|| panic!("not a bracketed list: {column:?}"));
    if inner.is_empty() {
        Vec::new()
    } else {
        inner.split(',').collect()
    }
}

fn bytes(column: &str) -> Vec<u8> {
    list(column).iter().map(|b| b.parse().unwrap()).collect()
}

fn be4(column: &str) -> [u8; 4] {
    bytes(column).try_into().unwrap()
}

struct Line<'a> {
    key: EfgsKey,
    field_b64: Vec<&'a str>,
    record_b64: &'a str,
}

fn parse(line: &str) -> Line<'_> {
    let columns: Vec<&str> = line.split('|').collect();
    assert_eq!(columns.len(), 17, "{line}");
    let origin = list(columns[10]);
    assert_eq!(origin.len(), 1, "{line}");
    Line {
        key: EfgsKey {
            key_data: bytes(columns[0]).try_into().unwrap(),
            rolling_start_interval_number: u32::from_be_bytes(be4(columns[2])),
            rolling_period: u32::from_be_bytes(be4(columns[4])),
            transmission_risk_level: i32::from_be_bytes(be4(columns[6])),
            visited_countries: list(columns[8]).into_iter().map(String::from).collect(),
            origin: origin[0].to_string(),
            report_type: i32::from_be_bytes(be4(columns[12])),
            days_since_onset_of_symptoms: i32::from_be_bytes(be4(columns[14])),
        },
        field_b64: (1..16).step_by(2).map(|i| columns[i]).collect(),
        record_b64: columns[16],
    }
}

#[test]
fn all_csharp_testdata_lines_reproduce_the_record() {
    let text = String::from_utf8(fixture("efgs-CSharpTestdata.txt")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), LINES);
    for (number, line) in (1..).zip(&lines) {
        let parsed = parse(line);
        let record = parsed.key.signing_record();
        assert_eq!(
            STANDARD.encode(&record),
            parsed.record_b64,
            "line {number}: whole record"
        );
        // Field by field too, so a mismatch names the field.
        let fields: Vec<&str> = record.strip_suffix('.').unwrap().split('.').collect();
        assert_eq!(fields, parsed.field_b64, "line {number}: fields");
    }
}
