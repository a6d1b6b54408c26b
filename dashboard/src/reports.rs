//! The reports behind the pages, their inputs, and the JSON twins.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use squidgame_common::http::json_error;
use squidgame_common::result::{quoted, Route};
use squidgame_common::store::{
    GameStats, LiveStats, LogFilter, LogPage, LogStats, PlayerStats, StoreError,
};
use tide::http::mime;
use tide::{Request, Response, StatusCode};

use crate::Dashboard;

pub(crate) type Req = Request<Arc<Dashboard>>;

/// How many players the overview ranks.
const TOP_PLAYERS: usize = 10;

/// Why a report could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The request asked for something that cannot exist (400).
    BadInput(String),
    /// The report's store is down (503).
    Down(String),
}

impl Failure {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Failure::BadInput(_) => StatusCode::BadRequest,
            Failure::Down(_) => StatusCode::ServiceUnavailable,
        }
    }

    pub(crate) fn message(&self) -> &str {
        match self {
            Failure::BadInput(m) | Failure::Down(m) => m,
        }
    }

    fn redis(e: StoreError) -> Failure {
        Failure::Down(format!("Redis is unavailable: {}", e.brief()))
    }

    fn mongo(e: StoreError) -> Failure {
        Failure::Down(format!("MongoDB is unavailable: {}", e.brief()))
    }
}

/// How long a page waits for a store before calling it unavailable (a store that
/// hangs must not hold every open page's refresh).
pub(crate) const STORE_LIMIT: Duration = Duration::from_secs(4);

/// `read` with the store time limit; `down` names the store in the failure.
async fn within_limit<T>(
    store: &str,
    down: fn(StoreError) -> Failure,
    read: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, Failure> {
    match async_std::future::timeout(STORE_LIMIT, read).await {
        Ok(result) => result.map_err(down),
        Err(_) => Err(Failure::Down(format!(
            "{store} is unavailable: no answer within {} s",
            STORE_LIMIT.as_secs()
        ))),
    }
}

async fn from_redis<T>(
    read: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, Failure> {
    within_limit("Redis", Failure::redis, read).await
}

async fn from_mongo<T>(
    read: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, Failure> {
    within_limit("MongoDB", Failure::mongo, read).await
}

/// The overview: the Redis report with the game log's cached summary beside it.
#[derive(Debug, Serialize)]
pub struct Overview {
    pub redis: Option<LiveStats>,
    pub mongo: Option<LogStats>,
    /// When the MongoDB summary was taken (RFC 3339); `None` before the first one.
    pub mongo_as_of: Option<String>,
    /// Which store is down, one sentence each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Overview {
    /// 503 only when the overview's own store, Redis, is down.
    pub(crate) fn status(&self) -> StatusCode {
        if self.redis.is_some() {
            StatusCode::Ok
        } else {
            StatusCode::ServiceUnavailable
        }
    }
}

pub(crate) async fn overview(dashboard: &Dashboard) -> Overview {
    let (redis, summary) = futures_lite::future::zip(
        from_redis(dashboard.store.live_stats(TOP_PLAYERS)),
        dashboard.summary.get(),
    )
    .await;
    let mut errors = Vec::new();
    let redis = redis
        .map_err(|failure| errors.push(failure.message().to_string()))
        .ok();
    errors.extend(summary.error);
    Overview {
        redis,
        mongo: summary.stats,
        mongo_as_of: summary.as_of,
        errors,
    }
}

/// The game log report: one page of games and the log's cached summary.
#[derive(Debug, Serialize)]
pub struct LogReport {
    pub log: Option<LogPage>,
    pub summary: Option<LogStats>,
    pub summary_as_of: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl LogReport {
    /// 503 when MongoDB could not give the page.
    pub(crate) fn status(&self) -> StatusCode {
        if self.log.is_some() {
            StatusCode::Ok
        } else {
            StatusCode::ServiceUnavailable
        }
    }
}

pub(crate) async fn log_report(dashboard: &Dashboard, filter: LogFilter, page: u64) -> LogReport {
    let (log, summary) = futures_lite::future::zip(
        from_mongo(dashboard.store.log_page(filter, page)),
        dashboard.summary.get(),
    )
    .await;
    let mut errors = Vec::new();
    // When the page came, MongoDB is up and a failed summary is only stale news.
    let log = log
        .map_err(|failure| errors.push(failure.message().to_string()))
        .ok();
    LogReport {
        log,
        summary: summary.stats,
        summary_as_of: summary.as_of,
        errors,
    }
}

pub(crate) async fn player_report(
    dashboard: &Dashboard,
    player: u32,
) -> Result<PlayerStats, Failure> {
    from_redis(dashboard.store.player_stats(player)).await
}

pub(crate) async fn game_report(dashboard: &Dashboard, game: u32) -> Result<GameStats, Failure> {
    from_redis(dashboard.store.game_stats(game)).await
}

// ---------------------------------------------------------------- inputs

/// A path or query number that names a player, a game or a page: 1 to `u32::MAX`.
pub(crate) fn parse_number(what: &str, value: &str) -> Result<u32, Failure> {
    // Digits only: Rust's parser would also take "+7", a number no link carries.
    let digits = value.trim();
    let parsed = digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse::<u32>());
    match parsed {
        Some(Ok(n)) if n >= 1 => Ok(n),
        Some(Err(e)) if *e.kind() == std::num::IntErrorKind::PosOverflow => {
            Err(Failure::BadInput(format!(
                "invalid {what} {}: the largest {what} number is {}",
                quoted(value),
                u32::MAX
            )))
        }
        _ => Err(Failure::BadInput(format!(
            "invalid {what} {}: expected a {what} number (1 or more)",
            quoted(value)
        ))),
    }
}

/// A number from the path, percent-decoded (`/players/%37` is player 7).
pub(crate) fn path_number(req: &Req, param: &str) -> Result<u32, Failure> {
    let raw = req.param(param).unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    parse_number(param, &decoded)
}

/// The query string as pairs; a malformed one is bad input.
pub(crate) fn query_pairs(req: &Req) -> Result<HashMap<String, String>, Failure> {
    req.query::<HashMap<String, String>>()
        .map_err(|e| Failure::BadInput(format!("invalid query string: {e}")))
}

/// `/log`'s filters and page; empty fields (as a form sends them) mean "any".
pub(crate) fn log_query(pairs: &HashMap<String, String>) -> Result<(LogFilter, u64), Failure> {
    let given = |key: &str| pairs.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let number = |key: &str| given(key).map(|v| parse_number(key, v)).transpose();
    let route = given("route")
        .map(|v| v.parse::<Route>().map_err(Failure::BadInput))
        .transpose()?;
    let filter = LogFilter {
        game: number("game")?,
        winner: number("winner")?,
        route,
    };
    let page = number("page")?.unwrap_or(1);
    Ok((filter, u64::from(page)))
}

// ---------------------------------------------------------------- JSON twins

fn json<T: Serialize>(status: StatusCode, value: &T) -> tide::Result {
    Ok(Response::builder(status)
        .content_type(mime::JSON)
        .body(serde_json::to_string(value)?)
        .build())
}

fn json_result<T: Serialize>(report: Result<T, Failure>) -> tide::Result {
    match report {
        Ok(value) => json(StatusCode::Ok, &value),
        Err(failure) => Ok(json_error(failure.status(), failure.message())),
    }
}

pub(crate) async fn overview_json(req: Req) -> tide::Result {
    let overview = overview(req.state()).await;
    json(overview.status(), &overview)
}

pub(crate) async fn log_json(req: Req) -> tide::Result {
    let (filter, page) = match query_pairs(&req).and_then(|pairs| log_query(&pairs)) {
        Ok(query) => query,
        Err(failure) => return json_result::<()>(Err(failure)),
    };
    let report = log_report(req.state(), filter, page).await;
    json(report.status(), &report)
}

pub(crate) async fn player_json(req: Req) -> tide::Result {
    let report = match path_number(&req, "player") {
        Ok(player) => player_report(req.state(), player).await,
        Err(failure) => Err(failure),
    };
    json_result(report)
}

pub(crate) async fn game_json(req: Req) -> tide::Result {
    let report = match path_number(&req, "game") {
        Ok(game) => game_report(req.state(), game).await,
        Err(failure) => Err(failure),
    };
    json_result(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> HashMap<String, String> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn log_filters_parse_and_empty_fields_mean_any() {
        let (filter, page) = log_query(&pairs(&[
            ("game", "2"),
            ("winner", ""),
            ("route", "rabbitmq"),
            ("page", "3"),
        ]))
        .expect("valid");
        assert_eq!(
            filter,
            LogFilter {
                game: Some(2),
                winner: None,
                route: Some(Route::Rabbitmq)
            }
        );
        assert_eq!(page, 3);
        assert_eq!(
            log_query(&pairs(&[])).expect("valid"),
            (LogFilter::default(), 1)
        );
    }

    #[test]
    fn bad_log_filters_name_the_field_and_the_value() {
        let message = |items: &[(&str, &str)]| match log_query(&pairs(items)) {
            Err(Failure::BadInput(m)) => m,
            other => panic!("expected bad input, got {other:?}"),
        };
        assert_eq!(
            message(&[("winner", "abc")]),
            r#"invalid winner "abc": expected a winner number (1 or more)"#
        );
        assert_eq!(
            message(&[("page", "0")]),
            r#"invalid page "0": expected a page number (1 or more)"#
        );
        assert_eq!(
            message(&[("route", "sqs")]),
            r#"unknown route "sqs": expected "kafka" or "rabbitmq""#
        );
    }

    #[test]
    fn player_and_game_numbers_start_at_1() {
        assert_eq!(parse_number("player", "17"), Ok(17));
        assert_eq!(
            parse_number("player", "0"),
            Err(Failure::BadInput(
                r#"invalid player "0": expected a player number (1 or more)"#.into()
            ))
        );
        assert!(parse_number("game", "-1").is_err());
        assert!(parse_number("player", "+1").is_err());
        assert_eq!(parse_number("player", " 7 "), Ok(7));
        let long = "9".repeat(5_000);
        let Err(Failure::BadInput(message)) = parse_number("game", &long) else {
            panic!("a 5,000-digit game number is bad input");
        };
        assert!(message.len() < 120, "{message}");
        assert_eq!(
            parse_number("page", "4294967296"),
            Err(Failure::BadInput(
                r#"invalid page "4294967296": the largest page number is 4294967295"#.into()
            ))
        );
        assert_eq!(parse_number("page", "4294967295"), Ok(u32::MAX));
    }
}
