//! worker-kafka: consumes results from the Kafka topic into MongoDB and Redis,
//! committing offsets only after the results are stored.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use squidgame_common::kafka::{self, KafkaArgs};
use squidgame_common::store::StoreArgs;
use squidgame_common::telemetry;
use squidgame_common::worker::{self, BatchArgs, Delivery, Source, SourceError};

#[derive(Debug, Parser)]
#[command(version, about)]
struct Config {
    /// Address of the health and metrics endpoint.
    #[arg(long, env = "WORKER_LISTEN", default_value = "127.0.0.1:9101")]
    listen: String,
    /// This worker's stable identity in the consumer group (static membership): keep it
    /// across restarts, make it unique per worker.
    #[arg(long, env = "WORKER_INSTANCE", default_value = "worker-kafka-1")]
    instance: String,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    batch: BatchArgs,
}

/// Partition and offset of a consumed message.
type Ticket = (i32, i64);

struct KafkaSource {
    consumer: StreamConsumer,
    dead_letters: FutureProducer,
}

fn source_error(e: impl std::fmt::Display) -> SourceError {
    SourceError::of("kafka", e)
}

impl KafkaSource {
    async fn connect(args: &KafkaArgs, instance: &str) -> Result<KafkaSource, SourceError> {
        let brokers = args.kafka_brokers.as_str();
        kafka::ensure_topics(brokers, args.kafka_topic_replication)
            .await
            .map_err(source_error)?;
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", kafka::CONSUMER_GROUP)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            // A worker killed without leaving the group hands its partitions over
            // after these: the coordinator waits up to the poll interval (the
            // rebalance timeout) for every known member to rejoin.
            .set("session.timeout.ms", "10000")
            .set("max.poll.interval.ms", "20000")
            // Static membership: a restarted worker takes its own place back at once
            // instead of waiting for the coordinator to give up on its old self.
            .set("group.instance.id", instance)
            .create()
            .map_err(source_error)?;
        consumer
            .subscribe(&[kafka::RESULTS_TOPIC])
            .map_err(source_error)?;
        let dead_letters: FutureProducer = args.producer_config().create().map_err(source_error)?;
        Ok(KafkaSource {
            consumer,
            dead_letters,
        })
    }
}

impl Source for KafkaSource {
    type Ticket = Ticket;

    async fn next(&mut self) -> Result<Option<Delivery<Ticket>>, SourceError> {
        loop {
            match self.consumer.recv().await {
                Ok(message) => {
                    return Ok(Some(Delivery {
                        body: message.payload().unwrap_or_default().to_vec(),
                        ticket: (message.partition(), message.offset()),
                    }))
                }
                // librdkafka reconnects by itself; errors here are reports, not the end.
                Err(e) => {
                    tracing::warn!(error = %e, "kafka consumer error");
                    async_std::task::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    async fn dead_letter(
        &mut self,
        delivery: &Delivery<Ticket>,
        reason: &str,
    ) -> Result<(), SourceError> {
        let headers = OwnedHeaders::new().insert(Header {
            key: "x-squidgame-reason",
            value: Some(reason),
        });
        let record: FutureRecord<'_, (), [u8]> = FutureRecord::to(kafka::DLQ_TOPIC)
            .payload(delivery.body.as_slice())
            .headers(headers);
        self.dead_letters
            .send(record, Duration::from_secs(10))
            .await
            .map(|_| ())
            .map_err(|(e, _)| source_error(e))
    }

    async fn ack(&mut self, tickets: Vec<Ticket>) -> Result<(), SourceError> {
        let mut next_offsets: HashMap<i32, i64> = HashMap::new();
        for (partition, offset) in tickets {
            let next = next_offsets.entry(partition).or_insert(offset + 1);
            *next = (*next).max(offset + 1);
        }
        let mut list = TopicPartitionList::new();
        for (partition, offset) in next_offsets {
            list.add_partition_offset(kafka::RESULTS_TOPIC, partition, Offset::Offset(offset))
                .map_err(source_error)?;
        }
        self.consumer
            .commit(&list, CommitMode::Sync)
            .map_err(source_error)
    }
}

fn main() -> ExitCode {
    telemetry::init("info");
    let config = Config::parse();
    let served = async_std::task::block_on(worker::serve(
        "worker-kafka",
        &config.listen,
        &config.store,
        &config.batch,
        || KafkaSource::connect(&config.kafka, &config.instance),
    ));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker-kafka: {e}");
            ExitCode::FAILURE
        }
    }
}
