//! Nothing lost, nothing counted twice, whatever fails in between: workers killed,
//! brokers and stores restarted, duplicates and malformed messages. These tests stop
//! and restart parts of the test stack, so they run one at a time.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::*;
use prost::Message;
use squidgame_common::store::Store;

static ONE_AT_A_TIME: async_std::sync::Mutex<()> = async_std::sync::Mutex::new(());

/// Redis total and MongoDB count once nothing is being stored any more.
async fn settled_counts(store: &Store) -> (u64, u64) {
    let read = || async {
        let total = store.live_stats(1).await.map(|s| s.total).ok();
        let games = store.log_stats().await.map(|s| s.games).ok();
        (total, games)
    };
    let mut last = read().await;
    for _ in 0..150 {
        async_std::task::sleep(Duration::from_millis(400)).await;
        let now = read().await;
        if let (Some(t), Some(g)) = now {
            if now == last {
                return (t, g);
            }
        }
        last = now;
    }
    panic!("the store did not settle within 60 s: {last:?}");
}

/// Waits until both stores grew by `expected` since `before`, then checks that they
/// did not grow further (nothing counted twice).
async fn assert_stored_exactly(store: &Store, before: (u64, u64), expected: u64) {
    let reached = eventually(Duration::from_secs(120), || async {
        let total = store.live_stats(1).await.map(|s| s.total).unwrap_or(0);
        let games = store.log_stats().await.map(|s| s.games).unwrap_or(0);
        total >= before.0 + expected && games >= before.1 + expected
    })
    .await;
    let after = settled_counts(store).await;
    assert!(
        reached,
        "stored {:?} of {expected} within 120 s",
        (after.0 - before.0, after.1 - before.1)
    );
    assert_eq!(after.0 - before.0, expected, "Redis total grew by");
    assert_eq!(after.1 - before.1, expected, "MongoDB games grew by");
}

/// Waits until both stores grew by at least `min` since `before`; checks that they
/// grew by the same amount, at most `max`.
async fn assert_stored_between(store: &Store, before: (u64, u64), min: u64, max: u64) {
    let reached = eventually(Duration::from_secs(120), || async {
        let total = store.live_stats(1).await.map(|s| s.total).unwrap_or(0);
        let games = store.log_stats().await.map(|s| s.games).unwrap_or(0);
        total >= before.0 + min && games >= before.1 + min
    })
    .await;
    let after = settled_counts(store).await;
    let grew = (after.0 - before.0, after.1 - before.1);
    assert!(
        reached,
        "stored {grew:?}, expected at least {min} within 120 s"
    );
    assert_eq!(grew.0, grew.1, "Redis and MongoDB grew alike");
    assert!(grew.0 <= max, "stored {} but only {max} were sent", grew.0);
}

/// rungame in the background against `url`, paced so that the test can break things
/// while it runs.
fn rungame_background(url: &str, games: u32, rate: u32) -> Child {
    Command::new(workspace_bin("rungame"))
        .args([
            "--url",
            url,
            "--gamename",
            "1 Random | 2 Roulette | 5 Last",
            "--rungames",
            &games.to_string(),
            "--rate",
            &rate.to_string(),
            "--concurrence",
            "50",
            "--timeout",
            "3m",
            "--request-timeout",
            "20s",
            "--output",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rungame")
}

fn report_of(child: Child) -> serde_json::Value {
    let out = child.wait_with_output().expect("rungame");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "rungame report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A counter of a stack worker, 0 while its page is not reachable.
async fn worker_metric(worker: &str, name: &str) -> f64 {
    metric(&stack_env(worker), name).await.unwrap_or(0.0)
}

/// `squidgame_worker_duplicates_total` of worker-kafka and worker-rabbit.
async fn duplicates_reported() -> [f64; 2] {
    let name = "squidgame_worker_duplicates_total";
    [
        worker_metric("WORKER_KAFKA_URL", name).await,
        worker_metric("WORKER_RABBIT_URL", name).await,
    ]
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn workers_killed_mid_stream_lose_and_double_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let _restore = RestoreStack;
    let store = stack_store().await;
    let before = settled_counts(&store).await;
    let workers = ["WORKER_KAFKA_URL", "WORKER_RABBIT_URL"];
    let mut consumed = Vec::new();
    for worker in workers {
        consumed.push(worker_metric(worker, "squidgame_worker_consumed_total").await);
    }
    let run = rungame_background(&stack_env("SPLIT_URL"), 1200, 300);
    // Mid-stream: both workers have taken messages of this run, and more are coming.
    let both_consuming = eventually(Duration::from_secs(20), || async {
        let mut all = true;
        for (worker, was) in workers.iter().zip(&consumed) {
            all &= worker_metric(worker, "squidgame_worker_consumed_total").await > *was;
        }
        all
    })
    .await;
    assert!(both_consuming, "the workers took no message of the run");
    stop_stack_process("worker-kafka", "KILL");
    stop_stack_process("worker-rabbit", "KILL");
    async_std::task::sleep(Duration::from_millis(1000)).await;
    stack_up();
    let report = report_of(run);
    assert_eq!(report["failed"], 0, "{report}");
    let ok = report["ok"].as_u64().expect("ok");
    assert_eq!(ok, 1200);
    assert_stored_exactly(&store, before, ok).await;
    // Both restarted workers took part: each stored results of the run.
    for worker in workers {
        let taken = worker_metric(worker, "squidgame_worker_consumed_total").await;
        assert!(taken > 0.0, "{worker} consumed nothing after its restart");
    }
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn the_same_message_delivered_twice_is_stored_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let store = stack_store().await;
    let before = settled_counts(&store).await;
    let kafka = sample_results(20, "kafka");
    let rabbit = sample_results(20, "rabbitmq");
    let twice = |results: &[squidgame_common::GameResult]| {
        results
            .iter()
            .flat_map(|r| [r.encode_to_vec(), r.encode_to_vec()])
            .collect::<Vec<_>>()
    };
    publish_kafka(&stack_env("KAFKA_BROKERS"), &twice(&kafka)).await;
    publish_rabbit(&stack_env("AMQP_URL"), &twice(&rabbit)).await;
    assert_stored_exactly(&store, before, 40).await;
    let duplicates = metric(
        &stack_env("WORKER_RABBIT_URL"),
        "squidgame_worker_duplicates_total",
    )
    .await;
    assert!(
        duplicates >= Some(20.0),
        "worker-rabbit counted {duplicates:?} duplicates"
    );
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn a_malformed_message_is_dead_lettered_with_its_reason_and_the_worker_goes_on() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let store = stack_store().await;
    let before = settled_counts(&store).await;
    let garbage = b"\xff\xfe not a game result".to_vec();
    // A well-formed result that no store can hold: played in the year 10000.
    const YEAR_10000_MS: i64 = 253_402_300_800_000;
    let far_future = |route: &str| {
        let mut result = sample_results(1, route).remove(0);
        result.played_at_ms = YEAR_10000_MS;
        result.encode_to_vec()
    };
    let batch = |route: &str| {
        let mut bodies = vec![garbage.clone(), far_future(route)];
        bodies.extend(sample_results(5, route).iter().map(|r| r.encode_to_vec()));
        bodies
    };
    publish_rabbit(&stack_env("AMQP_URL"), &batch("rabbitmq")).await;
    publish_kafka(&stack_env("KAFKA_BROKERS"), &batch("kafka")).await;
    // The valid results of the same batches are stored: the bad ones block nothing.
    assert_stored_exactly(&store, before, 10).await;

    for (queue, dead) in [
        ("rabbitmq", read_rabbit_dlq(&stack_env("AMQP_URL")).await),
        ("kafka", read_kafka_dlq(&stack_env("KAFKA_BROKERS")).await),
    ] {
        let reason_of = |body: &[u8]| {
            dead.iter()
                .find(|(dead_body, _)| dead_body == body)
                .map(|(_, reason)| reason.clone())
        };
        let garbage_reason = reason_of(&garbage)
            .unwrap_or_else(|| panic!("{queue}: the malformed message is not dead-lettered"));
        assert!(
            garbage_reason.contains("not a protobuf GameResult"),
            "{queue}: {garbage_reason}"
        );
        let future_reason = dead
            .iter()
            .find_map(|(body, reason)| {
                let result = squidgame_common::GameResult::decode(body.as_slice()).ok()?;
                (result.played_at_ms == YEAR_10000_MS && result.route == queue)
                    .then_some(reason.clone())
            })
            .unwrap_or_else(|| panic!("{queue}: the year-10000 result is not dead-lettered"));
        assert!(
            future_reason.contains("played_at_ms"),
            "{queue}: {future_reason}"
        );
    }
}

/// Takes every message of the RabbitMQ dead-letter queue, with its reason header.
async fn read_rabbit_dlq(url: &str) -> Vec<(Vec<u8>, String)> {
    use lapin::options::BasicGetOptions;
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = conn.create_channel().await.expect("channel");
    let mut dead = Vec::new();
    while let Some(message) = channel
        .basic_get(
            "squidgame.results.dlq".into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .expect("basic_get")
    {
        let headers = message.delivery.properties.headers().clone();
        let reason = match headers.and_then(|h| h.inner().get("x-squidgame-reason").cloned()) {
            Some(lapin::types::AMQPValue::LongString(s)) => {
                String::from_utf8_lossy(s.as_bytes()).into_owned()
            }
            other => panic!("reason header: {other:?}"),
        };
        dead.push((message.delivery.data, reason));
    }
    dead
}

/// Every message on the Kafka dead-letter topic, with its reason header.
async fn read_kafka_dlq(brokers: &str) -> Vec<(Vec<u8>, String)> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Headers;
    use rdkafka::Message as _;
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("dlq-reader-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer
        .subscribe(&["squidgame.results.dlq"])
        .expect("subscribe");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let next = async_std::future::timeout(Duration::from_secs(3), consumer.recv()).await;
        match next {
            Ok(Ok(m)) => {
                let reason = m
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == "x-squidgame-reason"))
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                out.push((m.payload().unwrap_or_default().to_vec(), reason));
            }
            Ok(Err(e)) => panic!("reading the dead-letter topic: {e}"),
            Err(_) if !out.is_empty() => break,
            Err(_) => {}
        }
    }
    out
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn a_broker_restart_gives_503s_then_recovers_and_every_200_is_stored() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let _restore = RestoreStack;
    let store = stack_store().await;
    for (route, api, broker) in [
        ("kafka", stack_env("API_KAFKA_URL"), "kafka"),
        ("rabbitmq", stack_env("API_RABBITMQ_URL"), "rabbitmq"),
    ] {
        let before = settled_counts(&store).await;
        let run = rungame_background(&api, 600, 40);
        async_std::task::sleep(Duration::from_secs(2)).await;
        stop_stack_process(broker, "TERM");
        // While the broker is down the route answers 503.
        let (status, body) = post_json(&format!("{api}/game/1/gamename/Down/players/3")).await;
        assert_eq!(status, 503, "{route} while its broker is down: {body}");
        assert!(
            body["error"].as_str().unwrap_or("").contains("unavailable"),
            "{body}"
        );
        stack_up();
        // And it recovers by itself.
        let recovered = eventually(Duration::from_secs(60), || async {
            post_json(&format!("{api}/game/1/gamename/Back/players/3"))
                .await
                .0
                == 200
        })
        .await;
        assert!(
            recovered,
            "{route} did not recover within 60 s of its broker's restart"
        );
        let report = report_of(run);
        let ok = report["ok"].as_u64().expect("ok");
        assert!(ok > 0, "{report}");
        assert_eq!(
            report["status_codes"]["503"].as_u64().unwrap_or(0)
                + ok
                + report["errors"]["timeout"].as_u64().unwrap_or(0),
            report["sent"].as_u64().expect("sent"),
            "only 200s, 503s and timeouts: {report}"
        );
        // Every 200 of the run and the probe that succeeded after recovery is stored.
        // A 503 during the outage may or may not have reached the queue (the broker
        // went away between taking the message and confirming it): those may be stored
        // too, once each, but nothing beyond what was sent.
        let sent = report["sent"].as_u64().expect("sent") + 1;
        assert_stored_between(&store, before, ok + 1, sent).await;
    }
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn with_redis_down_workers_hold_their_batches_and_catch_up() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let _restore = RestoreStack;
    let store = stack_store().await;
    let before = settled_counts(&store).await;
    let duplicates_before = duplicates_reported().await;
    stop_stack_process("redis", "TERM");
    let (report, code) = rungame(&[
        "--url",
        &stack_env("SPLIT_URL"),
        "--gamename",
        "2 | Roulette",
        "--rungames",
        "300",
        "--concurrence",
        "10",
    ]);
    assert_eq!(code, 0, "the api does not need Redis: {report}");
    async_std::task::sleep(Duration::from_secs(3)).await;
    // Nothing stored in Redis can have happened; the workers retry and keep the batch.
    let errors = metric(
        &stack_env("WORKER_RABBIT_URL"),
        "squidgame_worker_store_errors_total",
    )
    .await;
    assert!(
        errors > Some(0.0),
        "worker-rabbit saw no store error: {errors:?}"
    );
    stack_up();
    assert_stored_exactly(&store, before, 300).await;
    // MongoDB took the batches while Redis was down; retrying only Redis means none of
    // them is reported as a redelivered duplicate.
    assert_eq!(
        duplicates_reported().await,
        duplicates_before,
        "duplicates reported for results stored once"
    );
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn with_mongodb_down_workers_hold_their_batches_report_lag_and_catch_up() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let _restore = RestoreStack;
    let store = stack_store().await;
    let before = settled_counts(&store).await;
    let workers = ["WORKER_KAFKA_URL", "WORKER_RABBIT_URL"];
    let mut errors_before = Vec::new();
    for worker in workers {
        errors_before.push(worker_metric(worker, "squidgame_worker_store_errors_total").await);
    }
    stop_stack_process("mongo", "TERM");
    // More games per route than worker-rabbit's prefetch (512), so that messages wait
    // in both queues while the workers hold their batches.
    let (report, code) = rungame(&[
        "--url",
        &stack_env("SPLIT_URL"),
        "--gamename",
        "5 | Last",
        "--rungames",
        "1600",
        "--concurrence",
        "20",
    ]);
    assert_eq!(code, 0, "the api does not need MongoDB: {report}");
    // The workers fail to store, retry, and report the messages waiting for them.
    for (worker, was) in workers.iter().zip(&errors_before) {
        let retrying = eventually(Duration::from_secs(30), || async {
            worker_metric(worker, "squidgame_worker_store_errors_total").await >= was + 2.0
        })
        .await;
        assert!(retrying, "{worker} did not retry the store");
        let lagging = eventually(Duration::from_secs(30), || async {
            worker_metric(worker, "squidgame_worker_lag").await >= 50.0
        })
        .await;
        let lag = metric(&stack_env(worker), "squidgame_worker_lag").await;
        assert!(
            lagging,
            "{worker} reports a lag of {lag:?} with 800 messages held"
        );
    }
    // Nothing reached Redis meanwhile: a batch goes to MongoDB first.
    let total = store.live_stats(1).await.map(|s| s.total).expect("redis");
    assert_eq!(total, before.0, "Redis total while MongoDB is down");
    // The batches in hand were not acknowledged: workers killed now lose nothing.
    stop_stack_process("worker-kafka", "KILL");
    stop_stack_process("worker-rabbit", "KILL");
    stack_up();
    assert_stored_exactly(&store, before, 1600).await;
    for worker in workers {
        let caught_up = eventually(Duration::from_secs(30), || async {
            metric(&stack_env(worker), "squidgame_worker_lag").await == Some(0.0)
        })
        .await;
        assert!(caught_up, "{worker} still reports a lag once all is stored");
    }
}

/// The environment a process of the test stack runs with, as it started.
fn stack_process_env(name: &str) -> Vec<(String, String)> {
    let pid = stack_pid(name).unwrap_or_else(|| panic!("no pid file for {name}"));
    let environ = std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_else(|e| panic!("environment of {name} ({pid}): {e}"));
    environ
        .split(|b| *b == 0)
        .filter_map(|pair| {
            let pair = String::from_utf8_lossy(pair);
            let (key, value) = pair.split_once('=')?;
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn sigterm_finishes_the_batch_acks_it_and_exits_0() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let _restore = RestoreStack;
    let store = stack_store().await;
    for (worker, stack_url, api) in [
        ("worker-kafka", "WORKER_KAFKA_URL", "API_KAFKA_URL"),
        ("worker-rabbit", "WORKER_RABBIT_URL", "API_RABBITMQ_URL"),
    ] {
        let before = settled_counts(&store).await;
        // This worker, configured as the stack's, takes the stack's place on its queue.
        let env = stack_process_env(worker);
        stop_stack_process(worker, "TERM");
        let port = free_port();
        let mut ours = Command::new(workspace_bin(worker))
            .env_clear()
            .envs(env)
            .env("WORKER_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {worker}: {e}"));
        let ours_url = format!("http://127.0.0.1:{port}");
        let run = rungame_background(&stack_env(api), 600, 200);
        let consuming = eventually(Duration::from_secs(30), || async {
            metric(&ours_url, "squidgame_worker_consumed_total").await > Some(0.0)
        })
        .await;
        assert!(consuming, "our {worker} took no message");
        let signalled = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &ours.id().to_string()])
            .status();
        let status = ours.wait().expect("worker exit");
        assert!(status.success(), "{worker} after SIGTERM: {status}");
        assert!(
            signalled.elapsed() < Duration::from_secs(15),
            "{worker} took {:?} to stop",
            signalled.elapsed()
        );
        // The stack's worker takes over the rest of the run.
        stack_up();
        let report = report_of(run);
        assert_eq!(report["ok"], 600, "{report}");
        assert_stored_exactly(&store, before, 600).await;
        // What ours stored it had acknowledged: none of it came back to the stack's.
        let redelivered = metric(&stack_env(stack_url), "squidgame_worker_duplicates_total").await;
        assert_eq!(
            redelivered,
            Some(0.0),
            "{worker}: results stored before SIGTERM were delivered again"
        );
    }
}
