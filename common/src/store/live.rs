//! The live statistics: reads of the Redis keys the apply script keeps.
//! Every read is one pipelined round trip, whatever the number of games stored.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{GamePlayed, RouteCounts, Store, StoreError, PREFIX};
use crate::result::{format_unix_ms, GameResultJson};

/// The Redis report of the overview.
#[derive(Debug, Clone, Serialize)]
pub struct LiveStats {
    pub total: u64,
    pub routes: RouteCounts,
    /// The last games played, newest first.
    pub recent: Vec<GameResultJson>,
    pub top_players: Vec<PlayerWins>,
    /// Games played per name (the label clients give), the `TOP_NAMES` most played
    /// first: clients choose the names, so there may be any number of them.
    pub games: Vec<GamePlayed>,
    /// Games played per game number (the rules), most played first.
    pub game_numbers: Vec<GameNumber>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlayerWins {
    pub player: u32,
    pub wins: u64,
}

/// A game number with the name it was played under most often and a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GameNumber {
    pub game: u32,
    pub game_name: String,
    pub count: u64,
}

/// One player's record.
#[derive(Debug, Clone, Serialize)]
pub struct PlayerStats {
    pub player: u32,
    pub wins: u64,
    /// 1 for the player with the most wins, shared by players with as many wins;
    /// `None` before the first win.
    pub rank: Option<u64>,
    pub last_game: Option<String>,
    /// RFC 3339.
    pub last_win: Option<String>,
    /// Wins per game number, most first (`count` = wins).
    pub wins_per_game: Vec<GameNumber>,
    /// The player's last wins, newest first.
    pub recent_wins: Vec<GameResultJson>,
}

/// One game number's record.
#[derive(Debug, Clone, Serialize)]
pub struct GameStats {
    pub game: u32,
    /// The name the game was played under most often; `None` before it was played.
    pub game_name: Option<String>,
    pub played: u64,
    pub average_players: f64,
    /// The players who won this game most often.
    pub top_winners: Vec<PlayerWins>,
    /// Wins by where the winner stood in the line-up, in tenths (see `winner_decile`).
    pub winner_deciles: [u64; 10],
}

/// How many winners a game's record lists.
const TOP_WINNERS: isize = 10;
/// How many game names the overview lists.
const TOP_NAMES: isize = 10;

/// A player's rank among `KEYS[1]`'s scores: 1 + the number of players with more wins,
/// so that players with as many wins share a rank; nil for a player who never won.
const RANK_SCRIPT: &str = r#"
local wins = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not wins then return false end
return redis.call('ZCOUNT', KEYS[1], '(' .. wins, '+inf') + 1
"#;

type LiveReply = (
    Option<u64>,
    BTreeMap<String, u64>,
    Vec<String>,
    Vec<(String, f64)>,
    Vec<(String, f64)>,
    Vec<(String, f64)>,
    HashMap<String, String>,
);

type PlayerReply = (
    HashMap<String, String>,
    Option<u64>,
    Vec<(String, f64)>,
    Vec<String>,
    HashMap<String, String>,
);

type GameReply = (
    HashMap<String, String>,
    Option<String>,
    Vec<(String, f64)>,
    HashMap<String, u64>,
);

impl Store {
    /// The overview's statistics with the `top` players.
    pub async fn live_stats(&self, top: usize) -> Result<LiveStats, StoreError> {
        let mut conn = self.redis.get().await?;
        let reply: redis::RedisResult<LiveReply> = redis::pipe()
            .get(format!("{PREFIX}total"))
            .hgetall(format!("{PREFIX}routes"))
            .zrevrange(format!("{PREFIX}latest"), 0, 9)
            .zrevrange_withscores(format!("{PREFIX}players:wins"), 0, top as isize - 1)
            .zrevrange_withscores(format!("{PREFIX}games:played"), 0, TOP_NAMES - 1)
            .zrevrange_withscores(format!("{PREFIX}games:ids"), 0, -1)
            .hgetall(format!("{PREFIX}games:names"))
            .query_async(&mut conn)
            .await;
        let (total, routes, recent, top_players, games, numbers, names) =
            self.redis.reset_on(reply).await?;
        Ok(LiveStats {
            total: total.unwrap_or(0),
            routes: RouteCounts::from_map(&routes),
            recent: parse_results(&recent),
            top_players: player_wins(top_players),
            games: games
                .into_iter()
                .map(|(game_name, played)| GamePlayed {
                    game_name,
                    played: played as u64,
                })
                .collect(),
            game_numbers: game_numbers(numbers, &names),
        })
    }

    /// One player's record; a player who never won has zero wins, not an error.
    pub async fn player_stats(&self, player: u32) -> Result<PlayerStats, StoreError> {
        let key = format!("{PREFIX}player:{player}");
        let mut conn = self.redis.get().await?;
        let reply: redis::RedisResult<PlayerReply> = redis::pipe()
            .hgetall(&key)
            .cmd("EVAL")
            .arg(RANK_SCRIPT)
            .arg(1)
            .arg(format!("{PREFIX}players:wins"))
            .arg(player)
            .zrevrange_withscores(format!("{key}:games"), 0, -1)
            .zrevrange(format!("{key}:latest"), 0, 9)
            .hgetall(format!("{PREFIX}games:names"))
            .query_async(&mut conn)
            .await;
        let (record, rank, per_game, recent, names) = self.redis.reset_on(reply).await?;
        Ok(PlayerStats {
            player,
            wins: field(&record, "wins").unwrap_or(0),
            rank,
            last_game: record.get("last_game").cloned(),
            last_win: field(&record, "last_win_ms").map(format_unix_ms),
            wins_per_game: game_numbers(per_game, &names),
            recent_wins: parse_results(&recent),
        })
    }

    /// One game number's record; a game never played has zero plays, not an error.
    pub async fn game_stats(&self, game: u32) -> Result<GameStats, StoreError> {
        let key = format!("{PREFIX}game:{game}");
        let mut conn = self.redis.get().await?;
        let reply: redis::RedisResult<GameReply> = redis::pipe()
            .hgetall(&key)
            .hget(format!("{PREFIX}games:names"), game)
            .zrevrange_withscores(format!("{key}:winners"), 0, TOP_WINNERS - 1)
            .hgetall(format!("{key}:deciles"))
            .query_async(&mut conn)
            .await;
        let (record, game_name, winners, deciles) = self.redis.reset_on(reply).await?;
        let played: u64 = field(&record, "played").unwrap_or(0);
        let players_sum: u64 = field(&record, "players_sum").unwrap_or(0);
        let mut winner_deciles = [0; 10];
        for (decile, wins) in deciles {
            if let Some(slot) = decile
                .parse()
                .ok()
                .and_then(|d: usize| winner_deciles.get_mut(d))
            {
                *slot = wins;
            }
        }
        Ok(GameStats {
            game,
            game_name,
            played,
            average_players: if played == 0 {
                0.0
            } else {
                players_sum as f64 / played as f64
            },
            top_winners: player_wins(winners),
            winner_deciles,
        })
    }
}

fn field<T: std::str::FromStr>(record: &HashMap<String, String>, name: &str) -> Option<T> {
    record.get(name).and_then(|v| v.parse().ok())
}

/// The results of a `latest` sorted set, in its order (newest first).
fn parse_results(json: &[String]) -> Vec<GameResultJson> {
    json.iter()
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect()
}

fn player_wins(scores: Vec<(String, f64)>) -> Vec<PlayerWins> {
    scores
        .into_iter()
        .filter_map(|(player, wins)| {
            Some(PlayerWins {
                player: player.parse().ok()?,
                wins: wins as u64,
            })
        })
        .collect()
}

fn game_numbers(scores: Vec<(String, f64)>, names: &HashMap<String, String>) -> Vec<GameNumber> {
    scores
        .into_iter()
        .filter_map(|(game, count)| {
            Some(GameNumber {
                game_name: names.get(&game).cloned().unwrap_or_default(),
                game: game.parse().ok()?,
                count: count as u64,
            })
        })
        .collect()
}
