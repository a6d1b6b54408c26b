//! The game log: reads of the MongoDB `games` collection.

use std::collections::BTreeMap;

use mongodb::bson::{doc, Bson, Document};
use serde::Serialize;

use super::{Store, StoreError, GAMES};
use crate::result::{format_unix_ms, GameResultJson, Route};

/// The most groups a summary reads (one reply; routes and top names are far fewer).
const GROUPS_IN_ONE_REPLY: i32 = 10_000;
/// Games per page of the log.
pub const LOG_PAGE_SIZE: u64 = 25;

/// The summary of the whole log. Counting scans the collection, so readers that
/// answer often (the dashboard) should cache it.
#[derive(Debug, Clone, Serialize)]
pub struct LogStats {
    pub games: u64,
    pub by_route: RouteCounts,
    pub top_games: Vec<GamePlayed>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RouteCounts {
    pub kafka: u64,
    pub rabbitmq: u64,
}

impl RouteCounts {
    pub(super) fn from_map(map: &BTreeMap<String, u64>) -> Self {
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
pub struct GamePlayed {
    pub game_name: String,
    pub played: u64,
}

/// Which games of the log to list; `None` matches all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogFilter {
    pub game: Option<u32>,
    pub winner: Option<u32>,
    pub route: Option<Route>,
}

impl LogFilter {
    fn to_document(self) -> Document {
        let mut filter = Document::new();
        if let Some(game) = self.game {
            filter.insert("game_id", i64::from(game));
        }
        if let Some(winner) = self.winner {
            filter.insert("winner", i64::from(winner));
        }
        if let Some(route) = self.route {
            filter.insert("route", route.as_str());
        }
        filter
    }
}

/// One page of the log, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct LogPage {
    /// 1-based.
    pub page: u64,
    pub per_page: u64,
    pub filter: LogFilter,
    pub games: Vec<GameResultJson>,
    /// Whether a further page has games.
    pub has_next: bool,
}

impl Store {
    /// The summary of the whole log: count, games per route, the three most played names.
    /// Plain commands whose whole answer comes in one reply: no cursor is left open
    /// on the server, and nothing waits on a follow-up request.
    pub async fn log_stats(&self) -> Result<LogStats, StoreError> {
        let count = self.db.run_command(doc! { "count": GAMES }).await?;
        let games = integer(&count, "n").unwrap_or(0).max(0) as u64;
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

    /// Page `page` (1-based) of the games matching `filter`, newest first. Reads one
    /// game more than the page holds to learn whether a next page exists, instead of
    /// counting every match.
    pub async fn log_page(&self, filter: LogFilter, page: u64) -> Result<LogPage, StoreError> {
        let page = page.max(1);
        let mut cursor = self
            .games
            .find(filter.to_document())
            // `_id` orders games played in the same millisecond, so pages never overlap.
            .sort(doc! { "played_at": -1, "_id": 1 })
            .skip((page - 1) * LOG_PAGE_SIZE)
            .limit(LOG_PAGE_SIZE as i64 + 1)
            .await?;
        let mut games = Vec::new();
        while cursor.advance().await? {
            if let Some(game) = result_of(&cursor.deserialize_current()?) {
                games.push(game);
            }
        }
        let has_next = games.len() as u64 > LOG_PAGE_SIZE;
        games.truncate(LOG_PAGE_SIZE as usize);
        Ok(LogPage {
            page,
            per_page: LOG_PAGE_SIZE,
            filter,
            games,
            has_next,
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
        let reply = self
            .db
            .run_command(doc! {
                "aggregate": GAMES,
                "pipeline": pipeline,
                "cursor": { "batchSize": GROUPS_IN_ONE_REPLY },
            })
            .await?;
        let rows = reply
            .get_document("cursor")
            .and_then(|cursor| cursor.get_array("firstBatch"))
            .map_err(|e| StoreError::Reply(format!("aggregate on {field}: {e}")))?;
        let mut out = Vec::new();
        for row in rows.iter().filter_map(Bson::as_document) {
            let key = match row.get("_id") {
                Some(Bson::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => continue,
            };
            out.push((key, integer(row, "n").unwrap_or(0) as u64));
        }
        Ok(out)
    }
}

/// A number field, whichever BSON number type the server returned it as.
fn integer(doc: &Document, key: &str) -> Option<i64> {
    match doc.get(key)? {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(n) => Some(*n as i64),
        _ => None,
    }
}

/// The JSON view of a stored game (the inverse of `game_document`).
fn result_of(doc: &Document) -> Option<GameResultJson> {
    let number = |key| integer(doc, key).and_then(|n| u32::try_from(n).ok());
    Some(GameResultJson {
        id: doc.get_str("_id").ok()?.to_string(),
        game: number("game_id")?,
        game_name: doc.get_str("game_name").ok()?.to_string(),
        players: number("players")?,
        winner: number("winner")?,
        route: doc.get_str("route").ok()?.to_string(),
        played_at: format_unix_ms(doc.get_datetime("played_at").ok()?.timestamp_millis()),
        rounds: number("rounds").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::game_document;
    use crate::GameResult;

    #[test]
    fn a_stored_document_reads_back_as_the_result() {
        let result = GameResult {
            id: "5b0c8a4e-3a55-4b7e-9a43-2f7e0f6a1c11".into(),
            game_id: 4,
            game_name: "Glass <Bridge>".into(),
            players: 16,
            winner: 9,
            route: "rabbitmq".into(),
            played_at_ms: 1_767_225_600_123,
            rounds: 18,
        };
        let json = result_of(&game_document(&result)).expect("a stored game");
        assert_eq!(json, GameResultJson::from(&result));
    }

    #[test]
    fn filters_select_on_the_stored_fields() {
        let filter = LogFilter {
            game: Some(2),
            winner: Some(7),
            route: Some(Route::Kafka),
        };
        assert_eq!(
            filter.to_document(),
            doc! { "game_id": 2_i64, "winner": 7_i64, "route": "kafka" }
        );
        assert_eq!(LogFilter::default().to_document(), doc! {});
    }
}
