//! The result store: MongoDB keeps the game log, Redis the live statistics.
//!
//! Delivery from the queues is at-least-once, so applying a result is idempotent on
//! both sides: MongoDB rejects a second document with the same `_id`, and the Redis
//! script records every applied id and skips ids it has seen.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_std::sync::Mutex;
use mongodb::bson::{self, doc, Document};
use mongodb::error::ErrorKind;
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use redis::aio::MultiplexedConnection;
use serde::Serialize;

use crate::result::{GameResult, GameResultJson};

/// Every Redis key of the project starts with this.
pub const PREFIX: &str = "squidgame:";
/// How many results the Redis `recent` list keeps.
pub const RECENT_LEN: usize = 100;
/// MongoDB's duplicate key error code.
const DUPLICATE_KEY: i32 = 11000;

/// Applies a batch of results to Redis atomically, each at most once.
/// ARGV holds 6 fields per result: id, json, winner, game name, route, played_at_ms.
/// Returns how many results were new.
const APPLY_SCRIPT: &str = r#"
local applied = 0
for i = 1, #ARGV, 6 do
  local id, json, winner, game, route, at =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  if redis.call('SADD', 'squidgame:applied', id) == 1 then
    applied = applied + 1
    redis.call('LPUSH', 'squidgame:recent', json)
    redis.call('ZINCRBY', 'squidgame:players:wins', 1, winner)
    redis.call('ZINCRBY', 'squidgame:games:played', 1, game)
    redis.call('HINCRBY', 'squidgame:routes', route, 1)
    local player = 'squidgame:player:' .. winner
    redis.call('HINCRBY', player, 'wins', 1)
    redis.call('HSET', player, 'last_game', game, 'last_win_ms', at)
    redis.call('INCR', 'squidgame:total')
  end
end
redis.call('LTRIM', 'squidgame:recent', 0, 99)
return applied
"#;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("mongodb: {0}")]
    Mongo(#[from] mongodb::error::Error),
}

/// Where the store lives; shared by the workers and the dashboard.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Redis URL for the live statistics.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379/")]
    pub redis_url: String,
    /// MongoDB URL for the game log.
    #[arg(long, env = "MONGO_URL", default_value = "mongodb://127.0.0.1:27017/")]
    pub mongo_url: String,
    /// MongoDB database holding the `games` collection.
    #[arg(long, env = "MONGO_DB", default_value = "squidgame")]
    pub mongo_db: String,
}

/// What applying a batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Documents newly inserted into MongoDB.
    pub stored: u64,
    /// Results MongoDB already had (redeliveries).
    pub duplicates: u64,
    /// Results newly counted in Redis.
    pub counted: u64,
}

/// Connections to Redis and MongoDB. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    redis: RedisConn,
    games: Collection<Document>,
    /// The apply script, hashed once (`EVALSHA` then `EVAL` on a cold server).
    apply: Arc<redis::Script>,
}

/// A multiplexed Redis connection that reconnects after an error.
#[derive(Clone)]
struct RedisConn {
    client: redis::Client,
    conn: Arc<Mutex<Option<MultiplexedConnection>>>,
}

impl RedisConn {
    async fn get(&self) -> Result<MultiplexedConnection, StoreError> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let conn = self.client.get_multiplexed_async_connection().await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Drops the cached connection after an I/O error so the next call reconnects.
    async fn reset_on<T>(&self, result: redis::RedisResult<T>) -> Result<T, StoreError> {
        if let Err(e) = &result {
            if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
                *self.conn.lock().await = None;
            }
        }
        Ok(result?)
    }
}

impl Store {
    /// Prepares clients; nothing is contacted until the first call, so a store that is
    /// down at start-up is retried later instead of failing the process.
    pub async fn connect(args: &StoreArgs) -> Result<Store, StoreError> {
        let client = redis::Client::open(args.redis_url.as_str())?;
        let mongo = mongodb::Client::with_uri_str(&args.mongo_url).await?;
        let games = mongo
            .database(&args.mongo_db)
            .collection::<Document>("games");
        Ok(Store {
            redis: RedisConn {
                client,
                conn: Arc::new(Mutex::new(None)),
            },
            games,
            apply: Arc::new(redis::Script::new(APPLY_SCRIPT)),
        })
    }

    /// Creates the game log's indexes (idempotent).
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        for field in ["played_at", "winner", "game_id"] {
            let index = IndexModel::builder()
                .keys(doc! { field: 1 })
                .options(IndexOptions::builder().name(format!("{field}_1")).build())
                .build();
            self.games.create_index(index).await?;
        }
        Ok(())
    }

    /// Stores a batch in MongoDB and counts it in Redis. Safe to repeat: a result
    /// already applied is neither stored nor counted again.
    pub async fn apply_batch(&self, results: &[GameResult]) -> Result<Applied, StoreError> {
        if results.is_empty() {
            return Ok(Applied::default());
        }
        let (stored, duplicates) = self.insert_games(results).await?;
        let counted = self.count_in_redis(results).await?;
        Ok(Applied {
            stored,
            duplicates,
            counted,
        })
    }

    async fn insert_games(&self, results: &[GameResult]) -> Result<(u64, u64), StoreError> {
        let docs: Vec<Document> = results.iter().map(game_document).collect();
        let total = docs.len() as u64;
        match self.games.insert_many(docs).ordered(false).await {
            Ok(done) => Ok((done.inserted_ids.len() as u64, 0)),
            Err(e) => match e.kind.as_ref() {
                ErrorKind::InsertMany(failure)
                    if failure.write_concern_error.is_none()
                        && failure
                            .write_errors
                            .as_ref()
                            .is_some_and(|errs| errs.iter().all(|w| w.code == DUPLICATE_KEY)) =>
                {
                    let duplicates = failure.write_errors.as_ref().map_or(0, |w| w.len()) as u64;
                    Ok((total - duplicates, duplicates))
                }
                _ => Err(e.into()),
            },
        }
    }

    async fn count_in_redis(&self, results: &[GameResult]) -> Result<u64, StoreError> {
        let mut invocation = self.apply.prepare_invoke();
        for r in results {
            let json = serde_json::to_string(&GameResultJson::from(r))
                .expect("a result always serializes");
            invocation
                .arg(&r.id)
                .arg(json)
                .arg(r.winner)
                .arg(&r.game_name)
                .arg(&r.route)
                .arg(r.played_at_ms);
        }
        let mut conn = self.redis.get().await?;
        let applied: redis::RedisResult<u64> = invocation.invoke_async(&mut conn).await;
        self.redis.reset_on(applied).await
    }

    /// The live statistics, from Redis.
    pub async fn live_stats(&self, top: usize) -> Result<LiveStats, StoreError> {
        let mut conn = self.redis.get().await?;
        let top_end = top as isize - 1;
        let reply: redis::RedisResult<LiveReply> = redis::pipe()
            .get(format!("{PREFIX}total"))
            .hgetall(format!("{PREFIX}routes"))
            .lrange(format!("{PREFIX}recent"), 0, 9)
            .zrevrange_withscores(format!("{PREFIX}players:wins"), 0, top_end)
            .zrevrange_withscores(format!("{PREFIX}games:played"), 0, -1)
            .query_async(&mut conn)
            .await;
        let (total, routes, recent, top_players, games) = self.redis.reset_on(reply).await?;
        let recent = recent
            .iter()
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect();
        Ok(LiveStats {
            total: total.unwrap_or(0),
            routes: RouteCounts::from_map(&routes),
            recent,
            top_players: top_players
                .into_iter()
                .filter_map(|(player, wins)| {
                    Some(PlayerWins {
                        player: player.parse().ok()?,
                        wins: wins as u64,
                    })
                })
                .collect(),
            games: games
                .into_iter()
                .map(|(game_name, played)| GamePlayed {
                    game_name,
                    played: played as u64,
                })
                .collect(),
        })
    }

    /// The game log's summary, from MongoDB.
    pub async fn log_stats(&self) -> Result<LogStats, StoreError> {
        let games = self.games.count_documents(doc! {}).await?;
        let by_route = self.group_count("$route", None).await?;
        let top_games = self.group_count("$game_name", Some(3)).await?;
        Ok(LogStats {
            games,
            by_route: RouteCounts::from_map(&by_route.iter().cloned().collect()),
            top_games: top_games
                .into_iter()
                .map(|(game_name, played)| GamePlayed { game_name, played })
                .collect(),
        })
    }

    /// Counts documents per value of `field`, most first.
    async fn group_count(
        &self,
        field: &str,
        limit: Option<i64>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut pipeline = vec![
            doc! { "$group": { "_id": field, "n": { "$sum": 1 } } },
            doc! { "$sort": { "n": -1, "_id": 1 } },
        ];
        if let Some(limit) = limit {
            pipeline.push(doc! { "$limit": limit });
        }
        let mut cursor = self.games.aggregate(pipeline).await?;
        let mut out = Vec::new();
        while cursor.advance().await? {
            let row = cursor.deserialize_current()?;
            let key = match row.get("_id") {
                Some(bson::Bson::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => continue,
            };
            let n = match row.get("n") {
                Some(bson::Bson::Int32(n)) => *n as u64,
                Some(bson::Bson::Int64(n)) => *n as u64,
                Some(bson::Bson::Double(n)) => *n as u64,
                _ => 0,
            };
            out.push((key, n));
        }
        Ok(out)
    }
}

type LiveReply = (
    Option<u64>,
    BTreeMap<String, u64>,
    Vec<String>,
    Vec<(String, f64)>,
    Vec<(String, f64)>,
);

/// The MongoDB document of one result; `_id` is the result id.
fn game_document(r: &GameResult) -> Document {
    doc! {
        "_id": &r.id,
        "game_id": r.game_id as i64,
        "game_name": &r.game_name,
        "players": r.players as i64,
        "winner": r.winner as i64,
        "route": &r.route,
        "rounds": r.rounds as i64,
        "played_at": bson::DateTime::from_millis(r.played_at_ms),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RouteCounts {
    pub kafka: u64,
    pub rabbitmq: u64,
}

impl RouteCounts {
    fn from_map(map: &BTreeMap<String, u64>) -> Self {
        RouteCounts {
            kafka: map.get("kafka").copied().unwrap_or(0),
            rabbitmq: map.get("rabbitmq").copied().unwrap_or(0),
        }
    }

    pub fn total(&self) -> u64 {
        self.kafka + self.rabbitmq
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlayerWins {
    pub player: u32,
    pub wins: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GamePlayed {
    pub game_name: String,
    pub played: u64,
}

/// The Redis report.
#[derive(Debug, Clone, Serialize)]
pub struct LiveStats {
    pub total: u64,
    pub routes: RouteCounts,
    pub recent: Vec<GameResultJson>,
    pub top_players: Vec<PlayerWins>,
    pub games: Vec<GamePlayed>,
}

/// The MongoDB report.
#[derive(Debug, Clone, Serialize)]
pub struct LogStats {
    pub games: u64,
    pub by_route: RouteCounts,
    pub top_games: Vec<GamePlayed>,
}
