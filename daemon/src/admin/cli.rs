//! `enmesh admin ...`: the operator API's command-line client.
//!
//! Reads the daemon's config for `admin.listen` and `node.data_dir`, the token from
//! `<data_dir>/admin.token`, calls the running daemon over HTTP and prints its JSON answer on
//! stdout. This module never prints or logs the token, and never touches the store itself.

use super::token::{self, TokenError};
use crate::config::{Config, ConfigError};
use axum::http::{Method, Request, StatusCode, header};
use clap::Subcommand;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::PathBuf;
use thiserror::Error;
use tokio::net::TcpStream;

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
pub enum CliError {
    /// The config file could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The token file could not be read (is the daemon initialised on this machine?).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The daemon's operator API could not be reached.
    #[error("cannot reach the operator API at {addr} (is the daemon running?): {reason}")]
    Connect {
        /// `admin.listen`.
        addr: SocketAddr,
        /// The operating system's error.
        reason: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("operator API request failed: {0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built (cannot happen with a valid token file).
    #[error("cannot build the request: {0}")]
    Request(#[from] axum::http::Error),
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
pub async fn run(command: AdminCommand) -> Result<(), CliError> {
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
) -> Result<String, CliError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|reason| CliError::Connect { addr, reason })?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, addr.to_string())
        .header(header::AUTHORIZATION, format!("Bearer {}", token.as_str()))
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    if status.is_success() {
        Ok(body)
    } else {
        Err(CliError::Status { status, body })
    }
}
