//! worker-rabbit: consumes results from the RabbitMQ queue into MongoDB and Redis,
//! acknowledging only after the results are stored.

use std::process::ExitCode;

use clap::Parser;
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use squidgame_common::rabbitmq::{self, AmqpArgs};
use squidgame_common::store::StoreArgs;
use squidgame_common::telemetry;
use squidgame_common::worker::{self, Ack, BatchArgs, Delivery, LagProbe, Source, SourceError};

#[derive(Debug, Parser)]
#[command(version, about)]
struct Config {
    /// Address of the health and metrics endpoint.
    #[arg(long, env = "WORKER_LISTEN", default_value = "127.0.0.1:9102")]
    listen: String,
    /// Most unacknowledged messages the broker hands this worker at once.
    #[arg(long, env = "WORKER_PREFETCH", default_value_t = 512,
          value_parser = clap::value_parser!(u16).range(1..))]
    prefetch: u16,
    #[command(flatten)]
    amqp: AmqpArgs,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    batch: BatchArgs,
}

struct RabbitSource {
    // Kept so the connection lives as long as the consumer.
    _connection: Connection,
    channel: Channel,
    consumer: Consumer,
}

fn source_error(e: impl std::fmt::Display) -> SourceError {
    SourceError::of("rabbitmq", e)
}

impl RabbitSource {
    async fn connect(url: &str, prefetch: u16) -> Result<RabbitSource, SourceError> {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .map_err(source_error)?;
        let channel = connection.create_channel().await.map_err(source_error)?;
        rabbitmq::declare_topology(&channel)
            .await
            .map_err(source_error)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(source_error)?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(source_error)?;
        let consumer = channel
            .basic_consume(
                rabbitmq::RESULTS_QUEUE.into(),
                "worker-rabbit".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(source_error)?;
        Ok(RabbitSource {
            _connection: connection,
            channel,
            consumer,
        })
    }
}

impl Source for RabbitSource {
    type Ticket = u64;

    async fn next(&mut self) -> Result<Option<Delivery<u64>>, SourceError> {
        match self.consumer.next().await {
            Some(Ok(delivery)) => Ok(Some(Delivery {
                body: delivery.data,
                ticket: delivery.delivery_tag,
            })),
            Some(Err(e)) => Err(source_error(e)),
            None => Err(source_error("the consumer was cancelled")),
        }
    }

    async fn dead_letter(
        &mut self,
        delivery: &Delivery<u64>,
        reason: &str,
    ) -> Result<(), SourceError> {
        let mut headers = FieldTable::default();
        headers.insert(
            ShortString::from(rabbitmq::REASON_HEADER),
            AMQPValue::LongString(reason.into()),
        );
        let confirm = self
            .channel
            .basic_publish(
                rabbitmq::DLX_EXCHANGE.into(),
                rabbitmq::RESULTS_QUEUE.into(),
                BasicPublishOptions::default(),
                &delivery.body,
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_headers(headers),
            )
            .await
            .map_err(source_error)?
            .await
            .map_err(source_error)?;
        if confirm.is_ack() {
            Ok(())
        } else {
            Err(source_error("the broker refused the dead letter"))
        }
    }

    fn ack(&mut self, tickets: Vec<u64>) -> Ack {
        let channel = self.channel.clone();
        Box::pin(async move {
            // Deliveries on a channel are acknowledged in order: one `multiple` ack
            // up to the highest tag covers the whole batch.
            let Some(last) = tickets.into_iter().max() else {
                return Ok(());
            };
            channel
                .basic_ack(last, BasicAckOptions { multiple: true })
                .await
                .map_err(source_error)
        })
    }
}

/// The RabbitMQ lag probe: messages ready in the results queue, asked with a passive
/// declare on a connection of its own. Messages delivered to a consumer and not yet
/// acknowledged (at most the prefetch) are not counted.
struct RabbitLag {
    url: String,
    channel: Option<(Connection, Channel)>,
}

impl RabbitLag {
    async fn ready_messages(&mut self) -> Result<u64, SourceError> {
        if self.channel.is_none() {
            let connection = Connection::connect(&self.url, ConnectionProperties::default())
                .await
                .map_err(source_error)?;
            let channel = connection.create_channel().await.map_err(source_error)?;
            self.channel = Some((connection, channel));
        }
        let Some((_, channel)) = &self.channel else {
            return Err(source_error("no channel"));
        };
        let queue = channel
            .queue_declare(
                rabbitmq::RESULTS_QUEUE.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(source_error)?;
        Ok(u64::from(queue.message_count()))
    }
}

impl LagProbe for RabbitLag {
    async fn waiting(&mut self) -> Result<u64, SourceError> {
        let asked = async_std::future::timeout(LAG_TIMEOUT, self.ready_messages()).await;
        let waiting = asked.unwrap_or_else(|_| Err(source_error("no answer in time")));
        if waiting.is_err() {
            // Start over with a new connection next time.
            self.channel = None;
        }
        waiting
    }
}

/// How long the broker may take to say how many messages wait.
const LAG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn main() -> ExitCode {
    telemetry::init("info");
    let config = Config::parse();
    if u32::from(config.prefetch) < config.batch.batch_size {
        // A batch could never fill: every one would wait the whole batch wait.
        eprintln!(
            "worker-rabbit: WORKER_PREFETCH ({}) must be at least WORKER_BATCH_SIZE ({})",
            config.prefetch, config.batch.batch_size
        );
        return ExitCode::from(2);
    }
    let url = config.amqp.amqp_url.clone();
    let prefetch = config.prefetch;
    let served = async_std::task::block_on(worker::serve(
        "worker-rabbit",
        &config.listen,
        &config.store,
        &config.batch,
        || RabbitSource::connect(&url, prefetch),
        RabbitLag {
            url: url.clone(),
            channel: None,
        },
    ));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker-rabbit: {e}");
            ExitCode::FAILURE
        }
    }
}
