//! RabbitMQ names and topology shared by grpc-server (publisher) and worker-rabbit.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};

pub const RESULTS_QUEUE: &str = "squidgame.results";
pub const DLX_EXCHANGE: &str = "squidgame.dlx";
pub const DLQ_QUEUE: &str = "squidgame.results.dlq";
/// Header carrying why a message was dead-lettered.
pub const REASON_HEADER: &str = "x-squidgame-reason";

#[derive(Debug, Clone, clap::Args)]
pub struct AmqpArgs {
    /// RabbitMQ URL.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,
}

/// Declares the durable results queue, the dead-letter exchange and queue (idempotent;
/// publisher and consumer both call it so either may start first).
pub async fn declare_topology(channel: &Channel) -> Result<(), lapin::Error> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .exchange_declare(
            DLX_EXCHANGE.into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(DLQ_QUEUE.into(), durable, FieldTable::default())
        .await?;
    channel
        .queue_bind(
            DLQ_QUEUE.into(),
            DLX_EXCHANGE.into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-dead-letter-exchange"),
        AMQPValue::LongString(DLX_EXCHANGE.into()),
    );
    channel
        .queue_declare(RESULTS_QUEUE.into(), durable, args)
        .await?;
    Ok(())
}
