//! The threads that parse and evaluate PromQL, off the HTTP workers and the actors' threads,
//! so a slow query never delays `/healthz`, ingest or another tenant's request on the same
//! worker.
//!
//! Each thread has an explicit stack ([`QUERY_THREAD_STACK_BYTES`]): the parser, the tree's
//! `Drop` and the evaluator recurse once per level of the expression, and the text limits
//! (`promql::limits`) bound that depth; `tests::the_deepest_accepted_queries_fit_the_stack`
//! runs the deepest accepted query of each shape on these threads. The queue in front of
//! them is bounded: when it is full, a query is answered 503 at once rather than queued
//! without end. A panic in a job is caught, logged and counted by the panic hook, and
//! reported to its caller as [`QueryThreadError::Panicked`]; the thread goes on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

/// Stack of each query thread. Reserved address space; only touched pages use memory.
pub const QUERY_THREAD_STACK_BYTES: usize = 64 * 1024 * 1024;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why a job did not produce its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryThreadError {
    #[error("every query thread is busy and {queued} queries are waiting; retry shortly")]
    Busy { queued: usize },
    #[error("the query failed inside the server (a panic; logged with its backtrace)")]
    Panicked,
}

/// A handle to the query threads; cheap to clone.
#[derive(Clone)]
pub struct QueryThreads {
    sender: SyncSender<Job>,
    queue: usize,
}

impl QueryThreads {
    /// Starts `threads` threads behind a queue of `queue` waiting jobs.
    pub fn start(threads: usize, queue: usize) -> std::io::Result<Self> {
        let (sender, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("tidewatch-query-{n}"))
                .stack_size(QUERY_THREAD_STACK_BYTES)
                .spawn(move || serve(&receiver))?;
        }
        Ok(Self { sender, queue })
    }

    /// Runs `job` on a query thread and waits for its value without blocking the caller's
    /// thread. Dropping the returned future does not stop a job already running; jobs
    /// check their own deadline.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, QueryThreadError> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        let wrapped: Job = Box::new(move || {
            let value = catch_unwind(AssertUnwindSafe(job));
            // The caller may have given up (timeout, client gone); nothing to tell then.
            let _ = done.send(value.map_err(|_| QueryThreadError::Panicked));
        });
        match self.sender.try_send(wrapped) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(QueryThreadError::Busy { queued: self.queue })
            }
            Err(TrySendError::Disconnected(_)) => return Err(QueryThreadError::Panicked),
        }
        outcome.await.unwrap_or(Err(QueryThreadError::Panicked))
    }
}

fn serve(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let guard = receiver.lock().unwrap_or_else(|e| e.into_inner());
            guard.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

impl crate::error::Classify for QueryThreadError {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            Self::Busy { .. } => crate::error::ErrorKind::Unavailable,
            Self::Panicked => crate::error::ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Busy { .. } => "overloaded",
            Self::Panicked => "internal",
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        matches!(self, Self::Busy { .. }).then_some(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::metrics::{Labels, Sample};
    use crate::promql::{parse_within, Engine, ExpressionLimits, InMemorySeries, QueryLimits};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a test runtime")
    }

    #[test]
    fn the_deepest_accepted_queries_fit_the_stack() {
        let limits = ExpressionLimits::default();
        let depth = limits.max_depth;
        let shapes = [
            vec!["up"; depth].join(" + "),
            format!("{}up{}", "(".repeat(depth - 1), ")".repeat(depth - 1)),
            format!("{}up{}", "abs(".repeat(depth - 1), ")".repeat(depth - 1)),
            format!("{}up", "-".repeat(depth - 1)),
            format!("{}up{}", "sum(".repeat(depth - 1), ")".repeat(depth - 1)),
            vec!["up"; depth].join(" or "),
        ];
        let threads = QueryThreads::start(1, 4).expect("threads start");
        let samples = (0..10)
            .map(|i| Sample {
                timestamp_ms: i * 15_000,
                value: i as f64,
            })
            .collect();
        let source = std::sync::Arc::new(InMemorySeries::new(vec![(
            Labels::with_name("up", std::iter::empty::<(&str, &str)>()),
            samples,
        )]));
        for text in shapes {
            let source = source.clone();
            let outcome = runtime().block_on(threads.run(move || {
                let expr = parse_within(&text, &limits)?;
                Engine::new(QueryLimits::default()).range(&expr, 0, 120_000, 15_000, &*source)
            }));
            let value = outcome.expect("no panic, no busy queue");
            value.unwrap_or_else(|e| panic!("a query within the limits is answered: {e}"));
        }
    }

    #[test]
    fn a_panicking_job_is_reported_and_the_thread_goes_on() {
        crate::panic_net::install_hook();
        let threads = QueryThreads::start(1, 4).expect("threads start");
        let rt = runtime();
        let failed = rt.block_on(threads.run(|| -> u32 { panic!("injected") }));
        assert_eq!(failed, Err(QueryThreadError::Panicked));
        assert_eq!(rt.block_on(threads.run(|| 7)), Ok(7));
    }

    #[test]
    fn a_full_queue_answers_busy_at_once() {
        let threads = QueryThreads::start(1, 1).expect("threads start");
        let rt = runtime();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Mutex::new(wait);
        rt.block_on(async {
            let mut blocking = Box::pin(threads.run(move || {
                let _ = wait.lock().map(|w| w.recv());
            }));
            // The first poll queues the job.
            assert!(futures_util::FutureExt::now_or_never(blocking.as_mut()).is_none());
            // Fill the one queue slot behind the running job, then one more is refused.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let mut queued = Vec::new();
            let refused = loop {
                assert!(std::time::Instant::now() < deadline, "queue never filled");
                let mut attempt = Box::pin(threads.run(|| ()));
                match futures_util::FutureExt::now_or_never(attempt.as_mut()) {
                    Some(Err(e)) => break e,
                    _ => queued.push(attempt),
                }
                tokio::task::yield_now().await;
            };
            assert_eq!(refused, QueryThreadError::Busy { queued: 1 });
            release.send(()).expect("job waits");
            blocking.await.expect("ran");
        });
    }
}
