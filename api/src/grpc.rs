//! The bridge from async-std (tide) to tokio (tonic): the one place the api touches tokio.

use std::time::Duration;

use squidgame_proto::{
    GameResult, GameServiceClient, ListGamesRequest, ListGamesResponse, PlayRequest,
};
use tonic::transport::{Channel, Endpoint};
use tonic::Status;

/// A gRPC client to grpc-server whose calls run on a small private tokio runtime.
pub struct GameBackend {
    runtime: tokio::runtime::Runtime,
    client: GameServiceClient<Channel>,
}

impl GameBackend {
    /// Connects lazily: the api starts even when grpc-server is not up yet, and the
    /// channel reconnects by itself when grpc-server comes back.
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("grpc-client")
            .enable_all()
            .build()?;
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| anyhow::anyhow!("invalid --grpc-url {url:?}: {e}"))?
            .connect_timeout(Duration::from_secs(2))
            .timeout(timeout)
            .tcp_nodelay(true);
        let channel = {
            let _guard = runtime.enter();
            endpoint.connect_lazy()
        };
        Ok(GameBackend {
            runtime,
            client: GameServiceClient::new(channel),
        })
    }

    pub async fn play(&self, request: PlayRequest) -> Result<GameResult, Status> {
        let mut client = self.client.clone();
        self.runtime
            .spawn(async move { client.play(request).await.map(|r| r.into_inner()) })
            .await
            .unwrap_or_else(|e| Err(Status::internal(format!("gRPC call failed: {e}"))))
    }

    pub async fn list_games(&self, timeout: Duration) -> Result<ListGamesResponse, Status> {
        let mut client = self.client.clone();
        self.runtime
            .spawn(async move {
                match tokio::time::timeout(timeout, client.list_games(ListGamesRequest {})).await {
                    Ok(reply) => reply.map(|r| r.into_inner()),
                    Err(_) => Err(Status::deadline_exceeded(
                        "grpc-server did not answer in time",
                    )),
                }
            })
            .await
            .unwrap_or_else(|e| Err(Status::internal(format!("gRPC call failed: {e}"))))
    }
}
