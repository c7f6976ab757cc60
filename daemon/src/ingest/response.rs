//! The JSON answers of `POST /v1/publish`, shaped like the Google key server's (`code`, `error`,
//! `insertedExposures`, `padding`, `warnings`), plus `violations` naming each broken rule.
//!
//! This module never echoes the upload code or key data back, and every 4xx it builds is counted
//! by the caller under one static rule name.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_protocol::keys::Violation;
use serde::Serialize;

/// The body of a successful publish.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishResponse {
    /// A revision token listing the upload's keys (certificate uploads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_token: Option<String>,
    /// Keys stored by this upload (on a retry: by the original upload).
    pub inserted_exposures: u32,
    /// Random base64 of 1024..2048 bytes, so response sizes say nothing.
    pub padding: String,
    /// Always empty: under the strict policy nothing is dropped with a warning.
    pub warnings: Vec<String>,
}

/// One broken rule, as the error body lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ViolationBody {
    /// The rule's stable name (also the metric label).
    pub rule: &'static str,
    /// The index of the key at fault, `null` for request-level rules.
    pub key_index: Option<usize>,
    /// What was wrong.
    pub message: String,
}

impl From<&Violation> for ViolationBody {
    fn from(violation: &Violation) -> Self {
        Self {
            rule: violation.rule(),
            key_index: violation.key_index(),
            message: violation.to_string(),
        }
    }
}

/// The body of a refused publish.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// `bad_request`, `invalid_code` or `internal_error`.
    pub code: &'static str,
    /// A one-line explanation.
    pub error: String,
    /// Every rule broken (empty when the refusal is not about the request's content).
    pub violations: Vec<ViolationBody>,
}

/// A refused publish: the status and the body.
#[derive(Debug)]
pub struct PublishError {
    status: StatusCode,
    body: ErrorBody,
}

impl PublishError {
    /// 400 `bad_request` with the given violations.
    pub fn bad_request(error: String, violations: Vec<ViolationBody>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody {
                code: "bad_request",
                error,
                violations,
            },
        }
    }

    /// 401 `invalid_code`.
    pub fn invalid_code(error: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            body: ErrorBody {
                code: "invalid_code",
                error: error.to_owned(),
                violations: Vec::new(),
            },
        }
    }

    /// 401 `health_authority_verification_certificate_invalid`, naming the check that failed
    /// (`rule`) in the one violation listed.
    pub fn certificate_invalid(rule: &'static str, error: String) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            body: ErrorBody {
                code: "health_authority_verification_certificate_invalid",
                violations: vec![ViolationBody {
                    rule,
                    key_index: None,
                    message: error.clone(),
                }],
                error,
            },
        }
    }

    /// 400 with a revision code (`missing_revision_token`, `invalid_revision_token`,
    /// `key_already_revised`, `invalid_report_type_transition`).
    pub fn revision(code: &'static str, error: String) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody {
                code,
                error,
                violations: Vec::new(),
            },
        }
    }

    /// 401 `unknown_health_authority_id`: the certificate's issuer is not trusted here.
    pub fn unknown_health_authority(error: String) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            body: ErrorBody {
                code: "unknown_health_authority_id",
                error,
                violations: Vec::new(),
            },
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 500 `internal_error` (the cause goes to the log, not to the client).
    pub fn internal() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: ErrorBody {
                code: "internal_error",
                error: "the upload could not be stored; retry later".to_owned(),
                violations: Vec::new(),
            },
        }
    }
}

impl IntoResponse for PublishError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Random base64 padding of 1024 + rand(1024) bytes, as the Google server pads its answers.
/// Returns `None` only if the operating system has no randomness to give.
pub fn padding() -> Option<String> {
    let extra = (getrandom::u32().ok()? % 1024) as usize;
    let mut bytes = vec![0u8; 1024 + extra];
    getrandom::fill(&mut bytes).ok()?;
    Some(STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_base64_of_1024_to_2047_bytes_and_random() {
        let a = padding().unwrap();
        let b = padding().unwrap();
        let len = STANDARD.decode(&a).unwrap().len();
        assert!((1024..2048).contains(&len), "{len}");
        assert_ne!(a, b);
    }
}
