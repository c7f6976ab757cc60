//! Content negotiation of the public feed: JSON (the default) or protobuf, from `Accept`.
//!
//! This module only reads the header; it never fails on a malformed range (such a range simply
//! matches nothing).

/// The media type of protobuf responses.
pub const PROTOBUF: &str = "application/x-protobuf";
/// The media type of JSON responses.
pub const JSON: &str = "application/json";

/// The representation a client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `application/x-protobuf` (also asked for as `application/protobuf`).
    Protobuf,
}

/// Picks the format for an `Accept` header value (`None`: no header, JSON).
///
/// The range with the highest `q` wins; on a tie an exact type beats a wildcard, then the
/// earlier range wins. Wildcards (`*/*`, `application/*`) give JSON. `None` when nothing the
/// feed serves is acceptable (the caller answers 406).
pub fn negotiate(accept: Option<&str>) -> Option<Format> {
    let Some(accept) = accept else {
        return Some(Format::Json);
    };
    if accept.trim().is_empty() {
        return Some(Format::Json);
    }
    // (q in thousandths, exact, -position) → format
    let mut best: Option<((u16, bool, isize), Format)> = None;
    for (position, range) in accept.split(',').enumerate() {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .next_back()
            .map_or(Some(1000), parse_q);
        let Some(q) = q.filter(|q| *q > 0) else {
            continue;
        };
        let (format, exact) = match media.as_str() {
            "application/json" => (Format::Json, true),
            "application/x-protobuf" | "application/protobuf" => (Format::Protobuf, true),
            "*/*" | "application/*" => (Format::Json, false),
            _ => continue,
        };
        let score = (q, exact, -isize::try_from(position).unwrap_or(isize::MAX));
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, format));
        }
    }
    best.map(|(_, format)| format)
}

/// A `q` value `0`..`1` with up to three decimals, in thousandths.
fn parse_q(text: &str) -> Option<u16> {
    let value: f64 = text.trim().parse().ok()?;
    (0.0..=1.0)
        .contains(&value)
        .then(|| (value * 1000.0).round() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_table() {
        let cases: &[(Option<&str>, Option<Format>)] = &[
            (None, Some(Format::Json)),
            (Some(""), Some(Format::Json)),
            (Some("application/json"), Some(Format::Json)),
            (Some("*/*"), Some(Format::Json)),
            (Some("application/x-protobuf"), Some(Format::Protobuf)),
            (Some("application/protobuf"), Some(Format::Protobuf)),
            (
                Some("Application/X-Protobuf; charset=x"),
                Some(Format::Protobuf),
            ),
            (Some("*/*, application/x-protobuf"), Some(Format::Protobuf)),
            (
                Some("application/x-protobuf;q=0.5, application/json"),
                Some(Format::Json),
            ),
            (
                Some("application/json;q=0.2, application/x-protobuf;q=0.9"),
                Some(Format::Protobuf),
            ),
            (
                Some("application/x-protobuf, application/json"),
                Some(Format::Protobuf),
            ),
            (Some("text/html"), None),
            (Some("application/json;q=0"), None),
            (Some("application/json;q=2"), None),
            (Some("text/html, application/*;q=0.1"), Some(Format::Json)),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiate(*accept), *want, "Accept: {accept:?}");
        }
    }
}
