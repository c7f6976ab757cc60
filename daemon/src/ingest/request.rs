//! The publish request as phones send it (formats.md §e plus `visitedRegions`), and its
//! translation into the protocol's unchecked [`Upload`].
//!
//! Unknown JSON fields are ignored (apps send extra ones); a field of the wrong type is a parse
//! error naming it. This module never logs or keeps the code or key bytes beyond the request.

use enmesh_protocol::keys::{KeyData, Upload, UploadKey, VerifiedReportType};
use enmesh_protocol::region::{RegionError, RegionId};
use serde::Deserialize;
use thiserror::Error;

/// The JSON body of `POST /v1/publish`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishRequest {
    /// The keys, in the order violations refer to them.
    pub temporary_exposure_keys: Vec<PublishKey>,
    /// The app's id at this server; accepted and not checked (one operator per backend).
    #[serde(default, rename = "healthAuthorityID")]
    pub health_authority_id: Option<String>,
    /// The one-time upload code issued by `enmesh admin issue-code`.
    #[serde(default)]
    pub verification_payload: Option<String>,
    /// The device secret of Google's certificate flow; accepted and unused (no certificate).
    #[serde(default)]
    pub hmac_key: Option<String>,
    /// The symptom onset interval (ENIN), if the user gave one.
    #[serde(default)]
    pub symptom_onset_interval: Option<i64>,
    /// Whether the user travelled; accepted, not stored (`visitedRegions` says where).
    #[serde(default)]
    pub traveler: Option<bool>,
    /// A revision token; accepted and ignored (revisions are not supported).
    #[serde(default)]
    pub revision_token: Option<String>,
    /// Random filler against traffic analysis; ignored.
    #[serde(default)]
    pub padding: Option<String>,
    /// The regions the user visited (region ids such as `FR`, `US-CA`, `acme:zurich-1`).
    #[serde(default)]
    pub visited_regions: Vec<String>,
}

/// One key of a publish request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishKey {
    /// Base64 of the 16-byte TEK.
    pub key: String,
    /// ENIN of the first interval of validity.
    pub rolling_start_number: i64,
    /// Number of intervals of validity.
    pub rolling_period: i64,
    /// Transmission risk, 0 (unset) when absent.
    #[serde(default)]
    pub transmission_risk: i64,
}

/// A body that is not JSON of the publish request's shape.
#[derive(Debug, Error)]
#[error("{path}: {reason}")]
pub struct ParseError {
    /// The field at fault, e.g. `temporaryExposureKeys[0].rollingPeriod` (`.` for the body).
    pub path: String,
    /// serde_json's reason, with line and column.
    pub reason: serde_json::Error,
}

impl PublishRequest {
    /// Parses a request body, naming the field at fault on error.
    pub fn from_json(body: &[u8]) -> Result<Self, ParseError> {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let request: Self =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|e| ParseError {
                path: e.path().to_string(),
                reason: e.into_inner(),
            })?;
        deserializer.end().map_err(|reason| ParseError {
            path: ".".to_owned(),
            reason,
        })?;
        Ok(request)
    }
}

/// A visited region that does not parse.
#[derive(Debug, Error)]
#[error("visitedRegions[{index}]: {reason}")]
pub struct VisitedRegionError {
    /// Its index in `visitedRegions`.
    pub index: usize,
    /// Why it was refused.
    pub reason: RegionError,
}

impl PublishRequest {
    /// The keys as the protocol's unchecked upload. The one-time code proves a test result, so
    /// the report type is always `confirmed`; there is no certificate onset.
    pub fn upload(&self) -> Upload {
        Upload {
            keys: self
                .temporary_exposure_keys
                .iter()
                .map(|k| UploadKey {
                    key: KeyData::Base64(k.key.clone()),
                    rolling_start: k.rolling_start_number,
                    rolling_period: k.rolling_period,
                    transmission_risk: k.transmission_risk,
                })
                .collect(),
            symptom_onset_interval: self.symptom_onset_interval,
            certificate_onset_interval: None,
            report_type: VerifiedReportType::Confirmed,
        }
    }

    /// The visited regions, parsed, without `home` and without duplicates (first occurrence
    /// order kept).
    pub fn visited(&self, home: &RegionId) -> Result<Vec<RegionId>, VisitedRegionError> {
        let mut out: Vec<RegionId> = Vec::with_capacity(self.visited_regions.len());
        for (index, text) in self.visited_regions.iter().enumerate() {
            let region: RegionId = text
                .parse()
                .map_err(|reason| VisitedRegionError { index, reason })?;
            if &region != home && !out.contains(&region) {
                out.push(region);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<PublishRequest, ParseError> {
        PublishRequest::from_json(json.as_bytes())
    }

    #[test]
    fn google_fields_parse_and_unknown_fields_are_ignored() {
        let request = parse(
            r#"{"temporaryExposureKeys":[{"key":"AAAAAAAAAAAAAAAAAAAAAA==","rollingStartNumber":2650000,"rollingPeriod":144}],
               "healthAuthorityID":"app","verificationPayload":"CODE","hmacKey":"aA==","symptomOnsetInterval":2649000,
               "traveler":true,"revisionToken":"","padding":"xyz","visitedRegions":["FR"],"somethingNew":{"a":1}}"#,
        )
        .unwrap();
        let upload = request.upload();
        assert_eq!(upload.keys.len(), 1);
        assert_eq!(upload.keys[0].transmission_risk, 0);
        assert_eq!(upload.keys[0].rolling_start, 2_650_000);
        assert_eq!(upload.symptom_onset_interval, Some(2_649_000));
        assert_eq!(upload.report_type, VerifiedReportType::Confirmed);
        assert_eq!(request.verification_payload.as_deref(), Some("CODE"));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let err = parse(
            r#"{"temporaryExposureKeys":[{"key":"x","rollingStartNumber":"1","rollingPeriod":1}]}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("temporaryExposureKeys[0].rollingStartNumber: invalid type: string"),
            "{err}"
        );
        let err =
            parse(r#"{"temporaryExposureKeys":[{"key":"x","rollingPeriod":1}]}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("missing field `rollingStartNumber`"),
            "{err}"
        );
        let err = parse(r#"{"temporaryExposureKeys":[],"visitedRegions":"FR"}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("visitedRegions: invalid type"),
            "{err}"
        );
        let err = parse(r#"{"temporaryExposureKeys":[]} x"#).unwrap_err();
        assert!(err.to_string().contains("trailing characters"), "{err}");
    }

    #[test]
    fn visited_drops_home_and_duplicates_and_names_bad_index() {
        let home: RegionId = "DE".parse().unwrap();
        let request = parse(
            r#"{"temporaryExposureKeys":[],"visitedRegions":["FR","DEU","FRA","US-CA","DE"]}"#,
        )
        .unwrap();
        let visited: Vec<String> = request
            .visited(&home)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(visited, ["FR", "US-CA"]);
        let request =
            parse(r#"{"temporaryExposureKeys":[],"visitedRegions":["FR","ZZZZ"]}"#).unwrap();
        let err = request.visited(&home).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.to_string().starts_with("visitedRegions[1]: "), "{err}");
    }
}
