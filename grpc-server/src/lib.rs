//! grpc-server's library: the games, the queue publishers and the gRPC service.

pub mod games;
pub mod publisher;
pub mod service;
