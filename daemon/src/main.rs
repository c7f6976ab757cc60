//! `enmesh`: the regional backend daemon and its operator commands.
//!
//! Only argument parsing and dispatch live here; every command is implemented in the library.
//! Errors print as one line (`error: ...`) and exit with status 1.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use anyhow::Context;
use clap::{Parser, Subcommand};
use enmesh_daemon::clock::SystemClock;
use enmesh_daemon::shutdown::wait_for_os_signal;
use enmesh_daemon::{admin, audit, config, demo, node, pki, telemetry};
use std::path::{Path, PathBuf};

/// enmesh: exposure-notification interoperability without a hub.
#[derive(Debug, Parser)]
#[command(name = "enmesh", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the regional backend daemon.
    Daemon {
        /// The daemon's TOML configuration (see `enmesh init`).
        #[arg(long)]
        config: PathBuf,
        /// Log filter when RUST_LOG is not set (e.g. `info`, `enmesh_daemon=debug`).
        #[arg(long, default_value = "info")]
        log: String,
    },
    /// A multi-region mesh on embedded storage, started, exercised and stopped; prints each step.
    Demo {
        /// Keep the demo's files (PKI, configs, stores) in this directory instead of a
        /// temporary one.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Write a commented example configuration file.
    Init {
        /// Where to write it.
        #[arg(default_value = "enmesh.toml")]
        path: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Operator commands against a running daemon (upload codes, statistics).
    Admin {
        #[command(subcommand)]
        command: admin::cli::AdminCommand,
    },
    /// The CA tree: root, cluster CAs, node and auditor certificates, CRLs, checks.
    Pki {
        #[command(subcommand)]
        command: pki::cli::PkiCommand,
    },
    /// The auditor's commands: fetch and check a node's replication log (JSON out).
    Audit {
        #[command(subcommand)]
        command: audit::client::AuditCommand,
    },
}

fn main() -> std::process::ExitCode {
    pki::tls::install_default_provider();
    match run(Cli::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Daemon { config, log } => run_daemon(&config, &log)?,
        Command::Demo { dir } => run_demo(dir.as_deref())?,
        Command::Init { path, force } => {
            config::init_command(&path, force)?;
            eprintln!("wrote {}", path.display());
        }
        Command::Admin { command } => run_admin(command)?,
        Command::Pki { command } => pki::cli::run(command)?,
        Command::Audit { command } => run_audit(command)?,
    }
    Ok(())
}

#[tokio::main]
async fn run_demo(dir: Option<&Path>) -> anyhow::Result<()> {
    telemetry::init_tracing("warn")?;
    Ok(demo::run(dir).await?)
}

#[tokio::main(flavor = "current_thread")]
async fn run_audit(command: audit::client::AuditCommand) -> anyhow::Result<()> {
    Ok(audit::client::run(command).await?)
}

#[tokio::main(flavor = "current_thread")]
async fn run_admin(command: admin::cli::AdminCommand) -> anyhow::Result<()> {
    Ok(admin::cli::run(command).await?)
}

#[tokio::main]
async fn run_daemon(path: &Path, log: &str) -> anyhow::Result<()> {
    telemetry::init_tracing(log)?;
    let config = config::Config::load(path)
        .and_then(|c| c.check_files().map(|()| c))
        .with_context(|| format!("config {}", path.display()))?;
    let region = config.node.region.clone();
    let mut node = node::start(config, SystemClock::shared(), telemetry::Metrics::new()).await?;
    tracing::info!(%region, http = %node.http_addr(), admin = %node.admin_addr(), grpc = %node.grpc_addr(), "enmesh daemon started");
    tokio::select! {
        signal = wait_for_os_signal() => tracing::info!(signal = signal?, "shutting down"),
        err = node.failed() => return Err(err.into()),
    }
    node.shutdown().await?;
    Ok(())
}
