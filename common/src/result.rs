//! The game result as it travels (protobuf) and as users see it (JSON).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use prost::Message;
use serde::{Deserialize, Serialize};

pub use squidgame_proto::GameResult;

/// The queue a result travels on; also the name of the api/grpc-server pair serving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    Kafka,
    Rabbitmq,
}

impl Route {
    pub const ALL: [Route; 2] = [Route::Kafka, Route::Rabbitmq];

    pub fn as_str(self) -> &'static str {
        match self {
            Route::Kafka => "kafka",
            Route::Rabbitmq => "rabbitmq",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Route {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kafka" => Ok(Route::Kafka),
            "rabbitmq" => Ok(Route::Rabbitmq),
            other => Err(format!(
                "unknown route {}: expected \"kafka\" or \"rabbitmq\"",
                quoted(other)
            )),
        }
    }
}

/// The most characters of a user's value that an error message repeats.
const QUOTED_CHARS: usize = 40;

/// `value` in quotes for an error message, cut after `QUOTED_CHARS` characters: the
/// message names what the user gave without echoing a whole 8 KB path back.
pub fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{:?}", format!("{}…", &value[..cut])),
        None => format!("{value:?}"),
    }
}

/// Longest game label a result may carry, in characters (the api's limit).
pub const MAX_GAME_NAME_CHARS: usize = 64;
/// The most players any game may have (the upper end of `MAX_PLAYERS`).
pub const MAX_PLAYERS: u32 = 1_000_000;
/// How far ahead of the worker's clock a play time may be (clocks of other machines
/// drift; a result from further ahead would stay "latest" for good).
pub const MAX_CLOCK_AHEAD_MS: i64 = 24 * 60 * 60 * 1000;
/// Longest result id accepted, in bytes (grpc-server's ids are 36-character UUIDs).
pub const MAX_ID_BYTES: usize = 64;
/// Latest play time a result may carry: the last millisecond of year 9999, the end of
/// what MongoDB dates and RFC 3339 can both hold.
pub const MAX_PLAYED_AT_MS: i64 = 253_402_300_799_999;

/// A game label as every part of the pipeline takes it: trimmed, 1 to
/// `MAX_GAME_NAME_CHARS` characters. The error is the sentence shown to the user.
pub fn game_label(name: &str) -> Result<&str, String> {
    let label = name.trim();
    let chars = label.chars().count();
    if chars == 0 || chars > MAX_GAME_NAME_CHARS {
        return Err(format!(
            "game name must be 1 to {MAX_GAME_NAME_CHARS} characters, got {chars}"
        ));
    }
    Ok(label)
}

/// Why a queue message is not a usable result (it goes to the dead-letter destination).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidResult {
    #[error("message is not a protobuf GameResult: {0}")]
    Decode(String),
    #[error("result has no id")]
    MissingId,
    #[error("result id is {0} bytes long; the most is {MAX_ID_BYTES}")]
    IdTooLong(usize),
    #[error("result {id}: {reason}")]
    BadGameName { id: String, reason: String },
    #[error("result {id}: played_at_ms {played_at_ms} is before 1970 or more than a day ahead of this clock")]
    PlayedAtOutOfRange { id: String, played_at_ms: i64 },
    #[error("result {id}: game number must be 1 or more")]
    NoGameNumber { id: String },
    #[error("result {id}: {players} players is more than {MAX_PLAYERS}")]
    TooManyPlayers { id: String, players: u32 },
    #[error("result {id}: winner {winner} is outside 1..={players}")]
    WinnerOutOfRange {
        id: String,
        winner: u32,
        players: u32,
    },
    #[error("result {id}: {reason}")]
    BadRoute { id: String, reason: String },
}

/// Decodes a queue message body and checks the invariants every stored result must meet.
pub fn decode_result(body: &[u8]) -> Result<GameResult, InvalidResult> {
    let result = GameResult::decode(body).map_err(|e| InvalidResult::Decode(e.to_string()))?;
    validate(&result)?;
    Ok(result)
}

/// Checks the invariants every stored result must meet.
pub fn validate(result: &GameResult) -> Result<(), InvalidResult> {
    if result.id.is_empty() {
        return Err(InvalidResult::MissingId);
    }
    if result.id.len() > MAX_ID_BYTES {
        return Err(InvalidResult::IdTooLong(result.id.len()));
    }
    // grpc-server stores the label trimmed; anything else did not come from it.
    let label = match game_label(&result.game_name) {
        Ok(label) if label != result.game_name => {
            Err("game name has leading or trailing spaces".to_string())
        }
        checked => checked.map(|_| ()),
    };
    if let Err(reason) = label {
        return Err(InvalidResult::BadGameName {
            id: result.id.clone(),
            reason,
        });
    }
    if result.game_id == 0 {
        return Err(InvalidResult::NoGameNumber {
            id: result.id.clone(),
        });
    }
    if result.players > MAX_PLAYERS {
        return Err(InvalidResult::TooManyPlayers {
            id: result.id.clone(),
            players: result.players,
        });
    }
    let latest = now_unix_ms()
        .saturating_add(MAX_CLOCK_AHEAD_MS)
        .min(MAX_PLAYED_AT_MS);
    if !(0..=latest).contains(&result.played_at_ms) {
        return Err(InvalidResult::PlayedAtOutOfRange {
            id: result.id.clone(),
            played_at_ms: result.played_at_ms,
        });
    }
    if result.winner == 0 || result.winner > result.players {
        return Err(InvalidResult::WinnerOutOfRange {
            id: result.id.clone(),
            winner: result.winner,
            players: result.players,
        });
    }
    result
        .route
        .parse::<Route>()
        .map_err(|reason| InvalidResult::BadRoute {
            id: result.id.clone(),
            reason,
        })?;
    Ok(())
}

/// The JSON shape of a result: the api's 200 body, the Redis `recent` list entries
/// and the dashboard's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameResultJson {
    pub id: String,
    pub game: u32,
    pub game_name: String,
    pub players: u32,
    pub winner: u32,
    pub route: String,
    /// RFC 3339, UTC, millisecond precision.
    pub played_at: String,
    pub rounds: u32,
}

impl From<&GameResult> for GameResultJson {
    fn from(r: &GameResult) -> Self {
        GameResultJson {
            id: r.id.clone(),
            game: r.game_id,
            game_name: r.game_name.clone(),
            players: r.players,
            winner: r.winner,
            route: r.route.clone(),
            played_at: format_unix_ms(r.played_at_ms),
            rounds: r.rounds,
        }
    }
}

/// This machine's clock in unix milliseconds (0 if it is set before 1970).
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Formats unix milliseconds as RFC 3339 UTC; times outside 1970..=9999 clamp to the
/// nearest end (RFC 3339 has no other years).
pub fn format_unix_ms(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.clamp(0, MAX_PLAYED_AT_MS) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GameResult {
        GameResult {
            id: "0b0c5f7e-0000-4000-8000-000000000001".into(),
            game_id: 2,
            game_name: "Roulette".into(),
            players: 30,
            winner: 7,
            route: "kafka".into(),
            played_at_ms: 1_700_000_000_123,
            rounds: 29,
        }
    }

    #[test]
    fn a_valid_result_round_trips_through_protobuf() {
        let body = sample().encode_to_vec();
        assert_eq!(decode_result(&body), Ok(sample()));
    }

    #[test]
    fn garbage_is_not_a_result() {
        assert!(matches!(
            decode_result(b"\xff\xff\xff"),
            Err(InvalidResult::Decode(_))
        ));
    }

    #[test]
    fn invariants_are_checked() {
        let mut r = sample();
        r.winner = 31;
        assert!(matches!(
            validate(&r),
            Err(InvalidResult::WinnerOutOfRange { winner: 31, .. })
        ));
        let mut r = sample();
        r.id.clear();
        assert_eq!(validate(&r), Err(InvalidResult::MissingId));
        let mut r = sample();
        r.route = "carrier-pigeon".into();
        assert!(matches!(validate(&r), Err(InvalidResult::BadRoute { .. })));
    }

    #[test]
    fn results_that_no_store_could_hold_are_invalid() {
        let mut r = sample();
        r.played_at_ms = MAX_PLAYED_AT_MS + 1;
        assert!(matches!(
            validate(&r),
            Err(InvalidResult::PlayedAtOutOfRange { .. })
        ));
        r.played_at_ms = -1;
        assert!(matches!(
            validate(&r),
            Err(InvalidResult::PlayedAtOutOfRange { .. })
        ));
        r.played_at_ms = now_unix_ms() + MAX_CLOCK_AHEAD_MS + 60_000;
        assert!(matches!(
            validate(&r),
            Err(InvalidResult::PlayedAtOutOfRange { .. })
        ));
        r.played_at_ms = now_unix_ms() + 60_000;
        assert_eq!(validate(&r), Ok(()), "a clock a minute ahead is fine");
        let mut r = sample();
        r.game_id = 0;
        assert!(matches!(
            validate(&r),
            Err(InvalidResult::NoGameNumber { .. })
        ));
        let mut r = sample();
        r.players = MAX_PLAYERS + 1;
        r.winner = 1;
        assert!(matches!(
            validate(&r),
            Err(InvalidResult::TooManyPlayers { .. })
        ));
        let mut r = sample();
        r.id = "x".repeat(MAX_ID_BYTES + 1);
        assert_eq!(
            validate(&r),
            Err(InvalidResult::IdTooLong(MAX_ID_BYTES + 1))
        );
        for name in ["", "   ", &"n".repeat(MAX_GAME_NAME_CHARS + 1)] {
            let mut r = sample();
            r.game_name = name.into();
            assert!(
                matches!(validate(&r), Err(InvalidResult::BadGameName { .. })),
                "{name:?}"
            );
        }
        let mut r = sample();
        r.game_name = "ñ".repeat(MAX_GAME_NAME_CHARS);
        assert_eq!(validate(&r), Ok(()));
    }

    #[test]
    fn times_outside_rfc3339_years_clamp_instead_of_failing() {
        assert_eq!(format_unix_ms(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_unix_ms(i64::MIN), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn json_view_uses_rfc3339_time() {
        let json = GameResultJson::from(&sample());
        assert_eq!(json.played_at, "2023-11-14T22:13:20.123Z");
        assert_eq!(json.game, 2);
        assert_eq!(json.route, "kafka");
    }

    #[test]
    fn routes_parse_and_print() {
        for route in Route::ALL {
            assert_eq!(route.as_str().parse::<Route>(), Ok(route));
        }
        assert!("Kafka ".parse::<Route>().is_err());
    }

    #[test]
    fn errors_quote_long_values_cut_on_a_character_boundary() {
        assert_eq!(quoted("sqs"), r#""sqs""#);
        let long = "ñ".repeat(6_000);
        let shown = quoted(&long);
        assert_eq!(shown.chars().count(), QUOTED_CHARS + 3, "{shown}");
        assert!(shown.ends_with("…\""));
        let message = long.parse::<Route>().unwrap_err();
        assert!(message.len() < 200, "{message}");
    }
}
