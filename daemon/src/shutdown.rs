//! Shutdown coordination: one signal every actor listens to, and a deadline for draining them.
//!
//! A [`Shutdown`] is one stage of the daemon's shutdown (for example "stop serving HTTP", then
//! "flush the batcher", then "close the store"). Tasks spawned through it are tracked; each one
//! holds a [`ShutdownSignal`] and returns from its `select!` loop once the signal fires.
//! [`Shutdown::drain`] triggers the signal and waits for the tracked tasks, but never longer than
//! the deadline it is given. The runtime drains its stages one after the other, which orders the
//! shutdown. Dropping a `Shutdown` triggers its signal, so no tracked task outlives its owner
//! unnoticed.
//!
//! This module never aborts a task: a task that misses the deadline is reported, not killed.

use std::future::Future;
use std::time::Duration;
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why a shutdown step failed.
#[derive(Debug, Error)]
pub enum ShutdownError {
    /// Some tracked tasks were still running when the deadline passed.
    #[error("{running} task(s) still running after the shutdown deadline of {deadline:?}")]
    Deadline {
        /// How many tracked tasks had not finished.
        running: usize,
        /// The deadline that passed.
        deadline: Duration,
    },
    /// The operating system's signal handler could not be installed.
    #[error("cannot listen for {signal}: {reason}")]
    SignalHandler {
        /// The signal that could not be watched (`SIGTERM`, `Ctrl-C`).
        signal: &'static str,
        /// The operating system's error.
        reason: std::io::Error,
    },
}

/// One shutdown stage: a signal plus the tasks that must finish when it fires.
#[derive(Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    /// A stage whose signal has not fired and which tracks no task yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A signal for one task or actor to listen to.
    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            token: self.token.clone(),
            tracker: self.tracker.clone(),
        }
    }

    /// Fires the signal: every [`ShutdownSignal::wait`] of this stage returns.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether the signal has fired.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Spawns a task that [`Shutdown::drain`] waits for. The task should select on a
    /// [`ShutdownSignal`] from [`Shutdown::signal`].
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Fires the signal, then waits until every tracked task has finished or `deadline` has
    /// passed, whichever is first.
    pub async fn drain(self, deadline: Duration) -> Result<(), ShutdownError> {
        self.trigger();
        self.tracker.close();
        match tokio::time::timeout(deadline, self.tracker.wait()).await {
            Ok(()) => Ok(()),
            Err(_) => Err(ShutdownError::Deadline {
                running: self.tracker.len(),
                deadline,
            }),
        }
    }
}

impl Drop for Shutdown {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// The receiving side of a [`Shutdown`]: cheap to clone, one per task. A task that starts
/// helpers (a connection, a stream) spawns them through its signal, so the stage tracks them too.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl ShutdownSignal {
    /// Spawns a task that the stage's [`Shutdown::drain`] waits for, like [`Shutdown::spawn`].
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Returns once the stage's signal has fired (at once if it already has).
    pub async fn wait(self) {
        self.token.cancelled_owned().await;
    }

    /// Whether the signal has fired.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// Returns when the process receives SIGTERM (on Unix) or Ctrl-C (SIGINT).
pub async fn wait_for_os_signal() -> Result<&'static str, ShutdownError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term =
            signal(SignalKind::terminate()).map_err(|reason| ShutdownError::SignalHandler {
                signal: "SIGTERM",
                reason,
            })?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            ctrl_c = tokio::signal::ctrl_c() => ctrl_c
                .map(|()| "Ctrl-C")
                .map_err(|reason| ShutdownError::SignalHandler { signal: "Ctrl-C", reason }),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .map(|()| "Ctrl-C")
            .map_err(|reason| ShutdownError::SignalHandler {
                signal: "Ctrl-C",
                reason,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_tasks_that_listen() {
        let shutdown = Shutdown::new();
        let signal = shutdown.signal();
        let task = shutdown.spawn(async move {
            signal.wait().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            "flushed"
        });
        shutdown.drain(Duration::from_secs(5)).await.unwrap();
        assert!(task.is_finished());
        assert_eq!(task.await.unwrap(), "flushed");
    }

    #[tokio::test]
    async fn drain_reports_tasks_past_the_deadline() {
        let shutdown = Shutdown::new();
        shutdown.spawn(tokio::time::sleep(Duration::from_secs(60)));
        let err = shutdown.drain(Duration::from_millis(20)).await.unwrap_err();
        assert!(
            matches!(err, ShutdownError::Deadline { running: 1, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn dropping_the_stage_fires_the_signal() {
        let shutdown = Shutdown::new();
        let signal = shutdown.signal();
        assert!(!signal.is_triggered());
        drop(shutdown);
        assert!(signal.is_triggered());
        signal.wait().await;
    }
}
