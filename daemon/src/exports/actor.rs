//! The exporter actor: every [`TICK`] (and at start) it builds the export windows that have ended;
//! [`ExporterHandle::export_now`] asks for the same at once and waits for the result.
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
use crate::shutdown::ShutdownSignal;
use crate::store::Store;

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

/// Starts the exporter actor on the current tokio runtime.
pub fn spawn(
    settings: ExportSettings,
    signing_key: SigningKey,
    store: Arc<Store>,
    clock: SharedClock,
    shutdown: ShutdownSignal,
) -> ExporterHandle {
    let (inbox, commands) = mpsc::channel(INBOX_CAPACITY);
    let actor = Actor {
        settings: Arc::new(settings),
        signing_key: Arc::new(signing_key),
        store,
        clock,
    };
    let task = tokio::spawn(actor.run(commands, shutdown));
    ExporterHandle {
        inbox,
        task: Arc::new(std::sync::Mutex::new(Some(task))),
    }
}

struct Actor {
    settings: Arc<ExportSettings>,
    signing_key: Arc<SigningKey>,
    store: Arc<Store>,
    clock: SharedClock,
}

impl Actor {
    async fn run(self, mut commands: mpsc::Receiver<Command>, shutdown: ShutdownSignal) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop = shutdown.wait();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = tick.tick() => {
                    if let Err(error) = self.export().await {
                        tracing::error!(%error, "export run failed");
                    }
                }
                command = commands.recv() => match command {
                    Some(Command::ExportNow(reply)) => {
                        let _ = reply.send(self.export().await);
                    }
                    None => break,
                },
            }
        }
        tracing::debug!("exporter stopped");
    }

    async fn export(&self) -> Result<ExportRun, ExportsError> {
        let store = self.store.clone();
        let settings = self.settings.clone();
        let key = self.signing_key.clone();
        let now = self.clock.now_secs();
        tokio::task::spawn_blocking(move || export_ended_windows(&store, &settings, &key, now))
            .await?
    }
}
