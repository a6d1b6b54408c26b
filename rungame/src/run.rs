//! Sending the planned requests with bounded concurrency until the count or the
//! deadline is reached, or the user interrupts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future;
use squidgame_common::Shutdown;

use crate::plan::Plan;
use crate::report::Tally;

/// How long in-flight requests may finish after Ctrl-C.
const INTERRUPT_GRACE: Duration = Duration::from_secs(2);

pub struct Run {
    /// The api (or split) to send to; each request replaces the path.
    pub base: surf::Url,
    pub plan: Plan,
    pub requests: u64,
    pub concurrence: u32,
    pub timeout: Duration,
    pub request_timeout: Duration,
    /// Open model: request `i` is due at `start + i / rate`, whatever the responses do.
    pub rate: Option<f64>,
}

/// Live counters, for the progress display.
#[derive(Default)]
pub struct Progress {
    pub done: AtomicU64,
    pub failed: AtomicU64,
}

/// Why sending stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoppedBy {
    Completed,
    Timeout,
    Interrupted,
}

impl StoppedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            StoppedBy::Completed => "completed",
            StoppedBy::Timeout => "timeout reached",
            StoppedBy::Interrupted => "interrupted",
        }
    }
}

enum Outcome {
    Answered { status: u16, route: Option<Route> },
    Failed(&'static str),
    CutOff,
}

/// A surf client over the lean HTTP/1.1 transport (see [`crate::transport`]).
pub fn client() -> surf::Client {
    surf::Client::with_http_client(crate::transport::LeanH1::default())
}

pub async fn execute(
    run: Arc<Run>,
    client: surf::Client,
    shutdown: Shutdown,
    progress: Arc<Progress>,
) -> (Tally, Duration, StoppedBy) {
    let started = Instant::now();
    let deadline = started + run.timeout;
    let next = Arc::new(AtomicU64::new(0));
    // All senders run as one task on the calling thread: every wake-up stays on this
    // thread (no hand-off between executor threads), which is what a load generator
    // wants when the server under test shares the machine.
    let senders = (0..run.concurrence).map(|_| {
        sender(
            &run, &client, &shutdown, &next, &progress, started, deadline,
        )
    });
    let mut tally = Tally::default();
    for part in futures_util::future::join_all(senders).await {
        tally.merge(part);
    }
    let stopped_by = if shutdown.is_triggered() {
        StoppedBy::Interrupted
    } else if tally.sent < run.requests {
        StoppedBy::Timeout
    } else {
        StoppedBy::Completed
    };
    (tally, started.elapsed(), stopped_by)
}

#[allow(clippy::too_many_arguments)]
async fn sender(
    run: &Run,
    client: &surf::Client,
    shutdown: &Shutdown,
    next: &AtomicU64,
    progress: &Progress,
    run_start: Instant,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut guard = Guard::new(deadline, run.request_timeout, shutdown);
    loop {
        if shutdown.is_triggered() || Instant::now() >= deadline {
            break;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= run.requests {
            break;
        }
        // Latency counts from when the request was due, so a backlog behind slow
        // responses shows in the numbers instead of hiding (coordinated omission).
        let started = match run.rate {
            Some(rate) => {
                let due = run_start + Duration::from_secs_f64(i as f64 / rate);
                if due >= deadline {
                    break;
                }
                let wait = due.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    let interrupted = future::or(
                        async {
                            async_std::task::sleep(wait).await;
                            false
                        },
                        async {
                            shutdown.wait().await;
                            true
                        },
                    )
                    .await;
                    if interrupted {
                        break;
                    }
                }
                due
            }
            None => Instant::now(),
        };
        let endpoint = run.plan.endpoint(i);
        tally.sent += 1;
        let game = tally.per_game.entry(endpoint.game).or_default();
        game.0 += 1;
        // Only the path changes: cloning the parsed base URL skips re-parsing the host.
        let mut url = run.base.clone();
        url.set_path(&endpoint.path);
        let outcome = future::or(send(client, url), guard.watch(started)).await;
        match outcome {
            Outcome::Answered { status, route } => {
                tally.record_latency(started.elapsed());
                *tally.status_codes.entry(status).or_default() += 1;
                if (200..300).contains(&status) {
                    tally.ok += 1;
                    if let Some(g) = tally.per_game.get_mut(&endpoint.game) {
                        g.1 += 1;
                    }
                    if let Some(route) = route {
                        tally.count_route(route.name());
                    }
                } else {
                    tally.failed += 1;
                    progress.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Outcome::Failed(kind) => {
                tally.failed += 1;
                *tally.errors.entry(kind.to_string()).or_default() += 1;
                progress.failed.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::CutOff => {
                tally.failed += 1;
                *tally.errors.entry("cut off".to_string()).or_default() += 1;
                progress.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        progress.done.fetch_add(1, Ordering::Relaxed);
    }
    tally
}

/// Ends a request that runs into the run's deadline, its own timeout, or past the
/// grace period after Ctrl-C.
///
/// One timer per sender, re-armed only when it fires: requests are far shorter than
/// the timeout, so arming a timer per request would cost more than the request.
struct Guard {
    timer: async_io::Timer,
    deadline: Instant,
    request_timeout: Duration,
    shutdown: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    interrupted_at: Option<Instant>,
}

impl Guard {
    fn new(deadline: Instant, request_timeout: Duration, shutdown: &Shutdown) -> Guard {
        let shutdown = shutdown.clone();
        Guard {
            timer: async_io::Timer::at(deadline.min(Instant::now() + request_timeout)),
            deadline,
            request_timeout,
            shutdown: Box::pin(async move { shutdown.wait().await }),
            interrupted_at: None,
        }
    }

    /// The moment a request that started at `started` must end.
    fn limit(&self, started: Instant) -> Instant {
        let mut limit = self.deadline.min(started + self.request_timeout);
        if let Some(at) = self.interrupted_at {
            limit = limit.min(at + INTERRUPT_GRACE);
        }
        limit
    }

    /// Resolves when the request that started at `started` has to be given up.
    async fn watch(&mut self, started: Instant) -> Outcome {
        enum Event {
            Timer,
            Interrupt,
        }
        loop {
            let interrupted = self.interrupted_at.is_some();
            let timer = &mut self.timer;
            let shutdown = &mut self.shutdown;
            let event = future::or(
                async {
                    timer.await;
                    Event::Timer
                },
                async {
                    if interrupted {
                        future::pending::<()>().await;
                    }
                    shutdown.await;
                    Event::Interrupt
                },
            )
            .await;
            let now = Instant::now();
            if let Event::Interrupt = event {
                self.interrupted_at = Some(now);
            }
            let limit = self.limit(started);
            if now >= limit {
                // Re-arm for the next request of this sender.
                self.timer.set_at(now + self.request_timeout);
                return if now >= started + self.request_timeout && now < self.deadline {
                    Outcome::Failed("timeout")
                } else {
                    Outcome::CutOff
                };
            }
            self.timer.set_at(limit);
        }
    }
}

/// The route named in an answer; the two known ones need no allocation.
enum Route {
    Kafka,
    Rabbitmq,
    Other(String),
}

impl Route {
    fn parse(name: &str) -> Route {
        match name {
            "kafka" => Route::Kafka,
            "rabbitmq" => Route::Rabbitmq,
            other => Route::Other(other.to_string()),
        }
    }

    fn name(&self) -> &str {
        match self {
            Route::Kafka => "kafka",
            Route::Rabbitmq => "rabbitmq",
            Route::Other(name) => name,
        }
    }
}

/// The only field of the api's answer rungame reads.
#[derive(serde::Deserialize)]
struct Routed<'a> {
    #[serde(borrow)]
    route: Option<&'a str>,
}

async fn send(client: &surf::Client, url: surf::Url) -> Outcome {
    let answered = async {
        let request = surf::Request::new(surf::http::Method::Post, url);
        let mut res = client.send(request).await?;
        let body = res.body_bytes().await?;
        Ok::<_, surf::Error>((u16::from(res.status()), body))
    }
    .await;
    let (status, body) = match answered {
        Err(e) => return Outcome::Failed(error_kind(&e)),
        Ok(answer) => answer,
    };
    let route = if (200..300).contains(&status) {
        serde_json::from_slice::<Routed<'_>>(&body)
            .ok()
            .and_then(|r| r.route.map(Route::parse))
    } else {
        None
    };
    Outcome::Answered { status, route }
}

/// A short name for what went wrong, for the error breakdown.
fn error_kind(e: &surf::Error) -> &'static str {
    use std::io::ErrorKind;
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return match io.kind() {
            ErrorKind::ConnectionRefused => "refused",
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                "reset"
            }
            ErrorKind::TimedOut => "timeout",
            ErrorKind::UnexpectedEof => "closed",
            _ => "io",
        };
    }
    let text = e.to_string().to_lowercase();
    if text.contains("timed out") || text.contains("timeout") {
        "timeout"
    } else if text.contains("refused") {
        "refused"
    } else if text.contains("reset") || text.contains("closed") {
        "reset"
    } else {
        "other"
    }
}

/// A one-line live progress display on stderr, redrawn until `stop` is set.
pub fn spawn_progress_line(
    run: &Run,
    progress: Arc<Progress>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let total = run.requests;
    let timeout = run.timeout;
    std::thread::spawn(move || {
        use std::io::Write;
        let started = Instant::now();
        let mut last = (started, 0u64);
        let mut rate = 0.0;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(250));
            let now = Instant::now();
            let done = progress.done.load(Ordering::Relaxed);
            let failed = progress.failed.load(Ordering::Relaxed);
            let dt = now.duration_since(last.0).as_secs_f64();
            if dt > 0.0 {
                rate = (done - last.1) as f64 / dt;
            }
            last = (now, done);
            let elapsed = now.duration_since(started);
            let by_count = (rate > 0.0).then(|| (total - done.min(total)) as f64 / rate);
            let by_time = timeout.saturating_sub(elapsed).as_secs_f64();
            let left = by_count.map_or(by_time, |c| c.min(by_time));
            let width = 30;
            let filled = (done.min(total) * width / total.max(1)) as usize;
            let line = format!(
                "\r[{}{}] {done}/{total}  {rate:.0} req/s  errors {failed}  elapsed {:.1}s  left ~{left:.1}s ",
                "#".repeat(filled),
                " ".repeat(width as usize - filled),
                elapsed.as_secs_f64(),
            );
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(line.as_bytes());
            let _ = err.flush();
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(b"\r\x1b[2K");
        let _ = err.flush();
    })
}
