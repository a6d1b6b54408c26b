use rand::{Rng, RngCore};

use super::{Game, Outcome};

/// One draw: every player is equally likely to win.
pub struct Random;

impl Game for Random {
    fn number(&self) -> u32 {
        1
    }
    fn name(&self) -> &'static str {
        "Random"
    }
    fn rule(&self) -> &'static str {
        "one uniform draw picks the winner"
    }
    fn play(&self, players: u32, rng: &mut dyn RngCore) -> Outcome {
        Outcome {
            winner: rng.random_range(1..=players),
            rounds: 1,
        }
    }
}
