//! The games: one module each behind the [`Game`] trait, selected by number.
//!
//! Every game is a small simulation whose cost is linear in the number of players
//! (at most `O(n log n)`), so the configured maximum finishes in bounded time.

mod glass_bridge;
mod last;
mod random;
mod red_light;
mod roulette;
mod tug_of_war;

use rand::RngCore;

/// How a game ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The winning player, 1..=players.
    pub winner: u32,
    /// Rounds played (spins, pulls, play-off rounds, panels...).
    pub rounds: u32,
}

/// The rules of one game.
pub trait Game: Send + Sync {
    /// The number that selects this game in `/game/{number}/...`.
    fn number(&self) -> u32;
    /// The default name shown in listings.
    fn name(&self) -> &'static str;
    /// One line describing the rules.
    fn rule(&self) -> &'static str;
    /// Plays with `players >= 1` players numbered 1..=players.
    fn play(&self, players: u32, rng: &mut dyn RngCore) -> Outcome;
}

/// Every game this server knows, by number.
pub fn catalog() -> Vec<Box<dyn Game>> {
    vec![
        Box::new(random::Random),
        Box::new(roulette::Roulette),
        Box::new(tug_of_war::TugOfWar),
        Box::new(glass_bridge::GlassBridge::default()),
        Box::new(last::Last),
        Box::new(red_light::RedLight::default()),
    ]
}

/// The players still in the game, in a random order when the game needs it.
fn everyone(players: u32) -> Vec<u32> {
    (1..=players).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn numbers_are_unique_and_names_set() {
        let games = catalog();
        let mut numbers: Vec<u32> = games.iter().map(|g| g.number()).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers, vec![1, 2, 3, 4, 5, 6]);
        assert!(games
            .iter()
            .all(|g| !g.name().is_empty() && !g.rule().is_empty()));
    }

    #[test]
    fn winner_is_always_a_player() {
        let mut rng = StdRng::seed_from_u64(7);
        for game in catalog() {
            for players in [1, 2, 3, 4, 5, 7, 8, 30, 31, 100, 1000] {
                for _ in 0..50 {
                    let o = game.play(players, &mut rng);
                    assert!(
                        (1..=players).contains(&o.winner),
                        "{} with {players} players named winner {}",
                        game.name(),
                        o.winner
                    );
                }
            }
        }
    }

    #[test]
    fn a_lone_player_wins() {
        let mut rng = StdRng::seed_from_u64(1);
        for game in catalog() {
            assert_eq!(game.play(1, &mut rng).winner, 1, "{}", game.name());
        }
    }

    #[test]
    fn ten_thousand_players_finish() {
        let mut rng = StdRng::seed_from_u64(3);
        for game in catalog() {
            let o = game.play(10_000, &mut rng);
            assert!((1..=10_000).contains(&o.winner));
        }
    }

    /// Pearson's chi-square statistic of `counts` against the uniform distribution.
    fn chi_square(counts: &[u64]) -> f64 {
        let total: u64 = counts.iter().sum();
        let expected = total as f64 / counts.len() as f64;
        counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum()
    }

    #[test]
    fn symmetric_games_are_fair() {
        // 10 players, 9 degrees of freedom: the 0.1% critical value is 27.88.
        const PLAYERS: u32 = 10;
        const RUNS: usize = 20_000;
        for game in catalog().iter().filter(|g| g.number() != 4) {
            let mut rng = StdRng::seed_from_u64(42);
            let mut counts = vec![0u64; PLAYERS as usize];
            for _ in 0..RUNS {
                counts[(game.play(PLAYERS, &mut rng).winner - 1) as usize] += 1;
            }
            let chi2 = chi_square(&counts);
            assert!(
                chi2 < 27.88,
                "{}: chi2 = {chi2:.1}, counts {counts:?}",
                game.name()
            );
        }
    }

    #[test]
    fn glass_bridge_favours_later_players() {
        let game = glass_bridge::GlassBridge::default();
        let mut rng = StdRng::seed_from_u64(9);
        let mut counts = vec![0u64; 30];
        for _ in 0..20_000 {
            counts[(game.play(30, &mut rng).winner - 1) as usize] += 1;
        }
        // With 18 panels about 9 players fall first: player 10 is the typical winner.
        let mean: f64 = counts
            .iter()
            .enumerate()
            .map(|(i, &c)| (i + 1) as f64 * c as f64)
            .sum::<f64>()
            / 20_000.0;
        assert!((9.5..=10.5).contains(&mean), "mean winner {mean}");
        assert!(counts[0] < counts[9] / 100, "{counts:?}");
    }
}
