use rand::{Rng, RngCore};

use super::{Game, Outcome};

/// Players cross a bridge of glass panels in order; each unknown panel is a coin flip.
///
/// A player who steps on the wrong glass falls, and the panel is then known to everyone
/// behind. The first player to cross wins. If every player falls, the last player (who
/// got furthest) wins. Biased on purpose: later players learn from earlier falls.
pub struct GlassBridge {
    pub panels: u32,
}

impl Default for GlassBridge {
    fn default() -> Self {
        GlassBridge { panels: 18 }
    }
}

impl Game for GlassBridge {
    fn number(&self) -> u32 {
        4
    }
    fn name(&self) -> &'static str {
        "Glass Bridge"
    }
    fn rule(&self) -> &'static str {
        "players cross 18 panels in order, each unknown panel a coin flip; a fall reveals the panel; the first across wins (if all fall, the last player)"
    }
    fn play(&self, players: u32, rng: &mut dyn RngCore) -> Outcome {
        let mut current = 1;
        for _ in 0..self.panels {
            // Each panel is a pair of glasses, one tempered: a wrong guess is a fall,
            // and the next player then knows which glass holds.
            if !rng.random_bool(0.5) {
                if current == players {
                    return Outcome {
                        winner: players,
                        rounds: self.panels,
                    };
                }
                current += 1;
            }
        }
        Outcome {
            winner: current,
            rounds: self.panels,
        }
    }
}
