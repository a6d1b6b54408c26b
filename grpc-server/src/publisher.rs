//! Publishing a result to the route's queue, confirmed by the broker before returning.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use prost::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use squidgame_common::kafka::{self, KafkaArgs};
use squidgame_common::{rabbitmq, GameResult};
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("kafka did not confirm the result: {0}")]
    Kafka(String),
    #[error("rabbitmq did not confirm the result: {0}")]
    Rabbit(String),
    #[error("the queue did not confirm the result within {0:?}; it may still be recorded")]
    Timeout(Duration),
}

/// The queue of this server's route.
pub enum Publisher {
    Kafka(KafkaPublisher),
    Rabbit(Box<RabbitPublisher>),
}

impl Publisher {
    /// Publishes and waits for the broker's confirmation (Kafka `acks=all`,
    /// RabbitMQ publisher confirm), at most `timeout`.
    pub async fn publish(
        &self,
        result: &GameResult,
        timeout: Duration,
    ) -> Result<(), PublishError> {
        let body = result.encode_to_vec();
        let confirmed = async {
            match self {
                Publisher::Kafka(p) => p.publish(&result.id, &body).await,
                Publisher::Rabbit(p) => p.publish(&result.id, &body).await,
            }
        };
        tokio::time::timeout(timeout, confirmed)
            .await
            .map_err(|_| PublishError::Timeout(timeout))?
    }
}

/// An idempotent Kafka producer (`acks=all`), keyed by result id.
pub struct KafkaPublisher {
    producer: FutureProducer,
}

impl KafkaPublisher {
    pub fn new(args: &KafkaArgs, timeout: Duration) -> Result<Self, PublishError> {
        let producer = args
            .producer_config()
            .set("linger.ms", "2")
            .set("message.timeout.ms", timeout.as_millis().to_string())
            .create()
            .map_err(|e| PublishError::Kafka(e.to_string()))?;
        Ok(KafkaPublisher { producer })
    }

    async fn publish(&self, id: &str, body: &[u8]) -> Result<(), PublishError> {
        let record = FutureRecord::to(kafka::RESULTS_TOPIC).key(id).payload(body);
        self.producer
            .send(record, Duration::from_secs(0))
            .await
            .map(|_| ())
            .map_err(|(e, _)| PublishError::Kafka(e.to_string()))
    }
}

/// A RabbitMQ channel in confirm mode, reopened after the broker goes away.
pub struct RabbitPublisher {
    url: String,
    live: Mutex<Option<(Connection, Channel)>>,
}

impl RabbitPublisher {
    pub fn new(url: &str) -> Self {
        RabbitPublisher {
            url: url.to_string(),
            live: Mutex::new(None),
        }
    }

    async fn channel(&self) -> Result<Channel, PublishError> {
        let mut live = self.live.lock().await;
        if let Some((conn, channel)) = live.as_ref() {
            if conn.status().connected() && channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        *live = None;
        let err = |e: lapin::Error| PublishError::Rabbit(e.to_string());
        let conn = Connection::connect(&self.url, ConnectionProperties::default())
            .await
            .map_err(err)?;
        let channel = conn.create_channel().await.map_err(err)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(err)?;
        rabbitmq::declare_topology(&channel).await.map_err(err)?;
        *live = Some((conn, channel.clone()));
        Ok(channel)
    }

    async fn publish(&self, id: &str, body: &[u8]) -> Result<(), PublishError> {
        let channel = self.channel().await?;
        let err = |e: lapin::Error| PublishError::Rabbit(e.to_string());
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_message_id(id.into())
            .with_content_type("application/x-protobuf".into());
        let confirm = channel
            .basic_publish(
                "".into(),
                rabbitmq::RESULTS_QUEUE.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                properties,
            )
            .await
            .map_err(err)?
            .await
            .map_err(err)?;
        if confirm.is_ack() && confirm.take_message().is_none() {
            Ok(())
        } else {
            Err(PublishError::Rabbit(
                "the broker refused or returned the message".into(),
            ))
        }
    }
}
