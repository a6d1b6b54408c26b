use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

use super::{everyone, Game, Outcome};

/// Marbles: random pairs play off, winners advance, until one player is left.
pub struct Last;

impl Game for Last {
    fn number(&self) -> u32 {
        5
    }
    fn name(&self) -> &'static str {
        "Last"
    }
    fn rule(&self) -> &'static str {
        "marbles: random pairs play off each round (an odd player out advances), until one is left"
    }
    fn play(&self, players: u32, rng: &mut dyn RngCore) -> Outcome {
        let mut standing = everyone(players);
        let mut rounds = 0;
        while standing.len() > 1 {
            // A fresh random draw each round keeps the bye from favouring anyone.
            standing.shuffle(rng);
            let next: Vec<u32> = standing
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => {
                        if rng.random_bool(0.5) {
                            *a
                        } else {
                            *b
                        }
                    }
                    [bye] => *bye,
                    _ => unreachable!("chunks(2) yields one or two players"),
                })
                .collect();
            standing = next;
            rounds += 1;
        }
        Outcome {
            winner: standing[0],
            rounds,
        }
    }
}
