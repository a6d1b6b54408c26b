//! The gRPC `GameService`: validates, plays, publishes, answers.

use std::time::Duration;

use squidgame_common::result::{game_label, now_unix_ms};
use squidgame_common::Route;
use squidgame_proto::{
    GameInfo, GameResult, GameService, ListGamesRequest, ListGamesResponse, PlayRequest,
};
use tonic::{Request, Response, Status};

use crate::games::{self, Game};
use crate::publisher::Publisher;

pub struct GameServer {
    games: Vec<Box<dyn Game>>,
    route: Route,
    max_players: u32,
    publisher: Publisher,
    publish_timeout: Duration,
}

impl GameServer {
    pub fn new(
        route: Route,
        max_players: u32,
        publisher: Publisher,
        publish_timeout: Duration,
    ) -> Self {
        GameServer {
            games: games::catalog(),
            route,
            max_players,
            publisher,
            publish_timeout,
        }
    }

    fn known_numbers(&self) -> String {
        let numbers: Vec<String> = self.games.iter().map(|g| g.number().to_string()).collect();
        numbers.join(", ")
    }

    /// Plays a validated request; no network involved.
    fn play(&self, req: &PlayRequest) -> Result<GameResult, Status> {
        let game = self
            .games
            .iter()
            .find(|g| g.number() == req.game_id)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "unknown game {}: known games are {}",
                    req.game_id,
                    self.known_numbers()
                ))
            })?;
        if req.players == 0 || req.players > self.max_players {
            return Err(Status::invalid_argument(format!(
                "players must be between 1 and {}, got {}",
                self.max_players, req.players
            )));
        }
        let name = game_label(&req.game_name).map_err(Status::invalid_argument)?;
        let outcome = game.play(req.players, &mut rand::rng());
        let played_at_ms = now_unix_ms();
        Ok(GameResult {
            id: uuid::Uuid::new_v4().to_string(),
            game_id: req.game_id,
            game_name: name.to_string(),
            players: req.players,
            winner: outcome.winner,
            route: self.route.as_str().to_string(),
            played_at_ms,
            rounds: outcome.rounds,
        })
    }
}

#[tonic::async_trait]
impl GameService for GameServer {
    async fn play(&self, request: Request<PlayRequest>) -> Result<Response<GameResult>, Status> {
        let result = GameServer::play(self, request.get_ref())?;
        self.publisher
            .publish(&result, self.publish_timeout)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, route = %self.route, "publish failed");
                Status::unavailable(e.to_string())
            })?;
        Ok(Response::new(result))
    }

    async fn list_games(
        &self,
        _request: Request<ListGamesRequest>,
    ) -> Result<Response<ListGamesResponse>, Status> {
        Ok(Response::new(ListGamesResponse {
            games: self
                .games
                .iter()
                .map(|g| GameInfo {
                    game_id: g.number(),
                    name: g.name().to_string(),
                    rule: g.rule().to_string(),
                })
                .collect(),
            max_players: self.max_players,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publisher::RabbitPublisher;

    fn server() -> GameServer {
        // The publisher connects lazily: nothing is contacted by `play`.
        let publisher = Publisher::Rabbit(Box::new(RabbitPublisher::new("amqp://127.0.0.1:1/%2f")));
        GameServer::new(Route::Rabbitmq, 10_000, publisher, Duration::from_secs(1))
    }

    fn request(game_id: u32, players: u32) -> PlayRequest {
        PlayRequest {
            game_id,
            game_name: "Label".into(),
            players,
        }
    }

    #[test]
    fn unknown_game_is_not_found_and_lists_the_known_numbers() {
        let status = server().play(&request(42, 3)).unwrap_err();
        assert_eq!(status.code(), tonic::Code::NotFound);
        assert_eq!(
            status.message(),
            "unknown game 42: known games are 1, 2, 3, 4, 5, 6"
        );
    }

    #[test]
    fn players_outside_the_range_are_invalid_with_the_range_named() {
        for players in [0, 10_001] {
            let status = server().play(&request(1, players)).unwrap_err();
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert_eq!(
                status.message(),
                format!("players must be between 1 and 10000, got {players}")
            );
        }
    }

    #[test]
    fn a_result_carries_the_route_a_fresh_id_and_game_detail() {
        let s = server();
        let a = s.play(&request(2, 10_000)).expect("played");
        let b = s.play(&request(2, 10_000)).expect("played");
        assert_ne!(a.id, b.id);
        assert_eq!(
            uuid::Uuid::parse_str(&a.id).map(|u| u.get_version_num()),
            Ok(4)
        );
        assert_eq!(a.route, "rabbitmq");
        assert_eq!(a.rounds, 9_999, "roulette spins once per eliminated player");
        assert!((1..=10_000).contains(&a.winner));
        assert_eq!(a.game_name, "Label");
        assert!(a.played_at_ms > 1_700_000_000_000);
    }
}
