//! The `enmesh pki` commands: set up and run the CA tree from the command line.
//!
//! Each command reads its inputs from files, calls [`crate::pki::issue`] or the
//! [`Verifier`], and writes PEM outputs (keys 0600, never over an existing file without
//! `--force`). It reads the clock here and only here in the pki module. It never copies a field
//! from a request into a certificate: region, cluster and role come from the flags and the CA.

use super::fields::{CertInfo, FieldsError};
use super::files::{self, FileError, PUBLIC_MODE, RevocationState, RevokedEntry, SECRET_MODE};
use super::issue::{CaKey, CertIssueError, NodeRequest, Validity, pem};
use super::verify::{Rejection, TrustError, Verifier};
use crate::clock::Clock as _;
use clap::Subcommand;
use enmesh_protocol::region::{ClusterId, RegionId};
use std::path::{Path, PathBuf};
use thiserror::Error;
use time::OffsetDateTime;

/// `enmesh pki ...`
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create the root CA (self-signed; issues cluster CAs).
    InitRoot {
        /// Common name of the root.
        #[arg(long, default_value = "enmesh root CA")]
        name: String,
        /// Validity in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
        /// Where to write the root certificate.
        #[arg(long)]
        out_cert: PathBuf,
        /// Where to write the root private key (mode 0600).
        #[arg(long)]
        out_key: PathBuf,
        /// Overwrite existing output files.
        #[arg(long)]
        force: bool,
    },
    /// Issue a cluster CA (path length 0: issues only nodes and auditors of its cluster).
    IssueCluster {
        /// The cluster id, e.g. EU, USA, acme.
        #[arg(long)]
        cluster: ClusterId,
        /// Root certificate.
        #[arg(long)]
        root_cert: PathBuf,
        /// Root private key.
        #[arg(long)]
        root_key: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 1825)]
        days: u32,
        /// Where to write the cluster CA certificate.
        #[arg(long)]
        out_cert: PathBuf,
        /// Where to write the cluster CA private key (mode 0600).
        #[arg(long)]
        out_key: PathBuf,
        /// Overwrite existing output files.
        #[arg(long)]
        force: bool,
    },
    /// On a node (or auditor): generate its Ed25519 key and a certificate request.
    Request {
        /// A name for the request (informational; the CA sets the certificate's names).
        #[arg(long)]
        name: String,
        /// Where to write the private key (mode 0600; it never leaves the node).
        #[arg(long)]
        out_key: PathBuf,
        /// Where to write the request (send this to the cluster CA).
        #[arg(long)]
        out_csr: PathBuf,
        /// Overwrite existing output files.
        #[arg(long)]
        force: bool,
    },
    /// At the cluster CA: sign a node's request for a region of this cluster.
    IssueNode {
        /// The node's region, e.g. DE, US-CA, acme:zurich-1.
        #[arg(long)]
        region: RegionId,
        /// The node's request.
        #[arg(long)]
        csr: PathBuf,
        /// Cluster CA certificate.
        #[arg(long)]
        ca_cert: PathBuf,
        /// Cluster CA private key.
        #[arg(long)]
        ca_key: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Where to write the node certificate.
        #[arg(long)]
        out_cert: PathBuf,
        /// Overwrite an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// At the cluster CA: sign an auditor's request (read-only role, no region).
    IssueAuditor {
        /// The auditor's name.
        #[arg(long)]
        name: String,
        /// The auditor's request.
        #[arg(long)]
        csr: PathBuf,
        /// Cluster CA certificate.
        #[arg(long)]
        ca_cert: PathBuf,
        /// Cluster CA private key.
        #[arg(long)]
        ca_key: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Where to write the auditor certificate.
        #[arg(long)]
        out_cert: PathBuf,
        /// Overwrite an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Record a certificate as revoked in its CA's revocation state (then run `crl`).
    Revoke {
        /// The certificate to revoke.
        #[arg(long)]
        cert: PathBuf,
        /// The CA that issued it.
        #[arg(long)]
        ca_cert: PathBuf,
        /// Revocation state file (default: `<ca-cert>.revoked.json`).
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Sign a CRL of everything the CA revoked so far.
    Crl {
        /// CA certificate.
        #[arg(long)]
        ca_cert: PathBuf,
        /// CA private key.
        #[arg(long)]
        ca_key: PathBuf,
        /// Revocation state file (default: `<ca-cert>.revoked.json`).
        #[arg(long)]
        state: Option<PathBuf>,
        /// Days until the next CRL is due.
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Where to write the CRL.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Print a certificate's enmesh fields as JSON (no trust decision).
    Inspect {
        /// The certificate.
        #[arg(long)]
        cert: PathBuf,
    },
    /// Check a certificate chain against a root and CRLs; exits non-zero on reject.
    Verify {
        /// The trusted root certificate.
        #[arg(long)]
        root: PathBuf,
        /// The certificate to check (the file may continue with its CA certificates).
        #[arg(long)]
        cert: PathBuf,
        /// Intermediate (cluster CA) certificates.
        #[arg(long)]
        untrusted: Vec<PathBuf>,
        /// CRLs to honour.
        #[arg(long)]
        crl: Vec<PathBuf>,
        /// Check as a TLS client (accepts auditors too) instead of as a node.
        #[arg(long)]
        client: bool,
    },
}

/// Runs one `enmesh pki` command, printing its result on stdout.
pub fn run(command: PkiCommand) -> Result<(), PkiCliError> {
    let now = OffsetDateTime::now_utc();
    match command {
        PkiCommand::InitRoot {
            name,
            days,
            out_cert,
            out_key,
            force,
        } => {
            let root = CaKey::init_root(&name, Validity::days_from(now, days)?)?;
            write_ca(&root, &out_cert, &out_key, force)?;
            println!("root CA written to {}", out_cert.display());
        }
        PkiCommand::IssueCluster {
            cluster,
            root_cert,
            root_key,
            days,
            out_cert,
            out_key,
            force,
        } => {
            let root = load_ca(&root_cert, &root_key)?;
            let ca = root.issue_cluster(&cluster, Validity::days_from(now, days)?)?;
            write_ca(&ca, &out_cert, &out_key, force)?;
            println!("cluster CA {cluster} written to {}", out_cert.display());
        }
        PkiCommand::Request {
            name,
            out_key,
            out_csr,
            force,
        } => {
            let (csr, key) = NodeRequest::generate(&name)?;
            files::write_new(&out_key, key.as_bytes(), SECRET_MODE, force)?;
            files::write_new(&out_csr, csr.as_bytes(), PUBLIC_MODE, force)?;
            println!(
                "key written to {}, request to {}",
                out_key.display(),
                out_csr.display()
            );
        }
        PkiCommand::IssueNode {
            region,
            csr,
            ca_cert,
            ca_key,
            days,
            out_cert,
            force,
        } => {
            let (ca, request) = load_ca_and_request(&ca_cert, &ca_key, &csr)?;
            let cert = ca.issue_node(&request, &region, Validity::days_from(now, days)?)?;
            write_cert(&out_cert, &cert, force)?;
            println!("node {region} written to {}", out_cert.display());
        }
        PkiCommand::IssueAuditor {
            name,
            csr,
            ca_cert,
            ca_key,
            days,
            out_cert,
            force,
        } => {
            let (ca, request) = load_ca_and_request(&ca_cert, &ca_key, &csr)?;
            let cert = ca.issue_auditor(&request, &name, Validity::days_from(now, days)?)?;
            write_cert(&out_cert, &cert, force)?;
            println!("auditor {name} written to {}", out_cert.display());
        }
        PkiCommand::Revoke {
            cert,
            ca_cert,
            state,
        } => {
            let state_path = state.unwrap_or_else(|| RevocationState::default_path(&ca_cert));
            let info = cert_info(&cert)?;
            let ca = cert_info(&ca_cert)?;
            if info.issuer != ca.subject {
                return Err(PkiCliError::NotIssuedBy { cert, ca: ca_cert });
            }
            let mut revocations = RevocationState::load(&state_path)?;
            if revocations.revoked.iter().any(|r| r.serial == info.serial) {
                println!("serial {} already revoked", info.serial);
                return Ok(());
            }
            revocations.revoked.push(RevokedEntry {
                serial: info.serial.clone(),
                revoked_at: now.unix_timestamp(),
            });
            revocations.save(&state_path)?;
            println!(
                "serial {} revoked; run `enmesh pki crl` to publish it",
                info.serial
            );
        }
        PkiCommand::Crl {
            ca_cert,
            ca_key,
            state,
            days,
            out,
            force,
        } => {
            let ca = load_ca(&ca_cert, &ca_key)?;
            let state_path = state.unwrap_or_else(|| RevocationState::default_path(&ca_cert));
            let mut revocations = RevocationState::load(&state_path)?;
            let revoked = revocations
                .revoked
                .iter()
                .map(|r| {
                    let serial = hex::decode(&r.serial)
                        .map_err(|_| PkiCliError::BadSerial(r.serial.clone()))?;
                    let at = OffsetDateTime::from_unix_timestamp(r.revoked_at)
                        .map_err(|_| PkiCliError::BadSerial(r.serial.clone()))?;
                    Ok((serial, at))
                })
                .collect::<Result<Vec<_>, PkiCliError>>()?;
            let number = revocations.crl_number + 1;
            let crl = ca.crl(&revoked, number, Validity::days_from(now, days)?)?;
            files::write_new(&out, pem("X509 CRL", &crl).as_bytes(), PUBLIC_MODE, force)?;
            revocations.crl_number = number;
            revocations.save(&state_path)?;
            println!(
                "CRL #{number} with {} revoked written to {}",
                revoked.len(),
                out.display()
            );
        }
        PkiCommand::Inspect { cert } => {
            let info = cert_info(&cert)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&info).map_err(PkiCliError::Json)?
            );
        }
        PkiCommand::Verify {
            root,
            cert,
            untrusted,
            crl,
            client,
        } => {
            let root = files::read_certs(&root)?
                .into_iter()
                .next()
                .ok_or(PkiCliError::File(FileError::BadPem(root, "CERTIFICATE")))?;
            let crls = crl
                .iter()
                .map(|p| files::read_crl(p))
                .collect::<Result<Vec<_>, _>>()?;
            let verifier = Verifier::new(root, &crls)?;
            let mut chain = files::read_certs(&cert)?;
            for path in &untrusted {
                chain.extend(files::read_certs(path)?);
            }
            let now = crate::clock::SystemClock.unix_time();
            let verdict = if client {
                verifier.verify_client(&chain, now)
            } else {
                verifier.verify_node(&chain, now)
            };
            match verdict {
                Ok(peer) => {
                    let out = serde_json::json!({
                        "verdict": "accept",
                        "role": peer.role(),
                        "cluster": peer.cluster().to_string(),
                        "region": peer.region().map(|r| r.to_string()),
                        "serial": hex::encode(peer.serial()),
                        "peer_id": peer.peer_id().to_string(),
                    });
                    println!("{out}");
                }
                Err(reason) => {
                    let out = serde_json::json!({
                        "verdict": "reject",
                        "reason": reason.to_string(),
                    });
                    println!("{out}");
                    return Err(PkiCliError::Rejected(reason));
                }
            }
        }
    }
    Ok(())
}

fn load_ca(cert: &Path, key: &Path) -> Result<CaKey, PkiCliError> {
    Ok(CaKey::from_pem(
        &files::read_text(cert)?,
        &files::read_text(key)?,
    )?)
}

/// The issuing CA and a node's certificate request.
fn load_ca_and_request(
    ca_cert: &Path,
    ca_key: &Path,
    csr: &Path,
) -> Result<(CaKey, NodeRequest), PkiCliError> {
    let ca = load_ca(ca_cert, ca_key)?;
    Ok((ca, NodeRequest::from_pem(&files::read_text(csr)?)?))
}

/// Writes an issued end-entity certificate as PEM.
fn write_cert(path: &Path, cert: &[u8], force: bool) -> Result<(), PkiCliError> {
    let text = pem("CERTIFICATE", cert);
    Ok(files::write_new(path, text.as_bytes(), PUBLIC_MODE, force)?)
}

fn write_ca(ca: &CaKey, cert: &Path, key: &Path, force: bool) -> Result<(), PkiCliError> {
    // Refuse before writing anything, so a refusal leaves no half-written pair behind.
    for path in [cert, key] {
        if !force && path.exists() {
            return Err(FileError::Exists(path.to_owned()).into());
        }
    }
    files::write_new(key, ca.key_pem().as_bytes(), SECRET_MODE, force)?;
    files::write_new(cert, ca.cert_pem().as_bytes(), PUBLIC_MODE, force)?;
    Ok(())
}

fn cert_info(path: &Path) -> Result<CertInfo, PkiCliError> {
    let der = files::read_certs(path)?
        .into_iter()
        .next()
        .ok_or_else(|| FileError::BadPem(path.to_owned(), "CERTIFICATE"))?;
    CertInfo::read(&der).map_err(|source| PkiCliError::Cert {
        path: path.to_owned(),
        source,
    })
}

/// Why an `enmesh pki` command failed.
#[derive(Debug, Error)]
pub enum PkiCliError {
    /// A file could not be read or written.
    #[error(transparent)]
    File(#[from] FileError),
    /// Issuing failed.
    #[error(transparent)]
    Issue(#[from] CertIssueError),
    /// A certificate's enmesh fields could not be read.
    #[error("{path}: {source}")]
    Cert {
        /// The certificate file.
        path: PathBuf,
        /// The error.
        source: FieldsError,
    },
    /// The verifier could not be set up from the root and CRLs.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// `verify` rejected the chain.
    #[error("rejected: {0}")]
    Rejected(Rejection),
    /// The certificate to revoke was not issued by the given CA.
    #[error("{cert} was not issued by {ca}")]
    NotIssuedBy {
        /// The certificate.
        cert: PathBuf,
        /// The CA given.
        ca: PathBuf,
    },
    /// A serial in the revocation state is not hex (or its time is out of range).
    #[error("revocation state entry {0:?} is malformed")]
    BadSerial(String),
    /// JSON output failed.
    #[error("JSON output: {0}")]
    Json(serde_json::Error),
}
