//! The CRL reload worker: reads `pki.crl_dir` again every `pki.crl_reload_secs` and, when its
//! CRLs differ from the ones in force, gives them to the verifier every link and batch check
//! uses, then has the mesh check its admitted peers again (a revoked peer is dropped and
//! blocked). New TLS handshakes and pulls use the new CRLs at once. Each new set of CRLs in
//! force is a `CrlApplied` entry of the replication log.
//!
//! A directory that cannot be read, or that holds a bad CRL, is logged and the CRLs in force
//! stay: this module never drops revocation information it has.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateRevocationListDer;
use thiserror::Error;

use crate::audit;
use crate::clock::SharedClock;
use crate::pki::files::{self, FileError};
use crate::pki::{TrustError, Verifier};
use crate::replicate::mesh::MeshHandle;
use crate::store::{Store, StoreError};
use crate::worker::{Ticker, Worker, WorkerState};

/// Why a reload did not apply.
#[derive(Debug, Error)]
pub enum ReloadError {
    /// The directory or a file in it cannot be read.
    #[error("cannot read the CRL directory; keeping the loaded CRLs: {0}")]
    Read(#[from] FileError),
    /// A CRL does not parse.
    #[error("a CRL does not parse; keeping the loaded CRLs: {0}")]
    Parse(#[from] TrustError),
    /// The blocking read did not finish.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The new CRLs are in force, but the replication log could not record them.
    #[error("the new CRLs are in force, but the replication log did not take them: {0}")]
    Log(#[from] StoreError),
}

/// Reloads the CRLs of one node.
pub struct CrlReload {
    dir: PathBuf,
    verifier: Arc<Verifier>,
    loaded: Vec<CertificateRevocationListDer<'static>>,
    mesh: Option<MeshHandle>,
    store: Arc<Store>,
    clock: SharedClock,
    ticker: Ticker,
}

impl CrlReload {
    /// Reloads `dir` every `every`, starting from the CRLs `loaded` at start; each change is
    /// logged in `store`'s replication log.
    pub fn new(
        dir: PathBuf,
        every: Duration,
        verifier: Arc<Verifier>,
        loaded: Vec<CertificateRevocationListDer<'static>>,
        mesh: Option<MeshHandle>,
        store: Arc<Store>,
        clock: SharedClock,
    ) -> Self {
        Self {
            dir,
            verifier,
            loaded,
            mesh,
            store,
            clock,
            ticker: Ticker::new(every, false),
        }
    }
}

impl Worker for CrlReload {
    type Error = ReloadError;

    fn name(&self) -> &'static str {
        "crl_reload"
    }

    async fn wait_for_work(&mut self) -> WorkerState {
        self.ticker.tick().await;
        WorkerState::Idle
    }

    async fn work(&mut self) -> Result<WorkerState, ReloadError> {
        let dir = self.dir.clone();
        let crls = tokio::task::spawn_blocking(move || files::read_crl_dir(Some(&dir))).await??;
        if self.loaded == crls {
            return Ok(WorkerState::Idle);
        }
        self.verifier.replace_crls(&crls)?;
        tracing::info!(crls = crls.len(), "CRLs reloaded");
        if let Some(mesh) = &self.mesh
            && let Err(error) = mesh.set_verifier(self.verifier.clone()).await
        {
            tracing::warn!(%error, "the mesh did not take the new CRLs");
        }
        let entry = audit::crl_applied(crls.iter().map(|c| c.as_ref()), self.clock.now_millis());
        self.loaded = crls;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.record(&[entry])).await??;
        Ok(WorkerState::Idle)
    }
}
