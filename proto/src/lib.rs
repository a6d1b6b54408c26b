//! Generated types for `squidgame.v1`: the gRPC `GameService` and `GameResult`,
//! the protobuf message carried by both queues.

#![allow(clippy::derive_partial_eq_without_eq)]

tonic::include_proto!("squidgame.v1");

pub use game_service_client::GameServiceClient;
pub use game_service_server::{GameService, GameServiceServer};
