//! worker-kafka: consumes results from the Kafka topic into MongoDB and Redis,
//! committing offsets only after the results are stored.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use squidgame_common::kafka::{self, KafkaArgs};
use squidgame_common::store::StoreArgs;
use squidgame_common::telemetry;
use squidgame_common::worker::{self, Ack, BatchArgs, Delivery, LagProbe, Source, SourceError};

/// How long a metadata or offset request to the broker may take.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// How worker-kafka gets its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Assignment {
    /// Join the consumer group: the group coordinator shares the partitions among the
    /// workers and hands a dead worker's partitions to the others.
    Group,
    /// Read every partition of the topic without joining the group, starting from the
    /// group's committed offsets, and commit under the group as usual. For one worker
    /// on a broker whose group coordinator cannot be relied on (the local stand-in).
    Manual,
}

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
    /// `group`: partitions assigned by the consumer group; `manual`: this worker reads
    /// every partition itself (a single worker only).
    #[arg(long, env = "KAFKA_ASSIGNMENT", value_enum, default_value_t = Assignment::Group)]
    assignment: Assignment,
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
    // Shared with the blocking thread that commits.
    consumer: Arc<StreamConsumer>,
    dead_letters: FutureProducer,
}

fn source_error(e: impl std::fmt::Display) -> SourceError {
    SourceError::of("kafka", e)
}

/// Consumer settings of both assignment modes: the group's offsets, committed by hand.
fn consumer_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", kafka::CONSUMER_GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    config
}

impl KafkaSource {
    async fn connect(
        args: &KafkaArgs,
        instance: &str,
        assignment: Assignment,
    ) -> Result<KafkaSource, SourceError> {
        let brokers = args.kafka_brokers.as_str();
        kafka::ensure_topics(brokers, args.kafka_topic_replication)
            .await
            .map_err(source_error)?;
        let mut config = consumer_config(brokers);
        if assignment == Assignment::Group {
            config
                // A worker killed without leaving the group hands its partitions over
                // after these: the coordinator waits up to the poll interval (the
                // rebalance timeout) for every known member to rejoin.
                .set("session.timeout.ms", "10000")
                .set("max.poll.interval.ms", "20000")
                // Static membership: a restarted worker takes its own place back at
                // once instead of waiting for the coordinator to give up on its old self.
                .set("group.instance.id", instance);
        }
        let consumer: StreamConsumer = config.create().map_err(source_error)?;
        let consumer = match assignment {
            Assignment::Group => {
                consumer
                    .subscribe(&[kafka::RESULTS_TOPIC])
                    .map_err(source_error)?;
                consumer
            }
            // Metadata and offset requests block: they run off the worker's thread.
            Assignment::Manual => async_std::task::spawn_blocking(move || {
                assign_every_partition(&consumer).map(|()| consumer)
            })
            .await
            .map_err(source_error)?,
        };
        let dead_letters: FutureProducer = args.producer_config().create().map_err(source_error)?;
        Ok(KafkaSource {
            consumer: Arc::new(consumer),
            dead_letters,
        })
    }
}

/// The partitions of the results topic, from the broker's metadata.
fn results_partitions<C: Consumer>(consumer: &C) -> KafkaResult<Vec<i32>> {
    let metadata = consumer.fetch_metadata(Some(kafka::RESULTS_TOPIC), BROKER_TIMEOUT)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.name() == kafka::RESULTS_TOPIC)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}

/// The group's committed offset of each partition of the results topic (`None`
/// where nothing was committed yet).
fn committed_offsets<C: Consumer>(consumer: &C) -> KafkaResult<Vec<(i32, Option<i64>)>> {
    let partitions = results_partitions(consumer)?;
    if partitions.is_empty() {
        return Err(rdkafka::error::KafkaError::MetadataFetch(
            rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    let mut wanted = TopicPartitionList::new();
    for &partition in &partitions {
        wanted.add_partition(kafka::RESULTS_TOPIC, partition);
    }
    let committed = consumer.committed_offsets(wanted, BROKER_TIMEOUT)?;
    committed
        .elements()
        .iter()
        .map(|e| {
            e.error()?;
            Ok((e.partition(), e.offset().to_raw().filter(|o| *o >= 0)))
        })
        .collect()
}

/// Manual assignment: every partition of the results topic, each from the group's
/// committed offset, or from the beginning where nothing was committed.
fn assign_every_partition(consumer: &StreamConsumer) -> KafkaResult<()> {
    let mut start = TopicPartitionList::new();
    for (partition, committed) in committed_offsets(consumer)? {
        let offset = committed.map_or(Offset::Beginning, Offset::Offset);
        start.add_partition_offset(kafka::RESULTS_TOPIC, partition, offset)?;
    }
    tracing::info!(assignment = ?start.to_topic_map(), "reading every partition");
    consumer.assign(&start)
}

/// Messages on the results topic after the group's committed offsets, summed over
/// the partitions.
fn lag(consumer: &BaseConsumer) -> KafkaResult<u64> {
    let mut waiting = 0;
    for (partition, committed) in committed_offsets(consumer)? {
        let (low, high) =
            consumer.fetch_watermarks(kafka::RESULTS_TOPIC, partition, BROKER_TIMEOUT)?;
        waiting += (high - committed.unwrap_or(low).max(low)).max(0) as u64;
    }
    Ok(waiting)
}

/// The Kafka lag probe: its own client, which never joins the group.
struct KafkaLag {
    consumer: Option<Arc<BaseConsumer>>,
    brokers: String,
}

impl LagProbe for KafkaLag {
    async fn waiting(&mut self) -> Result<u64, SourceError> {
        let consumer = match &self.consumer {
            Some(consumer) => consumer.clone(),
            None => {
                let consumer: BaseConsumer = consumer_config(&self.brokers)
                    .create()
                    .map_err(source_error)?;
                self.consumer.insert(Arc::new(consumer)).clone()
            }
        };
        async_std::task::spawn_blocking(move || lag(&consumer))
            .await
            .map_err(source_error)
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

    fn ack(&mut self, tickets: Vec<Ticket>) -> Ack {
        let consumer = self.consumer.clone();
        Box::pin(async move {
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
            // A synchronous commit waits for the broker: off the worker's threads, so
            // the health endpoint keeps answering while the broker is slow.
            async_std::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync))
                .await
                .map_err(source_error)
        })
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
        || KafkaSource::connect(&config.kafka, &config.instance, config.assignment),
        KafkaLag {
            consumer: None,
            brokers: config.kafka.kafka_brokers.clone(),
        },
    ));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker-kafka: {e}");
            ExitCode::FAILURE
        }
    }
}
