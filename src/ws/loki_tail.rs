//! `GET /loki/api/v1/tail`: Loki's live tail, as Grafana's Loki data source and `logcli
//! --tail` use it. The socket first carries the newest matching lines of the range
//! asked for (`start`, `limit`), then every committed record the LogQL query keeps, in
//! small batches: `{"streams":[{"stream":{…},"values":[["<ns>","<line>"]]}],
//! "dropped_entries":[…]}` as Loki sends them.
//!
//! The session hears of commits from the tenant's `LogPipeline` (it skips a session whose
//! mailbox is full instead of waiting for it, so a slow client never slows ingest); what a
//! session cannot send in time is dropped and said so in `dropped_entries`. It pings every
//! 5 s and closes a client that answered nothing for 30 s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, AsyncContext, Handler, Recipient, StreamHandler};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use serde_json::{json, Value};

use crate::actors::log_pipeline::{LogsCommitted, SubscribeLogs};
use crate::logquery::logql::LogQuery;

/// How often buffered lines go out.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
const PING_EVERY: Duration = Duration::from_secs(5);
/// A client silent this long (not even a pong) is gone.
const SILENT_FOR: Duration = Duration::from_secs(30);
/// Lines held between two flushes; past it the oldest are dropped (and reported).
const MAX_PENDING: usize = 1_000;
/// Dropped entries named in one message (the count is not capped).
const MAX_DROPPED_NAMED: usize = 100;
/// Commits queued for one session before the pipeline skips it.
const MAILBOX: usize = 64;

/// One stream's lines: its labels and its (ns, line) entries, oldest first.
pub type StreamLines = (BTreeMap<String, String>, Vec<(i64, String)>);

/// One tail: the query, where commits come from, and the first lines to send.
pub struct TailSession {
    pub query: Arc<LogQuery>,
    pub subscribe: Recipient<SubscribeLogs>,
    /// The newest matching lines of the asked range, as (labels, [(ns, line)]).
    pub history: Vec<StreamLines>,
}

struct LokiTail {
    session: TailSession,
    pending: Vec<(BTreeMap<String, String>, i64, String)>,
    dropped: Vec<(BTreeMap<String, String>, i64)>,
    heard: Instant,
}

/// Upgrades `req` to the tail socket.
pub fn start(
    session: TailSession,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    ws::start(
        LokiTail {
            session,
            pending: Vec::new(),
            dropped: Vec::new(),
            heard: Instant::now(),
        },
        req,
        payload,
    )
}

/// Loki's tail message: streams of lines (grouped by labels, oldest first).
fn tail_message(streams: Vec<StreamLines>, dropped: &[(BTreeMap<String, String>, i64)]) -> Value {
    let streams: Vec<Value> = streams
        .into_iter()
        .map(|(labels, values)| {
            json!({
                "stream": labels,
                "values": values
                    .into_iter()
                    .map(|(ns, line)| json!([ns.to_string(), line]))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    let dropped: Vec<Value> = dropped
        .iter()
        .map(|(labels, ns)| json!({"labels": labels, "timestamp": ns.to_string()}))
        .collect();
    json!({"streams": streams, "dropped_entries": if dropped.is_empty() { Value::Null } else { json!(dropped) }})
}

impl LokiTail {
    fn flush(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.pending.is_empty() && self.dropped.is_empty() {
            return;
        }
        let mut streams: BTreeMap<BTreeMap<String, String>, Vec<(i64, String)>> = BTreeMap::new();
        for (labels, ns, line) in self.pending.drain(..) {
            streams.entry(labels).or_default().push((ns, line));
        }
        let streams = streams
            .into_iter()
            .map(|(labels, mut values)| {
                values.sort_by_key(|(ns, _)| *ns);
                (labels, values)
            })
            .collect();
        ctx.text(tail_message(streams, &self.dropped).to_string());
        self.dropped.clear();
    }
}

impl Actor for LokiTail {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        self.session
            .subscribe
            .do_send(SubscribeLogs(ctx.address().recipient()));
        let history = std::mem::take(&mut self.session.history);
        if !history.is_empty() {
            ctx.text(tail_message(history, &[]).to_string());
        }
        ctx.run_interval(FLUSH_EVERY, |act, ctx| act.flush(ctx));
        ctx.run_interval(PING_EVERY, |act, ctx| {
            if act.heard.elapsed() > SILENT_FOR {
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Away,
                    description: Some("no answer to pings".into()),
                }));
                ctx.stop();
                return;
            }
            ctx.ping(b"");
        });
    }
}

impl Handler<LogsCommitted> for LokiTail {
    type Result = ();

    fn handle(&mut self, msg: LogsCommitted, _: &mut Self::Context) {
        for record in msg.records.iter() {
            let Some(processed) = self.session.query.process(record) else {
                continue;
            };
            if self.pending.len() >= MAX_PENDING {
                let (labels, ns, _) = self.pending.remove(0);
                if self.dropped.len() < MAX_DROPPED_NAMED {
                    self.dropped.push((labels, ns));
                }
            }
            self.pending
                .push((processed.labels, record.timestamp_ns, processed.line));
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for LokiTail {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.heard = Instant::now();
        match msg {
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            // The tail is one-way: anything else a client sends only says it is alive.
            Ok(_) => {}
            Err(_) => ctx.stop(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_has_lokis_tail_shape() {
        let labels: BTreeMap<String, String> = [("job".to_owned(), "api".to_owned())].into();
        let message = tail_message(
            vec![(labels.clone(), vec![(5, "b".into())])],
            &[(labels, 3)],
        );
        assert_eq!(
            message,
            json!({"streams": [{"stream": {"job": "api"}, "values": [["5", "b"]]}],
                   "dropped_entries": [{"labels": {"job": "api"}, "timestamp": "3"}]})
        );
        assert_eq!(
            tail_message(Vec::new(), &[])["dropped_entries"],
            Value::Null
        );
    }
}
