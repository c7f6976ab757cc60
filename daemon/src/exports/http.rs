//! The export routes: `GET /v1/exports/index.txt` (text/plain, formats.md §d.4) and
//! `GET /v1/exports/<start>-<end>-<nnnnn>.zip` (application/zip).
//!
//! This module only reads the store's `exports` column family; it never builds an export.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use enmesh_protocol::export::{export_file_name, index_txt};

use super::FILENAME_ROOT;
use crate::store::{ExportFileId, Store};

/// How long a zip may be cached: a built file never changes (retention only removes it).
const ZIP_CACHE: &str = "public, max-age=86400";

/// The export routes, state applied: merge them into [`crate::api::router`].
pub fn routes(store: Arc<Store>) -> Router {
    Router::new()
        .route("/v1/exports/index.txt", get(index))
        .route("/v1/exports/{file}", get(zip))
        .with_state(store)
}

/// Parses `<start>-<end>-<nnnnn>.zip` (exactly five digits of file number, as written).
pub fn parse_file_name(file: &str) -> Option<ExportFileId> {
    let stem = file.strip_suffix(".zip")?;
    let mut parts = stem.split('-');
    let (start, end, number) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || number.len() != 5 {
        return None;
    }
    let decimal = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(decimal(start) && decimal(end) && decimal(number)) {
        return None;
    }
    Some(ExportFileId {
        window_start: start.parse().ok()?,
        window_end: end.parse().ok()?,
        file_number: number.parse().ok()?,
    })
}

fn error(status: StatusCode, code: &'static str, message: String) -> Response {
    let body = serde_json::json!({ "error": code, "message": message });
    (status, axum::Json(body)).into_response()
}

fn internal(error_text: String) -> Response {
    tracing::error!(error = %error_text, "export request failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        error_text,
    )
}

async fn index(State(store): State<Arc<Store>>) -> Response {
    let listed = tokio::task::spawn_blocking(move || store.export_files()).await;
    let files = match listed {
        Ok(Ok(files)) => files,
        Ok(Err(e)) => return internal(e.to_string()),
        Err(e) => return internal(e.to_string()),
    };
    let names: Vec<String> = files
        .iter()
        .map(|f| export_file_name(FILENAME_ROOT, f.window_start, f.window_end, f.file_number))
        .collect();
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=us-ascii"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        index_txt(&names),
    )
        .into_response()
}

async fn zip(State(store): State<Arc<Store>>, Path(file): Path<String>) -> Response {
    let Some(id) = parse_file_name(&file) else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_export",
            format!("{file:?} is not an export file name (<start>-<end>-<nnnnn>.zip)"),
        );
    };
    let found = tokio::task::spawn_blocking(move || store.export_zip(&id)).await;
    match found {
        Ok(Ok(Some(zip))) => (
            [
                (header::CONTENT_TYPE, "application/zip"),
                (header::CACHE_CONTROL, ZIP_CACHE),
            ],
            zip,
        )
            .into_response(),
        Ok(Ok(None)) => error(
            StatusCode::NOT_FOUND,
            "unknown_export",
            format!("no export file {file:?}"),
        ),
        Ok(Err(e)) => internal(e.to_string()),
        Err(e) => internal(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_parse_only_in_the_written_form() {
        assert_eq!(
            parse_file_name("1600000000-1600003600-00002.zip"),
            Some(ExportFileId {
                window_start: 1_600_000_000,
                window_end: 1_600_003_600,
                file_number: 2
            })
        );
        for bad in [
            "1-2-3.zip",
            "1-2-00001",
            "1-2-00001.zip.zip",
            "a-2-00001.zip",
            "1--00001.zip",
            "1-2-00001-4.zip",
            "+1-2-00001.zip",
            "index.txt",
            "99999999999999999999-2-00001.zip",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }
}
