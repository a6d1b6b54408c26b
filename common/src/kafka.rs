//! Kafka names and topic setup shared by grpc-server (producer) and worker-kafka.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

pub const RESULTS_TOPIC: &str = "squidgame.results";
pub const DLQ_TOPIC: &str = "squidgame.results.dlq";
pub const CONSUMER_GROUP: &str = "squidgame-worker-kafka";
/// Partitions of the results topic (ARCHITECTURE.md).
pub const PARTITIONS: i32 = 3;

#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma separated.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// Replication factor for topics this service creates when they are missing
    /// (a cluster with `min.insync.replicas` > 1 needs more than 1).
    #[arg(long, env = "KAFKA_TOPIC_REPLICATION", default_value_t = 1,
          value_parser = clap::value_parser!(i32).range(1..=32))]
    pub kafka_topic_replication: i32,
}

/// Creates the results topic and its dead-letter topic if they do not exist.
pub async fn ensure_topics(brokers: &str, replication: i32) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let topics = [
        NewTopic::new(
            RESULTS_TOPIC,
            PARTITIONS,
            TopicReplication::Fixed(replication),
        ),
        NewTopic::new(DLQ_TOPIC, 1, TopicReplication::Fixed(replication)),
    ];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for outcome in admin.create_topics(&topics, &options).await? {
        match outcome {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::error!(%topic, ?code, "cannot create topic");
                })
            }
        }
    }
    Ok(())
}
