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
    pub base_url: String,
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
    Answered { status: u16, route: Option<String> },
    Failed(&'static str),
    CutOff,
}

pub fn client(run: &Run) -> Result<surf::Client, String> {
    surf::Config::new()
        .set_timeout(Some(run.request_timeout))
        .set_max_connections_per_host(run.concurrence as usize)
        .set_tcp_no_delay(true)
        .set_http_keep_alive(true)
        .try_into()
        .map_err(|e: <surf::Config as TryInto<surf::Client>>::Error| e.to_string())
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
    let tasks: Vec<_> = (0..run.concurrence)
        .map(|_| {
            let run = run.clone();
            let client = client.clone();
            let shutdown = shutdown.clone();
            let next = next.clone();
            let progress = progress.clone();
            async_std::task::spawn(async move {
                sender(
                    &run, &client, &shutdown, &next, &progress, started, deadline,
                )
                .await
            })
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await);
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
        let url = format!("{}{}", run.base_url, endpoint.path);
        let outcome = future::or(send(client, &url), async {
            let until_deadline = deadline.saturating_duration_since(Instant::now());
            future::or(async_std::task::sleep(until_deadline), async {
                shutdown.wait().await;
                async_std::task::sleep(INTERRUPT_GRACE).await;
            })
            .await;
            Outcome::CutOff
        })
        .await;
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
                        *tally.per_route.entry(route).or_default() += 1;
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

async fn send(client: &surf::Client, url: &str) -> Outcome {
    let mut res = match client.post(url).await {
        Ok(res) => res,
        Err(e) => return Outcome::Failed(error_kind(&e)),
    };
    let status = u16::from(res.status());
    let route = match res.body_bytes().await {
        Ok(body) if (200..300).contains(&status) => {
            serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("route")?.as_str().map(str::to_string))
        }
        Ok(_) => None,
        Err(e) => return Outcome::Failed(error_kind(&e)),
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
