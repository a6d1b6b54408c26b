//! The part of a worker that does not depend on the queue: batch, decode, store with
//! retries, then acknowledge. `worker-kafka` and `worker-rabbit` only provide a [`Source`].
//!
//! Order of operations per batch, which is what makes delivery lossless:
//! 1. malformed messages are dead-lettered (with the reason);
//! 2. valid results are stored in MongoDB, retried with backoff until it answers
//!    (nothing is acknowledged meanwhile); a result MongoDB refuses for what it holds
//!    is dead-lettered with MongoDB's reason;
//! 3. what MongoDB kept is counted in Redis, retried the same way;
//! 4. only then is the whole batch acknowledged.
//!
//! Steps 3 and 4 of one batch run beside steps 1 and 2 of the next (see [`run`]).
//!
//! A crash anywhere before 4 means redelivery, which the store absorbs idempotently.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future;

use crate::http::Metrics;
use crate::result::{decode_result, GameResult};
use crate::store::{without_rejected, Store, StoreError};
use crate::Shutdown;

/// One message taken from a queue, with what the queue needs to acknowledge it.
pub struct Delivery<T> {
    pub body: Vec<u8>,
    pub ticket: T,
}

/// A queue consumer, as the shared worker loop sees it.
#[allow(async_fn_in_trait)]
pub trait Source {
    type Ticket;
    /// Waits for the next message; `Ok(None)` when the consumer has ended.
    async fn next(&mut self) -> Result<Option<Delivery<Self::Ticket>>, SourceError>;
    /// Sends a message to the dead-letter destination with the reason; it is
    /// acknowledged with the rest of its batch.
    async fn dead_letter(
        &mut self,
        delivery: &Delivery<Self::Ticket>,
        reason: &str,
    ) -> Result<(), SourceError>;
    /// Acknowledges (commits) a batch whose results are all stored. The future holds
    /// no borrow of the source and does nothing until polled: the loop acknowledges a
    /// batch while it already takes the next one.
    fn ack(&mut self, tickets: Vec<Self::Ticket>) -> Ack;
}

/// What [`Source::ack`] returns.
pub type Ack = future::BoxedLocal<Result<(), SourceError>>;

/// Asks the queue how many messages wait for this worker (the `squidgame_worker_lag`
/// gauge). It runs beside the batch loop, on its own connection, so a slow answer
/// never holds a batch up.
#[allow(async_fn_in_trait)]
pub trait LagProbe {
    async fn waiting(&mut self) -> Result<u64, SourceError>;
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

impl SourceError {
    /// An error of the `queue` consumer, e.g. `SourceError::of("kafka", e)`.
    pub fn of(queue: &str, error: impl std::fmt::Display) -> SourceError {
        SourceError(format!("{queue}: {error}"))
    }
}

/// Batching and retry settings shared by both workers.
#[derive(Debug, Clone, clap::Args)]
pub struct BatchArgs {
    /// Most results stored in one batch.
    #[arg(long, env = "WORKER_BATCH_SIZE", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// How long a batch waits for more messages once it has one, in milliseconds.
    #[arg(long, env = "WORKER_BATCH_WAIT_MS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub batch_wait_ms: u64,
    /// Longest pause between two attempts to reach an unavailable store, in milliseconds.
    #[arg(long, env = "WORKER_MAX_BACKOFF_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(50..=300_000))]
    pub max_backoff_ms: u64,
    /// How often the lag (messages waiting in the queue) is measured, in milliseconds.
    #[arg(long, env = "WORKER_LAG_INTERVAL_MS", default_value_t = 2_000,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub lag_interval_ms: u64,
}

/// The worker metrics registry (`/metrics` on the worker's health port).
pub fn metrics() -> Metrics {
    Metrics::new()
        .describe(
            "squidgame_worker_consumed_total",
            "counter",
            "Messages taken from the queue.",
        )
        .describe(
            "squidgame_worker_stored_total",
            "counter",
            "Results newly stored in MongoDB.",
        )
        .describe(
            "squidgame_worker_counted_total",
            "counter",
            "Results newly counted in Redis.",
        )
        .describe(
            "squidgame_worker_duplicates_total",
            "counter",
            "Redelivered results that were already stored.",
        )
        .describe(
            "squidgame_worker_dead_lettered_total",
            "counter",
            "Messages sent to the dead-letter destination (malformed, or refused by MongoDB).",
        )
        .describe(
            "squidgame_worker_batches_total",
            "counter",
            "Batches acknowledged.",
        )
        .describe(
            "squidgame_worker_batch_size_sum",
            "counter",
            "Sum of the sizes of acknowledged batches.",
        )
        .describe(
            "squidgame_worker_store_errors_total",
            "counter",
            "Failed attempts to store a batch.",
        )
        .describe(
            "squidgame_worker_last_batch_size",
            "gauge",
            "Size of the last acknowledged batch.",
        )
        .describe(
            "squidgame_worker_lag",
            "gauge",
            "Messages waiting in the queue for this worker, as last measured.",
        )
}

/// Why [`run`] returned.
#[derive(Debug)]
pub enum Stopped {
    /// Shutdown was requested; everything taken was stored and acknowledged, or left
    /// unacknowledged for redelivery.
    Shutdown,
    /// The consumer failed or ended; the caller reconnects.
    Source(SourceError),
}

impl From<SourceError> for Stopped {
    fn from(e: SourceError) -> Self {
        Stopped::Source(e)
    }
}

/// A batch written to MongoDB, still to be counted in Redis and acknowledged.
struct Logged {
    kept: Vec<GameResult>,
    size: usize,
    ack: Ack,
}

/// Consumes `source` until shutdown or a consumer error.
///
/// Two batches are in flight at most: while batch N is counted in Redis and
/// acknowledged, batch N+1 is taken and written to MongoDB, so the two stores work
/// side by side. Each batch still goes MongoDB, then Redis, then acknowledgement.
pub async fn run<S: Source>(
    source: &mut S,
    store: &Store,
    args: &BatchArgs,
    metrics: &Arc<Metrics>,
    shutdown: &Shutdown,
) -> Stopped {
    let mut pending: Option<Logged> = None;
    loop {
        let (finished, next) = future::zip(
            finish(pending.take(), store, args, metrics, shutdown),
            log_next(source, store, args, metrics, shutdown),
        )
        .await;
        if let Err(stop) = finished {
            return stop;
        }
        pending = match next {
            Ok(logged) => Some(logged),
            Err(stop) => return stop,
        };
        if shutdown.is_triggered() {
            // The batch taken before the signal is finished alone, then the worker stops.
            let finished = finish(pending.take(), store, args, metrics, shutdown).await;
            return finished.err().unwrap_or(Stopped::Shutdown);
        }
    }
}

/// Takes the next batch, dead-letters what is malformed, and writes the rest to
/// MongoDB (retried until it answers); a result MongoDB refuses is dead-lettered too.
async fn log_next<S: Source>(
    source: &mut S,
    store: &Store,
    args: &BatchArgs,
    metrics: &Metrics,
    shutdown: &Shutdown,
) -> Result<Logged, Stopped> {
    let batch = next_batch(source, args, shutdown).await?;
    if batch.is_empty() {
        return Err(Stopped::Shutdown);
    }
    metrics.add("squidgame_worker_consumed_total", "", batch.len() as f64);

    // Each valid result, with the place of its delivery in the batch.
    let mut results = Vec::with_capacity(batch.len());
    let mut origin = Vec::with_capacity(batch.len());
    for (place, delivery) in batch.iter().enumerate() {
        match decode_result(&delivery.body) {
            Ok(result) => {
                results.push(result);
                origin.push(place);
            }
            Err(invalid) => {
                dead_letter(source, delivery, &invalid.to_string(), metrics).await?;
            }
        }
    }

    // MongoDB and Redis are retried each on its own: a Redis outage does not make
    // the game log's stored results look like duplicates when retried.
    let Some(logged) = retry("MongoDB", args, metrics, shutdown, || {
        store.log_batch(&results)
    })
    .await
    else {
        // Shutdown while the store was down: leave the batch unacknowledged.
        return Err(Stopped::Shutdown);
    };
    for rejected in &logged.rejected {
        let delivery = &batch[origin[rejected.index]];
        dead_letter(source, delivery, &rejected.reason, metrics).await?;
    }
    metrics.add("squidgame_worker_stored_total", "", logged.stored as f64);
    metrics.add(
        "squidgame_worker_duplicates_total",
        "",
        logged.duplicates as f64,
    );
    Ok(Logged {
        kept: without_rejected(results, &logged.rejected),
        size: batch.len(),
        ack: source.ack(batch.into_iter().map(|d| d.ticket).collect()),
    })
}

/// Counts a logged batch in Redis (retried until it answers), then acknowledges it.
async fn finish(
    logged: Option<Logged>,
    store: &Store,
    args: &BatchArgs,
    metrics: &Metrics,
    shutdown: &Shutdown,
) -> Result<(), Stopped> {
    let Some(logged) = logged else {
        return Ok(());
    };
    let Some(counted) = retry("Redis", args, metrics, shutdown, || {
        store.count_batch(&logged.kept)
    })
    .await
    else {
        return Err(Stopped::Shutdown);
    };
    metrics.add("squidgame_worker_counted_total", "", counted as f64);
    logged.ack.await?;
    metrics.inc("squidgame_worker_batches_total", "");
    metrics.add("squidgame_worker_batch_size_sum", "", logged.size as f64);
    metrics.set("squidgame_worker_last_batch_size", "", logged.size as f64);
    Ok(())
}

/// Waits for a first message (or shutdown), then takes what else arrives within the
/// batch wait, up to the batch size. Empty means shutdown.
async fn next_batch<S: Source>(
    source: &mut S,
    args: &BatchArgs,
    shutdown: &Shutdown,
) -> Result<Vec<Delivery<S::Ticket>>, SourceError> {
    let mut batch = Vec::new();
    let first = future::or(source.next(), async {
        shutdown.wait().await;
        Ok(None)
    })
    .await?;
    let Some(first) = first else {
        return Ok(batch);
    };
    batch.push(first);
    let deadline = Instant::now() + Duration::from_millis(args.batch_wait_ms);
    while batch.len() < args.batch_size as usize {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // Shutdown also ends the wait: the batch so far is stored and acknowledged.
        let more = future::or(source.next(), async {
            future::or(async_std::task::sleep(left), shutdown.wait()).await;
            Ok(None)
        })
        .await?;
        match more {
            Some(delivery) => batch.push(delivery),
            None => break,
        }
    }
    Ok(batch)
}

/// Sends `delivery` to the dead-letter destination with `reason` and counts it.
async fn dead_letter<S: Source>(
    source: &mut S,
    delivery: &Delivery<S::Ticket>,
    reason: &str,
    metrics: &Metrics,
) -> Result<(), SourceError> {
    tracing::warn!(%reason, "dead-lettering a message");
    source.dead_letter(delivery, reason).await?;
    metrics.inc("squidgame_worker_dead_lettered_total", "");
    Ok(())
}

/// Runs `attempt` until it succeeds, with doubling pauses up to the maximum backoff;
/// `None` if shutdown came first. `store` names what is being reached, for the log.
async fn retry<T, F, Fut>(
    store: &str,
    args: &BatchArgs,
    metrics: &Metrics,
    shutdown: &Shutdown,
    mut attempt: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut backoff = Duration::from_millis(50);
    let max = Duration::from_millis(args.max_backoff_ms);
    loop {
        match attempt().await {
            Ok(done) => return Some(done),
            Err(e) => {
                metrics.inc("squidgame_worker_store_errors_total", "");
                tracing::warn!(store, error = %e, retry_in_ms = backoff.as_millis() as u64,
                    "store unavailable; batch kept unacknowledged");
            }
        }
        let stop = future::or(
            async {
                async_std::task::sleep(backoff).await;
                false
            },
            async {
                shutdown.wait().await;
                true
            },
        )
        .await;
        if stop {
            return None;
        }
        backoff = (backoff * 2).min(max);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

/// Runs a worker process: health/metrics endpoint, store, and the consume loop,
/// reconnecting to the queue with `connect` whenever the consumer fails, until
/// SIGTERM/SIGINT; `lag` is measured beside it. Returns after the batch in progress
/// was stored and acknowledged.
pub async fn serve<S, F, Fut>(
    name: &'static str,
    listen: &str,
    store_args: &crate::store::StoreArgs,
    batch: &BatchArgs,
    mut connect: F,
    lag: impl LagProbe,
) -> Result<(), WorkerError>
where
    S: Source,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<S, SourceError>>,
{
    let shutdown = Shutdown::on_signals()?;
    let metrics = Arc::new(metrics());
    let health = {
        let listener = crate::http::bind(listen).await?;
        let metrics = metrics.clone();
        let shutdown = shutdown.clone();
        let mut app = tide::with_state(metrics);
        app.with(crate::http::JsonErrors);
        app.at("/healthz").get(crate::http::healthz);
        app.at("/metrics")
            .get(|req: tide::Request<Arc<Metrics>>| async move {
                Ok(crate::http::metrics_response(req.state()))
            });
        async_std::task::spawn(crate::http::serve(app, listener, shutdown))
    };
    let store = Store::connect(store_args).await?;
    {
        let store = store.clone();
        async_std::task::spawn(async move {
            while let Err(e) = store.ensure_indexes().await {
                tracing::warn!(error = %e, "cannot create MongoDB indexes yet; retrying");
                async_std::task::sleep(Duration::from_secs(2)).await;
            }
        });
    }
    tracing::info!(worker = name, listen, "worker ready");
    let consume = async {
        let mut backoff = Duration::from_millis(200);
        while !shutdown.is_triggered() {
            let connected = future::or(async { Some(connect().await) }, async {
                shutdown.wait().await;
                None
            })
            .await;
            let mut source = match connected {
                None => break,
                Some(Ok(source)) => source,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot reach the queue");
                    sleep_unless_shutdown(backoff, &shutdown).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(200);
            match run(&mut source, &store, batch, &metrics, &shutdown).await {
                Stopped::Shutdown => break,
                Stopped::Source(e) => {
                    tracing::warn!(error = %e, "consumer failed; reconnecting");
                    sleep_unless_shutdown(backoff, &shutdown).await;
                }
            }
        }
    };
    // The lag watch never ends by itself; the consume loop ends the pair.
    future::or(consume, watch_lag(lag, batch, &metrics)).await;
    health.await;
    tracing::info!(worker = name, "worker stopped");
    Ok(())
}

/// Measures the lag every `lag_interval_ms` and keeps the gauge up to date; a failed
/// measurement leaves the last value (the consumer reports the queue's troubles).
async fn watch_lag(mut probe: impl LagProbe, args: &BatchArgs, metrics: &Metrics) {
    let interval = Duration::from_millis(args.lag_interval_ms);
    loop {
        match probe.waiting().await {
            Ok(waiting) => metrics.set("squidgame_worker_lag", "", waiting as f64),
            Err(e) => tracing::debug!(error = %e, "cannot measure the lag"),
        }
        async_std::task::sleep(interval).await;
    }
}

async fn sleep_unless_shutdown(pause: Duration, shutdown: &Shutdown) {
    future::or(async_std::task::sleep(pause), shutdown.wait()).await;
}
