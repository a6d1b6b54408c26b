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
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092", value_parser = parse_brokers)]
    pub kafka_brokers: String,
    /// Replication factor for topics this service creates when they are missing
    /// (a cluster with `min.insync.replicas` > 1 needs more than 1).
    #[arg(long, env = "KAFKA_TOPIC_REPLICATION", default_value_t = 1,
          value_parser = clap::value_parser!(i32).range(1..=32))]
    pub kafka_topic_replication: i32,
    /// Idempotent producer (`enable.idempotence`): the broker drops a producer's retried
    /// duplicates. Results are deduplicated by id downstream either way.
    #[arg(long, env = "KAFKA_IDEMPOTENCE", default_value_t = true, action = clap::ArgAction::Set)]
    pub kafka_idempotence: bool,
}

/// A bootstrap list: comma-separated `host:port` (or `scheme://host:port`) entries.
pub fn parse_brokers(list: &str) -> Result<String, String> {
    use crate::result::quoted;
    let bad = |why: String| {
        format!(
            "KAFKA_BROKERS must be comma-separated host:port entries; {why} in {}",
            quoted(list)
        )
    };
    if list.trim().is_empty() {
        return Err(bad("there is none".into()));
    }
    for entry in list.split(',').map(str::trim) {
        let address = entry.split_once("://").map_or(entry, |(_, rest)| rest);
        let (host, port) = address.rsplit_once(':').unwrap_or((address, ""));
        let fault = if port.is_empty() {
            "has no port"
        } else if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
            "has no usable host"
        } else if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            "has no usable port"
        } else {
            continue;
        };
        return Err(bad(format!("{} {fault}", quoted(entry))));
    }
    Ok(list.to_string())
}

impl KafkaArgs {
    /// Producer settings every producer of the project uses: `acks=all`, idempotence
    /// as configured.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.kafka_brokers)
            .set("acks", "all")
            .set("enable.idempotence", self.kafka_idempotence.to_string());
        config
    }
}

/// Creates the results topic and its dead-letter topic if they do not exist.
///
/// Only missing topics are created: asking for existing ones is harmless on Apache
/// Kafka, but the local stand-in broker does not cope with concurrent creations.
pub async fn ensure_topics(brokers: &str, replication: i32) -> Result<(), KafkaError> {
    let existing = existing_topics(brokers).await?;
    let topics: Vec<NewTopic<'_>> = [
        NewTopic::new(
            RESULTS_TOPIC,
            PARTITIONS,
            TopicReplication::Fixed(replication),
        ),
        NewTopic::new(DLQ_TOPIC, 1, TopicReplication::Fixed(replication)),
    ]
    .into_iter()
    .filter(|t| !existing.iter().any(|name| name == t.name))
    .collect();
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
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

/// Names of the topics the cluster has (metadata is a blocking call in librdkafka, so it
/// runs on its own thread).
async fn existing_topics(brokers: &str) -> Result<Vec<String>, KafkaError> {
    let (tx, rx) = async_channel::bounded(1);
    let config = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .clone();
    std::thread::spawn(move || {
        let names = config
            .create::<AdminClient<DefaultClientContext>>()
            .and_then(|admin| admin.inner().fetch_metadata(None, Duration::from_secs(10)))
            .map(|metadata| {
                metadata
                    .topics()
                    .iter()
                    .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                    .map(|t| t.name().to_string())
                    .collect()
            });
        let _ = tx.send_blocking(names);
    });
    rx.recv()
        .await
        .unwrap_or_else(|_| Err(KafkaError::AdminOpCreation("metadata thread ended".into())))
}

#[cfg(test)]
mod tests {
    use super::parse_brokers;

    #[test]
    fn broker_lists_are_host_port_entries() {
        for good in [
            "127.0.0.1:9092",
            "kafka-0:9092, kafka-1:9092",
            "PLAINTEXT://k:9093",
        ] {
            assert_eq!(parse_brokers(good).as_deref(), Ok(good));
        }
        for bad in [
            "",
            " ",
            "localhost",
            "k:0",
            "k:99999",
            ":9092",
            "k:9092,",
            "a b:1",
        ] {
            let message = parse_brokers(bad).unwrap_err();
            assert!(
                message.starts_with("KAFKA_BROKERS must be"),
                "{bad:?}: {message}"
            );
        }
    }
}
