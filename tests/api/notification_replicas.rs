//! Notifications across replicas with Redis: two processes' worth of Tidewatch on one
//! database and one Redis deliver each notification once, the replica that does not hold
//! a tenant's delivery lease wakes the one that does, and a lease whose holder went away
//! passes to another replica once it runs out.

use std::time::{Duration, Instant};

use redis::AsyncCommands;

use crate::alerts::{cpu_line, create_rule};
use crate::helpers::{redis_url, spawn_app_with, tenant_with_key, write_lines, TestApp};
use crate::notifications::{notifications_until, notifying_rule, webhook_channel};
use crate::receivers::HttpReceiver;

const LEASE_PREFIX: &str = "tidewatch:notifier:lease:";

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("the test Redis is reachable")
}

/// A replica with Redis, polling the outbox only every `poll_ms` on its own; on
/// `database_url` when given (another replica's database), else on a fresh one.
async fn replica(database_url: Option<&str>, poll_ms: u64) -> TestApp {
    let database_url = database_url.map(str::to_owned);
    spawn_app_with(move |c| {
        c.redis_url = Some(redis_url());
        c.notify_poll_ms = poll_ms;
        if let Some(url) = database_url {
            c.database_url = url;
        }
    })
    .await
}

fn replica_id(app: &TestApp) -> String {
    app.state
        .notifier
        .replicas
        .as_ref()
        .expect("Redis is configured")
        .id()
        .to_owned()
}

/// Waits until the tenant's lease names `owner`.
async fn lease_held_by(tenant: &str, owner: &str) {
    let mut redis = redis().await;
    let key = format!("{LEASE_PREFIX}{tenant}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let held: Option<String> = redis.get(&key).await.unwrap();
        if held.as_deref() == Some(owner) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the lease {key} is {held:?}, not {owner}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn two_replicas_deliver_once_and_the_other_replica_wakes_the_holder() {
    let receiver = HttpReceiver::start();
    // Neither looks at the outbox on its own for a minute: only a wake-up gets the
    // message out quickly.
    let holder = replica(None, 60_000).await;
    let other = replica(Some(&holder.database_url), 60_000).await;
    let (acme, key) = tenant_with_key(&holder, "acme").await;
    let token = &acme.admin_token;
    let hook = webhook_channel(&holder, token, &receiver.url("/r")).await;
    // Creating the rule starts the tenant on `holder`, whose notifier takes the lease.
    create_rule(
        &holder,
        token,
        notifying_rule(&[hook["id"].as_str().unwrap()]),
    )
    .await;
    lease_held_by(&acme.id, &replica_id(&holder)).await;

    // The crossing sample reaches the other replica: its evaluator fires the alert, its
    // notifier does not deliver but wakes the holder.
    let started = Instant::now();
    write_lines(&other, &key, cpu_line("db1", 97.0)).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the holder was woken, not left to its minute-long poll: {took:?}"
    );
    assert_eq!(got[0].json()["alerts"][0]["labels"]["host"], "db1");
    assert_eq!(got[0].json()["status"], "firing");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "delivered once, by one replica"
    );
    let rows = notifications_until(&other, token, "", "one sent row", |rows| {
        rows.len() == 1 && rows[0]["status"] == "sent"
    })
    .await;
    assert_eq!(rows[0]["attempts"], 1, "{rows:?}");
}

#[actix_web::test]
async fn a_lease_whose_holder_went_away_passes_on_when_it_runs_out() {
    let receiver = HttpReceiver::start();
    let app = replica(None, 200).await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    let hook = webhook_channel(&app, token, &receiver.url("/r")).await;
    // Another replica took the tenant's lease over and died, with 4 s of it left; once
    // this replica's renewal (every second) has seen that, it stops delivering.
    let lease = format!("{LEASE_PREFIX}{}", acme.id);
    let set: redis::Value = redis::cmd("SET")
        .arg(&lease)
        .arg("a-replica-that-died")
        .arg("PX")
        .arg(4_000)
        .query_async(&mut redis().await)
        .await
        .unwrap();
    assert_eq!(set, redis::Value::Okay);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    create_rule(&app, token, notifying_rule(&[hook["id"].as_str().unwrap()])).await;
    write_lines(&app, &key, cpu_line("db1", 97.0)).await;
    notifications_until(&app, token, "", "a pending row", |rows| rows.len() == 1).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        receiver.received().is_empty(),
        "nothing is sent while another replica holds the lease"
    );
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(3_500),
        "not before the dead replica's lease ran out"
    );
    assert_eq!(got[0].json()["alerts"][0]["labels"]["host"], "db1");
    lease_held_by(&acme.id, &replica_id(&app)).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.received().len(), 1);
}
