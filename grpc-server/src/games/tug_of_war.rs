use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

use super::{everyone, Game, Outcome};

/// Random teams pull; the losing team is eliminated; repeat until one player is left.
pub struct TugOfWar;

impl Game for TugOfWar {
    fn number(&self) -> u32 {
        3
    }
    fn name(&self) -> &'static str {
        "Tug of War"
    }
    fn rule(&self) -> &'static str {
        "random teams pull with random strength each round; the weaker team is eliminated until one player is left"
    }
    fn play(&self, players: u32, rng: &mut dyn RngCore) -> Outcome {
        let mut standing = everyone(players);
        let mut rounds = 0;
        while standing.len() > 1 {
            standing.shuffle(rng);
            let half = standing.len() / 2;
            let (left, right) = standing.split_at(half);
            let pull = |team: &[u32], rng: &mut dyn RngCore| -> f64 {
                team.iter().map(|_| rng.random::<f64>()).sum()
            };
            let left_pull = pull(left, rng);
            let right_pull = pull(right, rng);
            standing = if left_pull > right_pull {
                left.to_vec()
            } else {
                right.to_vec()
            };
            rounds += 1;
        }
        Outcome {
            winner: standing[0],
            rounds,
        }
    }
}
