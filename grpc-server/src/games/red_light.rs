use rand::{Rng, RngCore};

use super::{everyone, Game, Outcome};

/// Red Light, Green Light.
///
/// On green every survivor runs 1..=10 steps; on red each survivor is caught moving
/// with probability 1/10 and eliminated (if that would eliminate everyone, the furthest
/// of them is spared). The furthest player past the line wins, ties drawn at random;
/// after `max_rounds` without a crossing the furthest survivor wins.
pub struct RedLight {
    pub distance: u32,
    pub max_rounds: u32,
}

impl Default for RedLight {
    fn default() -> Self {
        RedLight {
            distance: 100,
            max_rounds: 100,
        }
    }
}

impl RedLight {
    /// The furthest of `runners` (positions indexed like `standing`), ties at random.
    fn furthest(standing: &[u32], position: &[u32], rng: &mut dyn RngCore) -> usize {
        let best = position.iter().copied().max().unwrap_or(0);
        let leaders: Vec<usize> = (0..standing.len())
            .filter(|&i| position[i] == best)
            .collect();
        leaders[rng.random_range(0..leaders.len())]
    }
}

impl Game for RedLight {
    fn number(&self) -> u32 {
        6
    }
    fn name(&self) -> &'static str {
        "Red Light Green Light"
    }
    fn rule(&self) -> &'static str {
        "survivors run 1-10 steps on green; moving on red (1 in 10) eliminates; first past 100 wins, else the furthest survivor"
    }
    fn play(&self, players: u32, rng: &mut dyn RngCore) -> Outcome {
        let mut standing = everyone(players);
        let mut position = vec![0u32; standing.len()];
        for round in 1..=self.max_rounds {
            for p in position.iter_mut() {
                *p += rng.random_range(1..=10);
            }
            if position.iter().any(|&p| p >= self.distance) {
                let i = Self::furthest(&standing, &position, rng);
                return Outcome {
                    winner: standing[i],
                    rounds: round,
                };
            }
            let caught: Vec<bool> = standing.iter().map(|_| rng.random_bool(0.1)).collect();
            if caught.iter().all(|&c| c) {
                let spared = Self::furthest(&standing, &position, rng);
                standing = vec![standing[spared]];
                position = vec![position[spared]];
            } else {
                let mut i = 0;
                standing.retain(|_| {
                    i += 1;
                    !caught[i - 1]
                });
                let mut j = 0;
                position.retain(|_| {
                    j += 1;
                    !caught[j - 1]
                });
            }
        }
        let i = Self::furthest(&standing, &position, rng);
        Outcome {
            winner: standing[i],
            rounds: self.max_rounds,
        }
    }
}
