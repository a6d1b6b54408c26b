//! Fills the store of a running stack up to 100,000 games (BENCH_STORED_GAMES), in
//! batches through the same code path the workers use.

use e2e::*;

fn main() {
    let target: u64 = std::env::var("BENCH_STORED_GAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    async_std::task::block_on(async {
        let store = stack_store().await;
        let mut stored = store.log_stats().await.expect("mongo").games;
        while stored < target {
            let n = (target - stored).min(2_000) as usize;
            let kafka = sample_results(n / 2, "kafka");
            let rabbit = sample_results(n - n / 2, "rabbitmq");
            store.apply_batch(&kafka).await.expect("store");
            store.apply_batch(&rabbit).await.expect("store");
            stored += n as u64;
        }
        println!("{stored} games stored");
    });
}
