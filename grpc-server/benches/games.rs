//! Games per second for each game at 30 and at 10,000 players (`make bench`).

use std::time::{Duration, Instant};

use grpc_server::games::catalog;
use rand::rngs::SmallRng;
use rand::SeedableRng;

fn main() {
    let mut rng = SmallRng::seed_from_u64(1);
    println!(
        "{:<24} {:>16} {:>20}",
        "game", "games/s at 30", "games/s at 10,000"
    );
    for game in catalog() {
        let rates: Vec<f64> = [30u32, 10_000]
            .iter()
            .map(|&players| {
                // Play for about half a second, then report the rate.
                let budget = Duration::from_millis(500);
                let started = Instant::now();
                let mut played = 0u64;
                let mut checksum = 0u64;
                while started.elapsed() < budget {
                    for _ in 0..16 {
                        checksum += u64::from(game.play(players, &mut rng).winner);
                    }
                    played += 16;
                }
                std::hint::black_box(checksum);
                played as f64 / started.elapsed().as_secs_f64()
            })
            .collect();
        println!(
            "{:<24} {:>16.0} {:>20.0}",
            format!("{} {}", game.number(), game.name()),
            rates[0],
            rates[1]
        );
    }
}
