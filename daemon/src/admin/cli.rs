//! `enmesh admin ...`: the operator API's command-line client.
//!
//! Reads the daemon's config for `admin.listen` and `node.data_dir`, the token from
//! `<data_dir>/admin.token`, calls the running daemon over HTTP and prints its JSON answer on
//! stdout. This module never prints or logs the token, and never touches the store itself.

use super::token::{self, TokenError};
use crate::api::client::{self, ClientError};
use crate::config::{Config, ConfigError};
use axum::http::{Method, StatusCode, header};
use clap::Subcommand;
use std::net::SocketAddr;
use std::path::PathBuf;
use thiserror::Error;

/// `enmesh admin ...`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Issue a one-time upload code (printed as JSON with its expiry).
    IssueCode {
        /// The daemon's config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the store's statistics as JSON.
    Stats {
        /// The daemon's config file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// Why an `enmesh admin` command failed.
#[derive(Debug, Error)]
pub enum AdminCliError {
    /// The config file could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The token file could not be read (is the daemon initialised on this machine?).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The daemon's operator API could not be reached (is the daemon running?).
    #[error("operator API: {0}")]
    Client(#[from] ClientError),
    /// The daemon answered with an error status.
    #[error("operator API answered {status}: {body}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The answer's body.
        body: String,
    },
}

/// Runs one admin command against the daemon configured in its `--config`.
pub async fn run(command: AdminCommand) -> Result<(), AdminCliError> {
    let (config, method, path) = match command {
        AdminCommand::IssueCode { config } => (config, Method::POST, "/admin/codes"),
        AdminCommand::Stats { config } => (config, Method::GET, "/admin/stats"),
    };
    let config = Config::load(&config)?;
    let token = token::load(&config.node.data_dir)?;
    let body = call(config.admin.listen, &token, method, path).await?;
    println!("{body}");
    Ok(())
}

/// One request to the operator API at `addr`; the body of a 2xx answer.
pub async fn call(
    addr: SocketAddr,
    token: &token::AdminToken,
    method: Method,
    path: &str,
) -> Result<String, AdminCliError> {
    let bearer = format!("Bearer {}", token.as_str());
    let answer = client::request(
        addr,
        method,
        path,
        &[(header::AUTHORIZATION, &bearer)],
        Vec::new(),
    )
    .await?;
    if answer.status.is_success() {
        Ok(answer.text())
    } else {
        Err(AdminCliError::Status {
            status: answer.status,
            body: answer.text(),
        })
    }
}
