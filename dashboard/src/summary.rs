//! The game log's summary, kept off the request path.
//!
//! Counting the log scans MongoDB (seconds at 100,000 games), so pages show the last
//! summary taken and a stale one is refreshed in the background, one refresh at a time.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_std::sync::Mutex;
use serde::Serialize;
use squidgame_common::store::{LogStats, Store};

/// A summary that takes longer is given up (and taken again on the next request).
const REFRESH_LIMIT: Duration = Duration::from_secs(30);

/// A summary as taken at one moment, or why it could not be taken.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub stats: Result<LogStats, String>,
    /// When it was taken, RFC 3339.
    pub as_of: String,
    #[serde(skip)]
    taken: Instant,
}

impl Snapshot {
    pub fn stats(&self) -> Option<&LogStats> {
        self.stats.as_ref().ok()
    }

    pub fn error(&self) -> Option<&str> {
        self.stats.as_ref().err().map(String::as_str)
    }
}

pub struct LogSummary {
    store: Store,
    max_age: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    latest: Option<Snapshot>,
    refreshing: bool,
}

impl LogSummary {
    /// Starts taking the first summary at once, so the first page rarely waits.
    pub fn start(store: Store, max_age: Duration) -> Arc<LogSummary> {
        let summary = Arc::new(LogSummary {
            store,
            max_age,
            state: Mutex::new(State {
                latest: None,
                refreshing: true,
            }),
        });
        async_std::task::spawn(Arc::clone(&summary).refresh());
        summary
    }

    /// The latest summary; waits only while no summary was ever taken.
    pub async fn get(self: &Arc<Self>) -> Snapshot {
        loop {
            let mut state = self.state.lock().await;
            if let Some(latest) = state.latest.clone() {
                if latest.taken.elapsed() >= self.max_age && !state.refreshing {
                    state.refreshing = true;
                    async_std::task::spawn(Arc::clone(self).refresh());
                }
                return latest;
            }
            if !state.refreshing {
                state.refreshing = true;
                drop(state);
                return Arc::clone(self).refresh().await;
            }
            // The first summary is being taken by another request: wait for it.
            drop(state);
            async_std::task::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn refresh(self: Arc<Self>) -> Snapshot {
        let stats = match async_std::future::timeout(REFRESH_LIMIT, self.store.log_stats()).await {
            Ok(Ok(stats)) => Ok(stats),
            Ok(Err(e)) => Err(format!("MongoDB is unavailable: {e}")),
            Err(_) => Err(format!(
                "MongoDB did not summarize the game log within {} s",
                REFRESH_LIMIT.as_secs()
            )),
        };
        let snapshot = Snapshot {
            stats,
            as_of: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            taken: Instant::now(),
        };
        let mut state = self.state.lock().await;
        state.latest = Some(snapshot.clone());
        state.refreshing = false;
        snapshot
    }
}
