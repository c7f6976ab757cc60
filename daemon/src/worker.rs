//! Background workers: the one shape of every job a node runs in the background (the batcher,
//! the exporter, retention, CRL reload, each open pull stream).
//!
//! A [`Worker`] says how to wait for work ([`Worker::wait_for_work`]: a tick, a command, a
//! notification) and how to do one unit of it ([`Worker::work`]). [`spawn`] runs it in a
//! shutdown stage: it waits, works, records what happened in the worker's [`WorkerStatus`]
//! (named, listed by [`Workers::snapshot`] and counted in metrics), and when the stage's signal
//! fires it stops waiting, lets [`Worker::finish`] run (a last flush), and ends. The runner owns
//! the loop, so no worker writes its own `interval` + `select!` + stop handling again.
//!
//! This module never spawns a task outside a shutdown stage, never aborts a unit of work half
//! way, and never lets a failed unit stop the worker (the failure is logged, counted and kept as
//! the worker's last error; the next unit tries again).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::shutdown::ShutdownSignal;

/// What a worker says after a wait or a unit of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// There is more to do right away: work again without waiting.
    Busy,
    /// Nothing to do until the next wait ends.
    Idle,
    /// The worker has nothing more to do ever (its inbox closed): it stops.
    Done,
}

/// A background job, run by [`spawn`].
pub trait Worker: Send + 'static {
    /// Why a unit of work failed.
    type Error: std::fmt::Display + Send;

    /// The worker's name: a span name and a metric label (a constant, so labels stay a closed
    /// set).
    fn name(&self) -> &'static str;

    /// Does one unit of work.
    fn work(&mut self) -> impl Future<Output = Result<WorkerState, Self::Error>> + Send;

    /// Waits until there is work. Must be cancel-safe: the runner drops it when the stage stops.
    fn wait_for_work(&mut self) -> impl Future<Output = WorkerState> + Send;

    /// Runs once after the stop signal (a last flush, say). By default it does nothing.
    fn finish(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A wait of one period, for workers that run on a timer. The first tick is after one period
/// unless `immediately`.
#[derive(Debug)]
pub struct Ticker {
    interval: tokio::time::Interval,
}

impl Ticker {
    /// Ticks every `period`; the first at once if `immediately`, else after one period.
    pub fn new(period: Duration, immediately: bool) -> Self {
        let start = if immediately {
            tokio::time::Instant::now()
        } else {
            tokio::time::Instant::now() + period
        };
        let mut interval = tokio::time::interval_at(start, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self { interval }
    }

    /// Waits for the next tick.
    pub async fn tick(&mut self) {
        self.interval.tick().await;
    }
}

/// What the runner knows of one worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStatus {
    /// Units of work done.
    pub runs: u64,
    /// Units of work that failed.
    pub errors: u64,
    /// The last failure, if the last unit failed.
    pub last_error: Option<String>,
    /// When the last unit ended (unix seconds; 0: never).
    pub last_run_unix_secs: u64,
    /// Whether the worker is doing a unit of work now.
    pub working: bool,
    /// Whether the worker has ended.
    pub stopped: bool,
}

/// Every worker of one node, by name.
#[derive(Debug, Clone, Default)]
pub struct Workers {
    statuses: Arc<Mutex<BTreeMap<&'static str, WorkerStatus>>>,
}

impl Workers {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The status of every worker started with this registry (several workers of one name, such
    /// as pull streams, share one entry).
    pub fn snapshot(&self) -> BTreeMap<&'static str, WorkerStatus> {
        self.lock().clone()
    }

    fn update(&self, name: &'static str, change: impl FnOnce(&mut WorkerStatus)) {
        change(self.lock().entry(name).or_default());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, WorkerStatus>> {
        self.statuses.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Label set `worker`: a worker's name (a constant).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct WorkerLabel {
    /// The worker's name.
    pub worker: &'static str,
}

/// The workers' metric families: units of work done and failed, by worker.
#[derive(Debug, Clone, Default)]
pub struct WorkerMetrics {
    runs: Family<WorkerLabel, Counter>,
    errors: Family<WorkerLabel, Counter>,
}

impl WorkerMetrics {
    /// The families, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "worker_runs",
            "Units of background work done, by worker",
            m.runs.clone(),
        );
        registry.register(
            "worker_errors",
            "Units of background work that failed, by worker",
            m.errors.clone(),
        );
        m
    }

    fn ran(&self, worker: &'static str, failed: bool) {
        let label = WorkerLabel { worker };
        self.runs.get_or_create(&label).inc();
        if failed {
            self.errors.get_or_create(&label).inc();
        }
    }
}

/// What [`spawn`] needs besides the worker.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The stage the worker runs in.
    pub stage: ShutdownSignal,
    /// Where its status goes.
    pub workers: Workers,
    /// Counts its units of work.
    pub metrics: WorkerMetrics,
    /// Stamps the status.
    pub clock: SharedClock,
}

impl Runner {
    /// A runner in `stage` with a registry and metrics of its own (tests, tools).
    pub fn new(stage: ShutdownSignal, clock: SharedClock) -> Self {
        Self {
            stage,
            workers: Workers::new(),
            metrics: WorkerMetrics::default(),
            clock,
        }
    }
}

/// Runs `worker` in `runner.stage` until the stage stops or the worker is done.
pub fn spawn<W: Worker>(runner: &Runner, mut worker: W) -> JoinHandle<()> {
    let Runner {
        stage,
        workers,
        metrics,
        clock,
    } = runner.clone();
    let name = worker.name();
    let span = tracing::info_span!("worker", worker = name);
    let task = async move {
        workers.update(name, |s| s.stopped = false);
        let mut state = WorkerState::Idle;
        loop {
            if state != WorkerState::Busy {
                state = tokio::select! {
                    biased;
                    () = stage.clone().wait() => break,
                    state = worker.wait_for_work() => state,
                };
            }
            if state == WorkerState::Done || stage.is_triggered() {
                break;
            }
            workers.update(name, |s| s.working = true);
            let result = worker.work().await;
            let now = clock.now_secs();
            metrics.ran(name, result.is_err());
            state = match result {
                Ok(next) => {
                    workers.update(name, |s| {
                        s.runs += 1;
                        s.working = false;
                        s.last_error = None;
                        s.last_run_unix_secs = now;
                    });
                    next
                }
                Err(error) => {
                    tracing::error!(%error, "worker step failed; the next one retries");
                    workers.update(name, |s| {
                        s.runs += 1;
                        s.errors += 1;
                        s.working = false;
                        s.last_error = Some(error.to_string());
                        s.last_run_unix_secs = now;
                    });
                    WorkerState::Idle
                }
            };
            if state == WorkerState::Done {
                break;
            }
        }
        worker.finish().await;
        workers.update(name, |s| {
            s.working = false;
            s.stopped = true;
        });
        tracing::debug!("worker stopped");
    }
    .instrument(span);
    runner.stage.spawn(task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::shutdown::Shutdown;

    struct Counting {
        left: u32,
        fail_at: u32,
        finished: Arc<Mutex<bool>>,
    }

    impl Worker for Counting {
        type Error = String;
        fn name(&self) -> &'static str {
            "counting"
        }
        async fn work(&mut self) -> Result<WorkerState, String> {
            self.left -= 1;
            if self.left == self.fail_at {
                return Err(format!("failed at {}", self.left));
            }
            Ok(if self.left == 0 {
                WorkerState::Done
            } else {
                WorkerState::Busy
            })
        }
        async fn wait_for_work(&mut self) -> WorkerState {
            WorkerState::Busy
        }
        async fn finish(&mut self) {
            *self.finished.lock().unwrap() = true;
        }
    }

    #[tokio::test]
    async fn runs_until_done_counts_failures_and_finishes() {
        let stage = Shutdown::new();
        let runner = Runner {
            stage: stage.signal(),
            workers: Workers::new(),
            metrics: WorkerMetrics::default(),
            clock: SystemClock::shared(),
        };
        let finished = Arc::new(Mutex::new(false));
        let task = spawn(
            &runner,
            Counting {
                left: 5,
                fail_at: 3,
                finished: finished.clone(),
            },
        );
        task.await.unwrap();
        let status = runner.workers.snapshot()["counting"].clone();
        assert_eq!((status.runs, status.errors), (5, 1));
        assert!(status.stopped && status.last_error.is_none());
        assert!(*finished.lock().unwrap());
    }

    struct Waiting(Arc<Mutex<u32>>);

    impl Worker for Waiting {
        type Error = String;
        fn name(&self) -> &'static str {
            "waiting"
        }
        async fn work(&mut self) -> Result<WorkerState, String> {
            Ok(WorkerState::Idle)
        }
        async fn wait_for_work(&mut self) -> WorkerState {
            std::future::pending().await
        }
        async fn finish(&mut self) {
            *self.0.lock().unwrap() += 1;
        }
    }

    #[tokio::test]
    async fn the_stage_stops_a_waiting_worker_and_waits_for_its_finish() {
        let stage = Shutdown::new();
        let runner = Runner {
            stage: stage.signal(),
            workers: Workers::new(),
            metrics: WorkerMetrics::default(),
            clock: SystemClock::shared(),
        };
        let finished = Arc::new(Mutex::new(0));
        spawn(&runner, Waiting(finished.clone()));
        stage.drain(Duration::from_secs(5)).await.unwrap();
        assert_eq!(*finished.lock().unwrap(), 1);
        assert!(runner.workers.snapshot()["waiting"].stopped);
    }
}
