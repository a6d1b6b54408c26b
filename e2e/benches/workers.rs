//! Worker throughput: results stored per second with batching (the default) against the
//! one-message-at-a-time path (`WORKER_BATCH_SIZE=1`), measured in the same run on a
//! pre-filled queue. Needs the brokers and stores of a stack (`scripts/bench.sh`).
//! `BENCH_WORKERS=worker-rabbit` measures one worker only; `BENCH_BATCH_SIZE` (256)
//! the batched path's size; `BENCH_BATCHED`/`BENCH_ONE_AT_A_TIME` the result counts.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::*;
use prost::Message;

/// Starts a worker with `batch` and measures stored results per second while it drains
/// `count` results published beforehand.
async fn measure(worker: &str, route: &str, batch: u32, count: usize) -> f64 {
    let store = stack_store().await;
    let before = store.live_stats(1).await.expect("redis").total;
    let bodies: Vec<Vec<u8>> = sample_results(count, route)
        .iter()
        .map(|r| r.encode_to_vec())
        .collect();
    match route {
        "kafka" => publish_kafka(&stack_env("KAFKA_BROKERS"), &bodies).await,
        _ => publish_rabbit(&stack_env("AMQP_URL"), &bodies).await,
    }
    let port = free_port();
    let mut child: Child = Command::new(workspace_bin(worker))
        .env("WORKER_LISTEN", format!("127.0.0.1:{port}"))
        .env("WORKER_BATCH_SIZE", batch.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start worker");
    // Time from the first stored result to the last: connection and consumer-group
    // set-up are not part of the throughput.
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut first: Option<(Instant, u64)> = None;
    let rate = loop {
        let done = store.live_stats(1).await.expect("redis").total - before;
        let now = Instant::now();
        if first.is_none() && done > 0 {
            first = Some((now, done));
        }
        if done >= count as u64 {
            let (t0, n0) = first.expect("started");
            let secs = now.duration_since(t0).as_secs_f64().max(1e-3);
            break (done - n0) as f64 / secs;
        }
        assert!(now < deadline, "{worker} stored {done} of {count} in 600 s");
        async_std::task::sleep(Duration::from_millis(20)).await;
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("worker exit");
    assert!(
        status.success(),
        "{worker} exited with {status} after SIGTERM"
    );
    rate
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    async_std::task::block_on(async {
        let one = env_count("BENCH_ONE_AT_A_TIME", 2_000);
        let batched = env_count("BENCH_BATCHED", 20_000);
        let size = env_count("BENCH_BATCH_SIZE", 256) as u32;
        let only = std::env::var("BENCH_WORKERS").unwrap_or_default();
        for (worker, route) in [("worker-kafka", "kafka"), ("worker-rabbit", "rabbitmq")] {
            if !only.is_empty() && !only.split(',').any(|w| w.trim() == worker) {
                continue;
            }
            let single = measure(worker, route, 1, one).await;
            let batch = measure(worker, route, size, batched).await;
            println!(
                "{worker}: one-at-a-time {single:.0} results/s, batch {size} {batch:.0} results/s"
            );
            println!("{worker} batch/one-at-a-time: {:.1}x", batch / single);
        }
    });
}
