//! Which endpoint request number `i` goes to: a pure function of the seed and `i`, so
//! the same seed gives the same sequence whatever the concurrency.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::games::GameSpec;

/// Everything but unreserved URL characters is percent-encoded in a path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']')
    .add(b';')
    .add(b'&')
    .add(b'+')
    .add(b'=');

#[derive(Debug, Clone)]
pub struct Plan {
    pub games: Vec<GameSpec>,
    pub min_players: u32,
    pub max_players: u32,
    pub seed: u64,
    /// `/game/{n}/gamename/{encoded name}/players/` per game, built once.
    prefixes: Vec<String>,
}

/// One planned request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Index into [`Plan::games`].
    pub game: usize,
    pub players: u32,
    pub path: String,
}

impl Plan {
    pub fn new(games: Vec<GameSpec>, min_players: u32, max_players: u32, seed: u64) -> Plan {
        let prefixes = games
            .iter()
            .map(|g| {
                format!(
                    "/game/{}/gamename/{}/players/",
                    g.number,
                    utf8_percent_encode(&g.name, SEGMENT)
                )
            })
            .collect();
        Plan {
            games,
            min_players,
            max_players,
            seed,
            prefixes,
        }
    }

    pub fn endpoint(&self, i: u64) -> Endpoint {
        let mut rng = SmallRng::seed_from_u64(mix(self.seed, i));
        let game = rng.random_range(0..self.games.len());
        let players = rng.random_range(self.min_players..=self.max_players);
        let mut path = String::with_capacity(self.prefixes[game].len() + 10);
        path.push_str(&self.prefixes[game]);
        path.push_str(&players.to_string());
        Endpoint {
            game,
            players,
            path,
        }
    }
}

/// SplitMix64 of the seed and the index: independent streams per request.
fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64) -> Plan {
        let games = vec![
            GameSpec {
                number: 1,
                name: "Random".into(),
            },
            GameSpec {
                number: 6,
                name: "Red Light/Green 🦑".into(),
            },
        ];
        Plan::new(games, 1, 30, seed)
    }

    #[test]
    fn same_seed_same_sequence() {
        let a: Vec<_> = (0..100).map(|i| plan(7).endpoint(i)).collect();
        let b: Vec<_> = (0..100).map(|i| plan(7).endpoint(i)).collect();
        let c: Vec<_> = (0..100).map(|i| plan(8).endpoint(i)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn players_stay_in_range_and_names_are_encoded() {
        let p = plan(1);
        let mut seen = [false; 31];
        for i in 0..5000 {
            let e = p.endpoint(i);
            assert!((1..=30).contains(&e.players));
            seen[e.players as usize] = true;
            if e.game == 1 {
                assert_eq!(
                    e.path,
                    format!(
                        "/game/6/gamename/Red%20Light%2FGreen%20%F0%9F%A6%91/players/{}",
                        e.players
                    )
                );
            }
        }
        assert!(seen[1..].iter().all(|&s| s), "every player count is drawn");
    }
}
