//! The result store: MongoDB keeps the game log, Redis the live statistics.
//!
//! Delivery from the queues is at-least-once, so applying a result is idempotent on
//! both sides: MongoDB rejects a second document with the same `_id`, and the Redis
//! script records every applied id and skips ids it has seen.

use std::sync::Arc;
use std::time::Duration;

use async_std::sync::Mutex;
use mongodb::bson::{self, doc, Document};
use mongodb::error::ErrorKind;
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Collection, Database, IndexModel};
use redis::aio::MultiplexedConnection;

use crate::result::{GameResult, GameResultJson};

mod live;
mod log;

pub use live::{GameNumber, GameStats, LiveStats, PlayerStats, PlayerWins};
pub use log::{GamePlayed, LogFilter, LogPage, LogStats, RouteCounts, LOG_PAGE_SIZE};

/// Every Redis key of the project starts with this.
pub const PREFIX: &str = "squidgame:";
/// The MongoDB collection of the game log.
const GAMES: &str = "games";
/// How long MongoDB calls wait for a reachable server unless the URL says otherwise.
const MONGO_SERVER_TIMEOUT: Duration = Duration::from_secs(3);
/// MongoDB's duplicate key error code.
const DUPLICATE_KEY: i32 = 11000;
/// Write error codes that are about the server's state, not the document: a batch
/// that meets one is retried whole, never rejected (write conflict, not primary,
/// interrupted, shutting down, stepped down, time limits).
const TRANSIENT_WRITE_ERRORS: [i32; 10] =
    [112, 10107, 13435, 11600, 11602, 91, 189, 262, 50, 14031];

/// Applies a batch of results to Redis atomically, each at most once.
/// ARGV holds nine fields per result: id, json, winner, game name, route,
/// played_at_ms, game number, players, winner decile (0..=9, where in the line-up the
/// winner stood). Returns how many results were new. Keys: see `docs/architecture.md`.
///
/// Two workers, batching and redelivery apply results out of the order they were
/// played in, so "latest" means latest by `played_at_ms`: the latest games are sorted
/// sets scored by it, and a player's last win only moves forward in time.
const APPLY_SCRIPT: &str = r#"
local applied = 0
for i = 1, #ARGV, 9 do
  local id, json, winner, name, route, at, game, players, decile =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5],
    ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
  if redis.call('SADD', 'squidgame:applied', id) == 1 then
    applied = applied + 1
    redis.call('INCR', 'squidgame:total')
    redis.call('ZADD', 'squidgame:latest', at, json)
    redis.call('HINCRBY', 'squidgame:routes', route, 1)
    redis.call('ZINCRBY', 'squidgame:games:played', 1, name)
    redis.call('ZINCRBY', 'squidgame:games:ids', 1, game)
    local stats = 'squidgame:game:' .. game
    -- A game number's label is the name it was played under most often.
    local uses = tonumber(redis.call('ZINCRBY', stats .. ':names', 1, name))
    local label = redis.call('HGET', 'squidgame:games:names', game)
    if not label or label == name
        or uses > tonumber(redis.call('ZSCORE', stats .. ':names', label) or '0') then
      redis.call('HSET', 'squidgame:games:names', game, name)
    end
    redis.call('ZINCRBY', 'squidgame:players:wins', 1, winner)
    local player = 'squidgame:player:' .. winner
    redis.call('HINCRBY', player, 'wins', 1)
    if tonumber(at) >= tonumber(redis.call('HGET', player, 'last_win_ms') or '0') then
      redis.call('HSET', player, 'last_game', name, 'last_win_ms', at)
    end
    redis.call('ZINCRBY', player .. ':games', 1, game)
    redis.call('ZADD', player .. ':latest', at, json)
    redis.call('ZREMRANGEBYRANK', player .. ':latest', 0, -11)
    redis.call('HINCRBY', stats, 'played', 1)
    redis.call('HINCRBY', stats, 'players_sum', players)
    redis.call('ZINCRBY', stats .. ':winners', 1, winner)
    redis.call('HINCRBY', stats .. ':deciles', decile, 1)
  end
end
-- Keep the 100 latest games.
redis.call('ZREMRANGEBYRANK', 'squidgame:latest', 0, -101)
return applied
"#;

/// One short sentence for people (the `Display` form carries the driver's detail).
impl StoreError {
    pub fn brief(&self) -> String {
        let text = match self {
            StoreError::Redis(e) if e.is_connection_refusal() => "connection refused".to_string(),
            StoreError::Redis(e) if e.is_timeout() => "no answer in time".to_string(),
            StoreError::Redis(e) => e.to_string(),
            StoreError::Mongo(e) => match e.kind.as_ref() {
                ErrorKind::ServerSelection { .. } => "no server reachable".to_string(),
                ErrorKind::Io(io) => io.to_string(),
                // The kind alone: the error's own text adds labels and sources.
                kind => kind.to_string(),
            },
            StoreError::Reply(reply) => reply.clone(),
        };
        let first_line = text.lines().next().unwrap_or_default();
        match first_line.char_indices().nth(BRIEF_CHARS) {
            Some((cut, _)) => format!("{}…", &first_line[..cut]),
            None => first_line.to_string(),
        }
    }
}

/// The longest brief error, in characters.
const BRIEF_CHARS: usize = 120;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("mongodb: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("mongodb: unexpected reply: {0}")]
    Reply(String),
}

/// Where the store lives; shared by the workers and the dashboard.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Redis URL for the live statistics.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379/", value_parser = parse_redis_url)]
    pub redis_url: String,
    /// MongoDB URL for the game log.
    #[arg(long, env = "MONGO_URL", default_value = "mongodb://127.0.0.1:27017/", value_parser = parse_mongo_url)]
    pub mongo_url: String,
    /// MongoDB database holding the `games` collection.
    #[arg(long, env = "MONGO_DB", default_value = "squidgame", value_parser = parse_database_name)]
    pub mongo_db: String,
}

/// A Redis URL the client can open (`redis://`, `rediss://`, `unix://`...).
pub fn parse_redis_url(url: &str) -> Result<String, String> {
    redis::Client::open(url)
        .map(|_| url.to_string())
        .map_err(|_| {
            format!(
                "expected a redis:// URL, got {}",
                crate::result::quoted(url)
            )
        })
}

/// A MongoDB connection string (`mongodb://` or `mongodb+srv://`).
pub fn parse_mongo_url(url: &str) -> Result<String, String> {
    // An SRV string is resolved when connecting; its form is all that is checked here.
    if url.starts_with("mongodb+srv://") && url.len() > "mongodb+srv://".len() {
        return Ok(url.to_string());
    }
    mongodb::options::ConnectionString::parse(url)
        .map(|_| url.to_string())
        .map_err(|e| {
            format!(
                "expected a mongodb:// URL, got {} ({})",
                crate::result::quoted(url),
                e.kind
            )
        })
}

/// A MongoDB database name: 1 to 63 bytes, none of `/\. "$` or NUL.
pub fn parse_database_name(name: &str) -> Result<String, String> {
    if name.is_empty() || name.len() > 63 {
        return Err(format!(
            "a MongoDB database name is 1 to 63 bytes, got {} ({})",
            name.len(),
            crate::result::quoted(name)
        ));
    }
    if let Some(c) = name.chars().find(|c| "/\\. \"$\0".contains(*c)) {
        return Err(format!(
            "a MongoDB database name cannot hold {c:?}, got {}",
            crate::result::quoted(name)
        ));
    }
    Ok(name.to_string())
}

/// What applying a batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Documents newly inserted into MongoDB.
    pub stored: u64,
    /// Results MongoDB already had (redeliveries).
    pub duplicates: u64,
    /// Results newly counted in Redis.
    pub counted: u64,
    /// Results MongoDB refused for what they hold; neither stored nor counted.
    pub rejected: Vec<Rejected>,
}

/// What storing a batch in the game log did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Logged {
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: Vec<Rejected>,
}

/// A result MongoDB refused for what it holds (not for the server's state): storing
/// it again would fail again, so it goes to the dead-letter destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its place in the batch.
    pub index: usize,
    pub reason: String,
}

/// Connections to Redis and MongoDB. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    redis: RedisConn,
    db: Database,
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
        if let Some(conn) = self.conn.lock().await.as_ref() {
            return Ok(conn.clone());
        }
        // Connect without holding the lock: while Redis does not answer, each caller
        // waits for its own attempt (bounded by the driver's connection timeout), not
        // for every earlier caller's attempt in turn.
        let conn = self.client.get_multiplexed_async_connection().await?;
        Ok(self.conn.lock().await.get_or_insert(conn).clone())
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
        let mut options = ClientOptions::parse(&args.mongo_url).await?;
        // The driver waits 30 s for a server by default; a store that is down should
        // show as down within a few seconds (the URL's own settings win).
        options
            .server_selection_timeout
            .get_or_insert(MONGO_SERVER_TIMEOUT);
        options.connect_timeout.get_or_insert(MONGO_SERVER_TIMEOUT);
        let mongo = mongodb::Client::with_options(options)?;
        let db = mongo.database(&args.mongo_db);
        let games = db.collection::<Document>(GAMES);
        Ok(Store {
            redis: RedisConn {
                client,
                conn: Arc::new(Mutex::new(None)),
            },
            db,
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

    /// Stores a batch in MongoDB, then counts in Redis what MongoDB kept. Safe to
    /// repeat: a result already applied is neither stored nor counted again.
    pub async fn apply_batch(&self, results: &[GameResult]) -> Result<Applied, StoreError> {
        let logged = self.log_batch(results).await?;
        let kept = without_rejected(results.to_vec(), &logged.rejected);
        let counted = self.count_batch(&kept).await?;
        Ok(Applied {
            stored: logged.stored,
            duplicates: logged.duplicates,
            counted,
            rejected: logged.rejected,
        })
    }

    /// Stores a batch in the game log (MongoDB). A duplicate key means "already
    /// stored"; a result the server refuses for what it holds is `rejected`; any other
    /// failure is an error and the whole batch may be tried again.
    pub async fn log_batch(&self, results: &[GameResult]) -> Result<Logged, StoreError> {
        if results.is_empty() {
            return Ok(Logged::default());
        }
        let docs: Vec<Document> = results.iter().map(game_document).collect();
        let e = match self.games.insert_many(docs).ordered(false).await {
            Ok(done) => {
                return Ok(Logged {
                    stored: done.inserted_ids.len() as u64,
                    ..Logged::default()
                })
            }
            Err(e) => e,
        };
        let retryable = e.contains_label(mongodb::error::RETRYABLE_WRITE_ERROR);
        let ErrorKind::InsertMany(failure) = e.kind.as_ref() else {
            return Err(e.into());
        };
        let errors: Vec<(usize, i32, &str)> = failure
            .write_errors
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|w| (w.index, w.code, w.message.as_str()))
            .collect();
        if retryable || failure.write_concern_error.is_some() {
            return Err(e.into());
        }
        sort_write_errors(results.len() as u64, &errors).ok_or_else(|| e.into())
    }

    /// Counts a batch in the live statistics (Redis); returns how many were new.
    pub async fn count_batch(&self, results: &[GameResult]) -> Result<u64, StoreError> {
        if results.is_empty() {
            return Ok(0);
        }
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
                .arg(r.played_at_ms)
                .arg(r.game_id)
                .arg(r.players)
                .arg(winner_decile(r.winner, r.players));
        }
        let mut conn = self.redis.get().await?;
        let applied: redis::RedisResult<u64> = invocation.invoke_async(&mut conn).await;
        self.redis.reset_on(applied).await
    }
}

/// What an unordered insert of `total` documents did, from its per-document write
/// errors `(index, code, message)`: duplicates were stored before, other refusals are
/// rejected. `None` when the batch must be tried again whole: no write error to go by,
/// one about the server's state rather than the document, or an index outside the batch.
pub fn sort_write_errors(total: u64, errors: &[(usize, i32, &str)]) -> Option<Logged> {
    if errors.is_empty()
        || errors
            .iter()
            .any(|(index, code, _)| TRANSIENT_WRITE_ERRORS.contains(code) || *index as u64 >= total)
    {
        return None;
    }
    let duplicates = errors
        .iter()
        .filter(|(_, code, _)| *code == DUPLICATE_KEY)
        .count() as u64;
    let rejected: Vec<Rejected> = errors
        .iter()
        .filter(|(_, code, _)| *code != DUPLICATE_KEY)
        .map(|(index, code, message)| Rejected {
            index: *index,
            reason: format!("MongoDB refused the result (code {code}): {message}"),
        })
        .collect();
    Some(Logged {
        stored: total.checked_sub(duplicates + rejected.len() as u64)?,
        duplicates,
        rejected,
    })
}

/// The results of a batch that MongoDB did not reject, in order (no copies: the
/// workers' batches move through here).
pub fn without_rejected(results: Vec<GameResult>, rejected: &[Rejected]) -> Vec<GameResult> {
    results
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !rejected.iter().any(|r| r.index == *i))
        .map(|(_, r)| r)
        .collect()
}

/// Where in the line-up the winner stood, in tenths: 0 for the first tenth of the
/// players, 9 for the last. A fair game spreads its wins evenly over the ten.
pub fn winner_decile(winner: u32, players: u32) -> u32 {
    // The middle of the winner's slot, so a line-up shorter than ten spreads over the
    // tenths instead of piling into the first.
    let players = u64::from(players.max(1));
    let slot_middle = 2 * u64::from(winner.clamp(1, players as u32)) - 1;
    (slot_middle * 10 / (2 * players)) as u32
}

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

#[cfg(test)]
mod tests {
    use super::{
        parse_database_name, parse_mongo_url, parse_redis_url, sort_write_errors, winner_decile,
        without_rejected, Rejected,
    };
    use crate::result::GameResult;

    #[test]
    fn database_names_mongodb_cannot_hold_are_refused() {
        assert_eq!(parse_database_name("squidgame").as_deref(), Ok("squidgame"));
        for bad in [
            "",
            "a/b",
            "a.b",
            "a b",
            "a$b",
            "a\\b",
            "a\0b",
            &"d".repeat(64),
        ] {
            let message = parse_database_name(bad).unwrap_err();
            assert!(
                message.starts_with("a MongoDB database name"),
                "{bad:?}: {message}"
            );
        }
    }

    #[test]
    fn write_errors_tell_duplicates_and_refusals_from_a_batch_to_retry() {
        let sorted = sort_write_errors(5, &[(0, 11000, "dup"), (3, 121, "failed validation")])
            .expect("per-document errors only");
        assert_eq!((sorted.stored, sorted.duplicates), (3, 1));
        assert_eq!(
            sorted.rejected,
            [Rejected {
                index: 3,
                reason: "MongoDB refused the result (code 121): failed validation".into()
            }]
        );
        // Nothing to go by, the server's state, or a reply that does not fit the batch:
        // the whole batch is tried again, nothing is rejected.
        assert_eq!(sort_write_errors(5, &[]), None);
        assert_eq!(
            sort_write_errors(5, &[(1, 121, "x"), (2, 10107, "not primary")]),
            None
        );
        assert_eq!(sort_write_errors(5, &[(1, 91, "shutting down")]), None);
        assert_eq!(sort_write_errors(2, &[(2, 121, "x")]), None);
    }

    #[test]
    fn store_urls_are_checked_at_start() {
        assert!(parse_redis_url("redis://127.0.0.1:6379/").is_ok());
        assert!(parse_mongo_url("mongodb://127.0.0.1:27017/").is_ok());
        assert!(parse_mongo_url("mongodb://a:1,b:2/?replicaSet=rs0").is_ok());
        for bad in ["", "garbage", "http://127.0.0.1:6379"] {
            assert!(parse_redis_url(bad).is_err(), "{bad:?}");
            assert!(parse_mongo_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rejected_results_are_left_out_in_order() {
        let batch: Vec<GameResult> = (0..4)
            .map(|i| GameResult {
                id: format!("r{i}"),
                ..GameResult::default()
            })
            .collect();
        let rejected = [1, 3].map(|index| Rejected {
            index,
            reason: String::new(),
        });
        let kept: Vec<String> = without_rejected(batch, &rejected)
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(kept, ["r0", "r2"]);
    }

    #[test]
    fn winner_deciles_split_the_line_up_in_tenths() {
        assert_eq!(winner_decile(1, 30), 0);
        assert_eq!(winner_decile(3, 30), 0);
        assert_eq!(winner_decile(4, 30), 1);
        assert_eq!(winner_decile(30, 30), 9);
        assert_eq!(winner_decile(1, 1), 5);
        assert_eq!(winner_decile(1, 2), 2);
        assert_eq!(winner_decile(2, 2), 7);
        assert_eq!(winner_decile(7, 7), 9);
        assert_eq!(winner_decile(1000, 1000), 9);
        // Out-of-range input (rejected earlier by validation) still lands in 0..=9.
        assert_eq!(winner_decile(0, 0), 5);
        assert_eq!(winner_decile(50, 10), 9);
    }
}
