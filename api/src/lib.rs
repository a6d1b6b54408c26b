//! api: the HTTP front door. Validates `/game/{game}/gamename/{name}/players/{players}`,
//! plays the game through grpc-server and answers with the result, or with a JSON error.

pub mod grpc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::percent_decode_str;
use squidgame_common::http::{self, json_error, json_ok, Metrics};
use squidgame_common::result::{game_label, quoted};
use squidgame_common::GameResultJson;
use squidgame_proto::PlayRequest;
use tide::{Request, Response, StatusCode};
use tonic::{Code, Status};

use crate::grpc::GameBackend;

#[derive(Debug, Clone, clap::Parser)]
#[command(version, about)]
pub struct Config {
    /// Address to serve HTTP on.
    #[arg(long, env = "API_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: String,
    /// grpc-server to play the games on.
    #[arg(long, env = "GRPC_URL", default_value = "http://127.0.0.1:50051", value_parser = parse_grpc_url)]
    pub grpc_url: String,
    /// Most players a game accepts (must not exceed grpc-server's).
    #[arg(long, env = "MAX_PLAYERS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=squidgame_common::result::MAX_PLAYERS as i64))]
    pub max_players: u32,
    /// Longest wait for grpc-server (which includes the queue's confirmation), in ms.
    #[arg(long, env = "GRPC_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=120_000))]
    pub grpc_timeout_ms: u64,
}

/// An `http://` or `https://` URL with a host, as tonic will dial it.
fn parse_grpc_url(url: &str) -> Result<String, String> {
    let parsed = url.parse::<tonic::transport::Uri>().ok();
    match parsed {
        Some(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {
            Ok(url.to_string())
        }
        _ => Err(format!(
            "expected an http:// or https:// URL of grpc-server, got {}",
            quoted(url)
        )),
    }
}

pub struct State {
    backend: GameBackend,
    max_players: u32,
    metrics: Metrics,
}

type App = tide::Server<Arc<State>>;

/// Builds the api; the caller serves it (see [`squidgame_common::http::serve`]).
pub fn build(config: &Config) -> anyhow::Result<App> {
    let backend = GameBackend::new(
        &config.grpc_url,
        Duration::from_millis(config.grpc_timeout_ms),
    )?;
    let metrics = Metrics::new()
        .describe(
            "squidgame_api_requests_total",
            "counter",
            "Game requests answered, by HTTP status.",
        )
        .describe(
            "squidgame_api_request_seconds_sum",
            "counter",
            "Total time spent answering game requests.",
        );
    let state = Arc::new(State {
        backend,
        max_players: config.max_players,
        metrics,
    });
    let mut app = tide::with_state(state);
    app.with(http::JsonErrors);
    app.at("/game/:game/gamename/:name/players/:players")
        .post(play)
        .all(|_req: Request<Arc<State>>| async {
            Ok(json_error(
                StatusCode::MethodNotAllowed,
                "use POST to play a game",
            ))
        });
    app.at("/games").get(list_games);
    app.at("/healthz").get(http::healthz);
    app.at("/readyz").get(readyz);
    app.at("/metrics")
        .get(|req: Request<Arc<State>>| async move { Ok(http::metrics_response(&req.state().metrics)) });
    Ok(app)
}

/// A request that passed validation.
#[derive(Debug, PartialEq, Eq)]
pub struct GameRequest {
    pub game: u32,
    pub name: String,
    pub players: u32,
}

/// Checks the three path segments; the error is the sentence returned with a 400.
pub fn parse_game_request(
    game: &str,
    name: &str,
    players: &str,
    max_players: u32,
) -> Result<GameRequest, String> {
    let game = game
        .parse::<u32>()
        .map_err(|_| format!("game must be a game number, got {}", quoted(game)))?;
    let name = percent_decode_str(name)
        .decode_utf8()
        .map_err(|_| "game name is not valid UTF-8 once percent-decoded".to_string())?
        .into_owned();
    let name = game_label(&name)?.to_string();
    let players = players
        .parse::<u32>()
        .ok()
        .filter(|p| (1..=max_players).contains(p))
        .ok_or_else(|| {
            format!(
                "players must be between 1 and {max_players}, got {}",
                quoted(players)
            )
        })?;
    Ok(GameRequest {
        game,
        name,
        players,
    })
}

async fn play(req: Request<Arc<State>>) -> tide::Result {
    let started = Instant::now();
    let state = req.state().clone();
    let res = play_inner(&req, &state).await;
    state.metrics.inc(
        "squidgame_api_requests_total",
        &format!("status=\"{}\"", res.status() as u16),
    );
    state.metrics.add(
        "squidgame_api_request_seconds_sum",
        "",
        started.elapsed().as_secs_f64(),
    );
    Ok(res)
}

async fn play_inner(req: &Request<Arc<State>>, state: &State) -> Response {
    let parsed = parse_game_request(
        req.param("game").unwrap_or_default(),
        req.param("name").unwrap_or_default(),
        req.param("players").unwrap_or_default(),
        state.max_players,
    );
    let request = match parsed {
        Ok(r) => r,
        Err(message) => return json_error(StatusCode::BadRequest, message),
    };
    let reply = state
        .backend
        .play(PlayRequest {
            game_id: request.game,
            game_name: request.name,
            players: request.players,
        })
        .await;
    match reply {
        Ok(result) => match json_ok(&GameResultJson::from(&result)) {
            Ok(res) => res,
            Err(e) => json_error(StatusCode::InternalServerError, e.to_string()),
        },
        Err(status) => status_to_response(&status),
    }
}

/// Maps a gRPC status to the HTTP answer the contract promises.
pub fn status_to_response(status: &Status) -> Response {
    let message = status.message().to_string();
    match status.code() {
        Code::NotFound => json_error(StatusCode::NotFound, message),
        Code::InvalidArgument => json_error(StatusCode::BadRequest, message),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
            let mut res = json_error(
                StatusCode::ServiceUnavailable,
                format!("game service unavailable, try again: {message}"),
            );
            res.insert_header("Retry-After", "1");
            res
        }
        _ => json_error(StatusCode::InternalServerError, message),
    }
}

async fn list_games(req: Request<Arc<State>>) -> tide::Result {
    match req.state().backend.list_games(Duration::from_secs(2)).await {
        Ok(list) => {
            let games: Vec<_> = list
                .games
                .iter()
                .map(|g| serde_json::json!({ "game": g.game_id, "name": g.name, "rule": g.rule }))
                .collect();
            json_ok(&serde_json::json!({
                "usage": "POST /game/{game}/gamename/{name}/players/{players}",
                "max_players": list.max_players,
                "games": games,
            }))
        }
        Err(status) => Ok(status_to_response(&status)),
    }
}

/// Ready when grpc-server answers.
async fn readyz(req: Request<Arc<State>>) -> tide::Result {
    match req.state().backend.list_games(Duration::from_secs(1)).await {
        Ok(_) => json_ok(&serde_json::json!({ "status": "ready" })),
        Err(status) => Ok(status_to_response(&status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grpc_url_is_checked_at_start() {
        assert!(parse_grpc_url("http://127.0.0.1:50051").is_ok());
        assert!(parse_grpc_url("https://grpc-kafka.squidgame.svc:50051").is_ok());
        for bad in ["", "garbage", "127.0.0.1:50051", "ftp://h:1", "http://"] {
            assert!(parse_grpc_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn accepts_a_valid_request_and_decodes_the_name() {
        assert_eq!(
            parse_game_request("2", "Red%20Light%20%F0%9F%A6%91", "30", 1000),
            Ok(GameRequest {
                game: 2,
                name: "Red Light 🦑".into(),
                players: 30
            })
        );
    }

    #[test]
    fn rejects_bad_values_with_a_sentence() {
        let err = |g: &str, n: &str, p: &str| parse_game_request(g, n, p, 1000).unwrap_err();
        assert_eq!(err("x", "A", "3"), "game must be a game number, got \"x\"");
        assert_eq!(
            err("1", "A", "0"),
            "players must be between 1 and 1000, got \"0\""
        );
        assert_eq!(
            err("1", "A", "1001"),
            "players must be between 1 and 1000, got \"1001\""
        );
        assert_eq!(
            err("1", "A", "-3"),
            "players must be between 1 and 1000, got \"-3\""
        );
        assert_eq!(
            err("1", "%20", "3"),
            "game name must be 1 to 64 characters, got 0"
        );
        let long = "a".repeat(65);
        assert!(err("1", &long, "3").contains("got 65"));
        assert!(err("1", "%FF", "3").contains("UTF-8"));
    }

    #[test]
    fn grpc_codes_map_to_http_statuses() {
        let status = |c| status_to_response(&Status::new(c, "m")).status();
        assert_eq!(status(Code::NotFound), StatusCode::NotFound);
        assert_eq!(status(Code::InvalidArgument), StatusCode::BadRequest);
        assert_eq!(status(Code::Unavailable), StatusCode::ServiceUnavailable);
        assert_eq!(status(Code::Internal), StatusCode::InternalServerError);
        let res = status_to_response(&Status::unavailable("down"));
        assert_eq!(res.header("Retry-After").map(|h| h.as_str()), Some("1"));
    }
}
