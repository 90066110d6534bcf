//! Group commit: concurrent ingest requests are batched into one transaction, and each
//! request is answered after that transaction commits, so a 2xx means the data is durable
//! and one fsync serves many requests. One persister per kind of row
//! ([`DurableRecord`]): metric write-ahead records, log blocks.

use std::collections::VecDeque;

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseFuture, WrapFuture,
};
use tokio::sync::oneshot;

use crate::ingest::IngestError;
use crate::self_metrics::{IngestStage, ServiceMetrics, StageTimer};
use crate::store::logs::LogBlockAppend;
use crate::store::metrics::WalAppend;
use crate::store::{Store, StoreError};

/// A row the persister makes durable in groups.
pub trait DurableRecord: Send + Unpin + 'static {
    /// Bytes it holds, for the queue's bound.
    fn size(&self) -> usize;
    /// Stores a group in one statement or transaction; answers each record's id, in order.
    fn store_group(
        store: Store,
        records: Vec<Self>,
    ) -> futures_util::future::BoxFuture<'static, Result<Vec<i64>, StoreError>>
    where
        Self: Sized;
}

impl DurableRecord for WalAppend {
    fn size(&self) -> usize {
        self.payload.len()
    }

    fn store_group(
        store: Store,
        records: Vec<Self>,
    ) -> futures_util::future::BoxFuture<'static, Result<Vec<i64>, StoreError>> {
        Box::pin(async move { store.append_wal(&records).await })
    }
}

impl DurableRecord for LogBlockAppend {
    fn size(&self) -> usize {
        self.size()
    }

    fn store_group(
        store: Store,
        records: Vec<Self>,
    ) -> futures_util::future::BoxFuture<'static, Result<Vec<i64>, StoreError>> {
        Box::pin(async move { store.append_log_blocks(&records).await })
    }
}

/// Why a record was not persisted.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("the write queue is full ({queued_bytes} bytes waiting); retry shortly")]
    Overloaded { queued_bytes: usize },
    #[error("storing the batch failed: {0}")]
    Store(String),
    #[error("the persister stopped before committing")]
    Lost,
}

impl From<PersistError> for IngestError {
    fn from(err: PersistError) -> Self {
        match err {
            PersistError::Overloaded { queued_bytes } => IngestError::Overloaded { queued_bytes },
            other => IngestError::StorageFailed(other.to_string()),
        }
    }
}

/// Bounds of the queue in front of the database.
#[derive(Debug, Clone, Copy)]
pub struct PersisterLimits {
    /// Waiting bytes above which new records are refused (backpressure, answered 429/503).
    pub max_queued_bytes: usize,
    /// Records per transaction.
    pub max_records_per_commit: usize,
    /// Transactions in flight at once. More than one, so a request arriving while a group
    /// commits starts its own transaction instead of waiting a whole commit for the next
    /// group; the database still batches their log flushes.
    pub max_concurrent_commits: usize,
}

impl Default for PersisterLimits {
    fn default() -> Self {
        Self {
            max_queued_bytes: 256 * 1024 * 1024,
            max_records_per_commit: 256,
            max_concurrent_commits: 4,
        }
    }
}

struct Waiting<R> {
    record: R,
    reply: oneshot::Sender<Result<i64, PersistError>>,
}

/// The single writer of one kind of durable row (metric write-ahead records by default).
pub struct Persister<R: DurableRecord = WalAppend> {
    store: Store,
    limits: PersisterLimits,
    metrics: ServiceMetrics,
    queue: VecDeque<Waiting<R>>,
    queued_bytes: usize,
    /// Transactions started and not yet finished.
    committing: usize,
}

impl<R: DurableRecord> Persister<R> {
    pub fn new(store: Store, limits: PersisterLimits, metrics: ServiceMetrics) -> Self {
        Self {
            store,
            limits,
            metrics,
            queue: VecDeque::new(),
            queued_bytes: 0,
            committing: 0,
        }
    }

    /// Starts transactions for what is waiting while fewer than the allowed number are in
    /// flight, each with everything waiting up to the per-commit bound.
    fn commit_waiting(&mut self, ctx: &mut Context<Self>) {
        while self.committing < self.limits.max_concurrent_commits && !self.queue.is_empty() {
            self.commit_group(ctx);
        }
    }

    /// One transaction with what is waiting; when it commits, answers those requests and
    /// starts more with what arrived meanwhile.
    fn commit_group(&mut self, ctx: &mut Context<Self>) {
        let take = self.queue.len().min(self.limits.max_records_per_commit);
        let (records, replies): (Vec<R>, Vec<_>) = self
            .queue
            .drain(..take)
            .map(|w| (w.record, w.reply))
            .unzip();
        let bytes: usize = records.iter().map(DurableRecord::size).sum();
        self.queued_bytes -= bytes;
        self.committing += 1;
        self.metrics
            .wal_commit_group_size
            .observe(replies.len() as f64);
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        ctx.spawn(
            async move {
                let transaction = StageTimer::new(&metrics);
                let result = R::store_group(store, records).await;
                transaction.lap(IngestStage::WalTransaction);
                result
            }
            .into_actor(self)
            .map(move |result: Result<Vec<i64>, StoreError>, actor, ctx| {
                actor.committing -= 1;
                match result {
                    Ok(ids) => {
                        for (reply, id) in replies.into_iter().zip(ids) {
                            // A caller that went away (client disconnected) loses nothing:
                            // the record is durable.
                            let _ = reply.send(Ok(id));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "group commit failed");
                        for reply in replies {
                            let _ = reply.send(Err(PersistError::Store(e.to_string())));
                        }
                    }
                }
                actor.commit_waiting(ctx);
            }),
        );
    }
}

impl<R: DurableRecord> Actor for Persister<R> {
    type Context = Context<Self>;
}

/// Make one record durable; answers with its id after commit.
pub struct AppendRecord<R = WalAppend>(pub R);

impl<R: DurableRecord> Message for AppendRecord<R> {
    type Result = Result<i64, PersistError>;
}

impl<R: DurableRecord> Handler<AppendRecord<R>> for Persister<R> {
    type Result = ResponseFuture<Result<i64, PersistError>>;

    fn handle(&mut self, msg: AppendRecord<R>, ctx: &mut Self::Context) -> Self::Result {
        let size = msg.0.size();
        if self.queued_bytes + size > self.limits.max_queued_bytes && !self.queue.is_empty() {
            let queued_bytes = self.queued_bytes;
            return Box::pin(async move { Err(PersistError::Overloaded { queued_bytes }) });
        }
        let (reply, answer) = oneshot::channel();
        self.queued_bytes += size;
        self.queue.push_back(Waiting {
            record: msg.0,
            reply,
        });
        self.commit_waiting(ctx);
        Box::pin(async move { answer.await.unwrap_or(Err(PersistError::Lost)) })
    }
}
