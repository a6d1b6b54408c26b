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

/// Failed summaries are retried sooner than good ones grow old.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);

/// The latest summary taken and how the last attempt went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// The last summary taken; kept while MongoDB is unavailable.
    pub stats: Option<LogStats>,
    /// When `stats` was taken, RFC 3339.
    pub as_of: Option<String>,
    /// Why the last attempt failed, if it did.
    pub error: Option<String>,
    #[serde(skip)]
    attempted: Option<Instant>,
}

impl Snapshot {
    fn is_stale(&self, max_age: Duration) -> bool {
        let age_limit = if self.error.is_some() {
            RETRY_AFTER_ERROR.min(max_age)
        } else {
            max_age
        };
        self.attempted.is_none_or(|at| at.elapsed() >= age_limit)
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
                if latest.is_stale(self.max_age) && !state.refreshing {
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
        let taken = async_std::future::timeout(REFRESH_LIMIT, self.store.log_stats()).await;
        let mut state = self.state.lock().await;
        let mut snapshot = state.latest.clone().unwrap_or_default();
        snapshot.attempted = Some(Instant::now());
        match taken {
            Ok(Ok(stats)) => {
                snapshot.stats = Some(stats);
                snapshot.as_of =
                    Some(humantime::format_rfc3339_millis(SystemTime::now()).to_string());
                snapshot.error = None;
            }
            Ok(Err(e)) => snapshot.error = Some(format!("MongoDB is unavailable: {}", e.brief())),
            Err(_) => {
                snapshot.error = Some(format!(
                    "MongoDB is unavailable: no summary within {} s",
                    REFRESH_LIMIT.as_secs()
                ))
            }
        }
        state.latest = Some(snapshot.clone());
        state.refreshing = false;
        snapshot
    }
}
