//! grpc-server: plays Squid Games over gRPC and publishes each result to its route's
//! queue (Kafka or RabbitMQ), answering only once the queue confirmed it.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use squidgame_common::kafka::KafkaArgs;
use squidgame_common::rabbitmq::AmqpArgs;
use squidgame_common::{kafka, telemetry, Route, Shutdown};
use squidgame_proto::GameServiceServer;

use grpc_server::publisher::{KafkaPublisher, Publisher, RabbitPublisher};
use grpc_server::service::GameServer;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "GRPC_LISTEN", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// The queue this server publishes to: kafka or rabbitmq.
    #[arg(long, env = "GRPC_QUEUE")]
    queue: Route,
    /// Most players a game accepts.
    #[arg(long, env = "MAX_PLAYERS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=squidgame_common::result::MAX_PLAYERS as i64))]
    max_players: u32,
    /// How long to wait for the queue to confirm a result, in milliseconds.
    #[arg(long, env = "PUBLISH_TIMEOUT_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    publish_timeout_ms: u64,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    amqp: AmqpArgs,
}

fn main() -> ExitCode {
    telemetry::init("info");
    let config = Config::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("grpc-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grpc-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = Shutdown::on_signals()?;
    let timeout = Duration::from_millis(config.publish_timeout_ms);
    let publisher = match config.queue {
        Route::Kafka => {
            let brokers = config.kafka.kafka_brokers.clone();
            let replication = config.kafka.kafka_topic_replication;
            tokio::spawn(async move {
                while let Err(e) = kafka::ensure_topics(&brokers, replication).await {
                    tracing::warn!(error = %e, "cannot create the Kafka topics yet; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            });
            Publisher::Kafka(KafkaPublisher::new(&config.kafka, timeout)?)
        }
        Route::Rabbitmq => Publisher::Rabbit(Box::new(RabbitPublisher::new(&config.amqp.amqp_url))),
    };
    let server = GameServer::new(config.queue, config.max_players, publisher, timeout);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    tracing::info!(listen = %config.listen, queue = %config.queue, "grpc-server ready");
    tonic::transport::Server::builder()
        .add_service(GameServiceServer::new(server))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            async move { shutdown.wait().await },
        )
        .await?;
    tracing::info!("grpc-server stopped");
    Ok(())
}
