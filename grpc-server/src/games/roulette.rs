use rand::{Rng, RngCore};

use super::{everyone, Game, Outcome};

/// Each spin of the wheel eliminates one of the players still standing.
pub struct Roulette;

impl Game for Roulette {
    fn number(&self) -> u32 {
        2
    }
    fn name(&self) -> &'static str {
        "Roulette"
    }
    fn rule(&self) -> &'static str {
        "each spin eliminates one remaining player at random; the last one standing wins"
    }
    fn play(&self, players: u32, rng: &mut dyn RngCore) -> Outcome {
        let mut standing = everyone(players);
        let mut rounds = 0;
        while standing.len() > 1 {
            let hit = rng.random_range(0..standing.len());
            standing.swap_remove(hit);
            rounds += 1;
        }
        Outcome {
            winner: standing[0],
            rounds,
        }
    }
}
