//! What was acknowledged stays: head rebuilds from the write-ahead table and chunks,
//! checkpoints (rollups, samples still committing), retention.

use super::metric_queries::{now_ms, restart_tenant, single_value};
use crate::helpers::{
    assert_error, checkpoint, post_raw, spawn_app, spawn_app_with, tenant_with_key, write_lines,
};
use reqwest::StatusCode;
use serde_json::Value;

#[actix_web::test]
async fn a_checkpoint_sealing_several_chunks_of_a_series_merges_their_rollups() {
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    // 300 samples one second apart inside one past hour, from its 30th second: one
    // checkpoint seals two full 120-sample chunks that share their hour bucket and the
    // minute where they meet (seconds 120–179: 30 samples in each); the last 60 stay open.
    let hour_ms = 3_600_000;
    let hour = (now_ms() / hour_ms - 1) * hour_ms;
    let lines: String = (0..300)
        .map(|i| format!("busy,host=a value={i} {}\n", hour + 30_000 + i * 1000))
        .collect();
    write_lines(&app, &key, lines).await;
    checkpoint(&app, &acme.id).await;
    let tenant = acme.id.parse().unwrap();
    let store = &app.state.store;
    let usage = store.storage_usage(tenant).await.unwrap();
    assert_eq!(
        (usage.chunks, usage.chunk_samples, usage.wal_samples),
        (2, 240, 60),
        "the checkpoint was written: {usage:?}"
    );
    let ids: Vec<i64> = store
        .load_series(tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let hours = store
        .load_rollups(tenant, &ids, 3600, 0, i64::MAX)
        .await
        .unwrap();
    let sum: f64 = (0..240).map(f64::from).sum();
    let summary = |r: &tidewatch::store::metrics::RollupRow| {
        (r.bucket_start_ms, r.count, r.sum, r.min, r.max, r.last)
    };
    assert_eq!(
        hours.iter().map(summary).collect::<Vec<_>>(),
        [(hour, 240, sum, 0.0, 239.0, 239.0)],
        "one row for the hour"
    );
    let minutes = store
        .load_rollups(tenant, &ids, 60, 0, i64::MAX)
        .await
        .unwrap();
    let counts: Vec<(i64, i64)> = minutes
        .iter()
        .map(|m| ((m.bucket_start_ms - hour) / 60_000, m.count))
        .collect();
    assert_eq!(counts, [(0, 30), (1, 60), (2, 60), (3, 60), (4, 30)]);
    assert_eq!(
        (minutes[2].min, minutes[2].max, minutes[2].last),
        (90.0, 149.0, 149.0)
    );
}

#[actix_web::test]
async fn samples_survive_head_rebuilds_from_the_write_ahead_table_and_chunks() {
    // A one-minute head window, so older samples can only come back from sealed chunks.
    let app = spawn_app_with(|c| c.head_window_secs = 60).await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let start = now_ms() - 40 * 60 * 1000;
    let lines: String = (0..130)
        .map(|i| format!("counter,host=a value={i} {}\n", start + i * 10_000))
        .collect();
    write_lines(&app, &key, lines).await;
    let last = start + 129 * 10_000;
    let range_expr = "count_over_time(counter[30m])";

    assert_eq!(single_value(&app, &key, "counter", start).await, "0");
    assert_eq!(single_value(&app, &key, range_expr, last).await, "130");

    // 1. Replay of the write-ahead records.
    restart_tenant(&app, &acme.id).await;
    assert_eq!(single_value(&app, &key, "counter", last).await, "129");
    assert_eq!(single_value(&app, &key, range_expr, last).await, "130");

    // 2. A checkpoint seals 120 samples into a chunk and carries 10 over; the one-minute
    //    head window then holds only the carried ones, the rest comes from the chunk.
    checkpoint(&app, &acme.id).await;
    let usage = app
        .state
        .store
        .storage_usage(acme.id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (
            usage.series,
            usage.chunks,
            usage.chunk_samples,
            usage.wal_rows,
            usage.wal_samples
        ),
        (1, 1, 120, 1, 10),
        "{usage:?}"
    );
    assert!(usage.rollup_rows > 0);
    assert_eq!(single_value(&app, &key, range_expr, last).await, "130");
    assert_eq!(
        single_value(&app, &key, "counter", start + 50 * 10_000).await,
        "50"
    );

    // 3. Rebuilt from chunk + carry-over record.
    restart_tenant(&app, &acme.id).await;
    assert_eq!(single_value(&app, &key, range_expr, last).await, "130");
    assert_eq!(
        single_value(&app, &key, "counter", start + 5 * 10_000).await,
        "5"
    );
    let matrix: Value = app
        .client
        .get(app.url("/api/v1/query_range"))
        .bearer_auth(&key)
        .query(&[
            ("query", "counter".to_owned()),
            ("start", format!("{:.3}", start as f64 / 1000.0)),
            ("end", format!("{:.3}", last as f64 / 1000.0)),
            ("step", "10".to_owned()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        matrix["data"]["result"][0]["values"]
            .as_array()
            .unwrap()
            .len(),
        130
    );

    // 4. A sample older than what is sealed is refused, naming it.
    let response = post_raw(
        &app,
        "/api/v2/write?precision=ms",
        &format!("Token {key}"),
        "text/plain",
        format!("counter,host=a value=1 {}\n", start + 5).into_bytes(),
    )
    .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "out_of_order").await;
    assert!(message.contains("line 1"), "{message}");
}

#[actix_web::test]
async fn retention_removes_chunks_past_the_tenants_window() {
    let writer = spawn_app().await;
    let (acme, key) = tenant_with_key(&writer, "acme").await;
    // Five days ago: sealed at the first checkpoint, since it is older than a chunk's span.
    let old = now_ms() - 5 * 24 * 3600 * 1000;
    let recent = now_ms() - 60_000;
    let lines = format!("disk value=1 {old}\ndisk value=2 {recent}\n");
    write_lines(&writer, &key, lines).await;
    checkpoint(&writer, &acme.id).await;
    assert_eq!(
        single_value(&writer, &key, "count_over_time(disk[6d])", recent).await,
        "2"
    );

    // The same database served with a one-day retention.
    let database_url = writer.database_url.clone();
    let reader = spawn_app_with(move |c| {
        c.database_url = database_url;
        c.raw_retention_days = 1;
    })
    .await;
    let tenant: tidewatch::domain::TenantId = acme.id.parse().unwrap();
    let aggregator = reader.state.tenants.aggregator(tenant).await.unwrap();
    let (chunks, _) = aggregator
        .send(tidewatch::actors::aggregator::EnforceRetention)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(chunks, 1);
    let usage = reader.state.store.storage_usage(tenant).await.unwrap();
    assert_eq!(usage.chunks, 0);
    assert_eq!(
        single_value(&reader, &key, "count_over_time(disk[6d])", recent).await,
        "1"
    );
}

/// A checkpoint that runs while a request's write-ahead record is committing must not seal
/// past that request's samples: they are acknowledged right after, and a sealed boundary
/// beyond them would drop them. Driven through the aggregator's messages to hold a batch
/// between admission and apply, as a slow commit does.
#[actix_web::test]
async fn checkpoints_wait_for_samples_still_committing() {
    use std::sync::Arc;
    use tidewatch::actors::aggregator::{wal_append, AbandonBatch, AdmitBatch, ApplyBatch};
    use tidewatch::domain::metrics::{Labels, MetricBatch, Origin, Sample, SeriesSamples};

    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let tenant: tidewatch::domain::TenantId = acme.id.parse().unwrap();
    let start = now_ms() - 40 * 60 * 1000;
    let lines: String = (0..130)
        .map(|i| format!("counter,host=a value={i} {}\n", start + i * 10_000))
        .collect();
    write_lines(&app, &key, lines).await;
    let late_at = start + 50 * 10_000 + 5_000;
    let late = Arc::new(MetricBatch {
        series: vec![SeriesSamples {
            labels: Labels::with_name("counter", [("host", "a")]),
            samples: smallvec::smallvec![Sample {
                timestamp_ms: late_at,
                value: -1.0,
            }],
            origin: Origin::Line(1),
        }],
    });
    let aggregator = app.state.tenants.aggregator(tenant).await.unwrap();

    // Admitted, then abandoned (its commit failed): checkpoints are not held back.
    let abandoned = aggregator
        .send(AdmitBatch(late.clone()))
        .await
        .unwrap()
        .unwrap();
    aggregator
        .send(AbandonBatch {
            ticket: abandoned.ticket,
        })
        .await
        .unwrap();

    // Admitted and committing while the checkpoint runs.
    let admitted = aggregator
        .send(AdmitBatch(late.clone()))
        .await
        .unwrap()
        .unwrap();
    checkpoint(&app, &acme.id).await;
    let usage = app.state.store.storage_usage(tenant).await.unwrap();
    assert_eq!(
        usage.chunk_samples, 0,
        "the first full chunk reaches past the committing sample: {usage:?}"
    );
    // Committed as the persister commits it (the writer's persister is its own).
    let wal_id = app
        .state
        .store
        .append_wal(&[wal_append(tenant, &late).unwrap()])
        .await
        .unwrap()[0];
    aggregator
        .send(ApplyBatch {
            wal_id,
            batch: late.clone(),
            admitted,
            applied: None,
        })
        .await
        .unwrap();
    let last = start + 129 * 10_000;
    assert_eq!(
        single_value(&app, &key, "count_over_time(counter[30m])", last).await,
        "131"
    );
    assert_eq!(single_value(&app, &key, "counter", late_at).await, "-1");

    // Nothing in flight: the next checkpoint seals the first 120 samples, the late one
    // among them, and a restart still finds it.
    checkpoint(&app, &acme.id).await;
    let usage = app.state.store.storage_usage(tenant).await.unwrap();
    assert_eq!(usage.chunk_samples, 120, "{usage:?}");
    restart_tenant(&app, &acme.id).await;
    assert_eq!(single_value(&app, &key, "counter", late_at).await, "-1");
    assert_eq!(
        single_value(&app, &key, "count_over_time(counter[30m])", last).await,
        "131"
    );
}
