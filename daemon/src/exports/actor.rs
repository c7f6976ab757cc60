//! The exporter worker: every [`TICK`] (and at start) it builds the export windows that have
//! ended; [`ExporterHandle::export_now`] asks for the same at once and waits for the result.
//!
//! Building runs on tokio's blocking pool (it reads RocksDB and signs), one run at a time. The
//! actor stops when the shutdown signal fires or every handle is dropped; a run in progress
//! finishes first (its window is written atomically either way). It never builds a window twice.

use std::sync::Arc;
use std::time::Duration;

use p256::ecdsa::SigningKey;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{ExportSettings, ExportsError, export_ended_windows};
use crate::clock::SharedClock;
use crate::store::Store;
use crate::worker::{self, Runner, Ticker, Worker, WorkerState};

/// How often the actor looks for ended windows.
pub const TICK: Duration = Duration::from_secs(60);
/// Requests that may wait in the inbox.
const INBOX_CAPACITY: usize = 8;

/// What one run built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportRun {
    /// Windows built (including windows without keys, which have no files).
    pub windows: usize,
    /// The object names of the files written, in order.
    pub files: Vec<String>,
    /// Real keys in them.
    pub keys: usize,
    /// Padding keys in them.
    pub padding: usize,
}

enum Command {
    ExportNow(oneshot::Sender<Result<ExportRun, ExportsError>>),
}

/// The handle of a running exporter. Cheap to clone; the actor stops once every clone is dropped
/// or the shutdown signal fires.
#[derive(Debug, Clone)]
pub struct ExporterHandle {
    inbox: mpsc::Sender<Command>,
    task: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl ExporterHandle {
    /// Builds every ended window not yet built, now, and returns what was built.
    pub async fn export_now(&self) -> Result<ExportRun, ExportsError> {
        let (reply, answer) = oneshot::channel();
        self.inbox
            .send(Command::ExportNow(reply))
            .await
            .map_err(|_| ExportsError::Stopped)?;
        answer.await.map_err(|_| ExportsError::Stopped)?
    }

    /// Waits until the actor has stopped (after the shutdown signal fired). Only the first call
    /// of any clone waits; later calls return at once.
    pub async fn stopped(&self) {
        let task = self
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task
            && let Err(error) = task.await
        {
            tracing::error!(%error, "exporter task failed");
        }
    }
}

/// Starts the exporter as a worker of `runner`'s stage.
pub fn spawn(
    settings: ExportSettings,
    signing_key: SigningKey,
    store: Arc<Store>,
    clock: SharedClock,
    runner: &Runner,
) -> ExporterHandle {
    let (inbox, commands) = mpsc::channel(INBOX_CAPACITY);
    let exporter = Exporter {
        settings: Arc::new(settings),
        signing_key: Arc::new(signing_key),
        store,
        clock,
        commands,
        ticker: Ticker::new(TICK, true),
        next: None,
    };
    let task = worker::spawn(runner, exporter);
    ExporterHandle {
        inbox,
        task: Arc::new(std::sync::Mutex::new(Some(task))),
    }
}

/// The exporter as a [`Worker`]: it waits for a tick or an `export_now`, then builds.
struct Exporter {
    settings: Arc<ExportSettings>,
    signing_key: Arc<SigningKey>,
    store: Arc<Store>,
    clock: SharedClock,
    commands: mpsc::Receiver<Command>,
    ticker: Ticker,
    /// The request being answered, if the wait ended on one.
    next: Option<Command>,
}

impl Worker for Exporter {
    type Error = ExportsError;

    fn name(&self) -> &'static str {
        "exporter"
    }

    async fn wait_for_work(&mut self) -> WorkerState {
        tokio::select! {
            () = self.ticker.tick() => {}
            command = self.commands.recv() => match command {
                Some(command) => self.next = Some(command),
                None => return WorkerState::Done,
            },
        }
        WorkerState::Idle
    }

    async fn work(&mut self) -> Result<WorkerState, ExportsError> {
        match self.next.take() {
            Some(Command::ExportNow(reply)) => {
                let _ = reply.send(self.export().await);
            }
            None => {
                self.export().await?;
            }
        }
        Ok(WorkerState::Idle)
    }
}

impl Exporter {
    async fn export(&self) -> Result<ExportRun, ExportsError> {
        let store = self.store.clone();
        let settings = self.settings.clone();
        let key = self.signing_key.clone();
        let now = self.clock.now_secs();
        tokio::task::spawn_blocking(move || export_ended_windows(&store, &settings, &key, now))
            .await?
    }
}
