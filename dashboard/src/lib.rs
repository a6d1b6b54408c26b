//! dashboard: server-rendered pages and their JSON twins over the live statistics
//! (Redis) and the game log (MongoDB).
//!
//! | page | JSON twin | store |
//! |---|---|---|
//! | `/` | `/api/overview` | Redis, plus the cached log summary |
//! | `/log` | `/api/log?page=&game=&winner=&route=` | MongoDB |
//! | `/players/{n}` | `/api/players/{n}` | Redis |
//! | `/games/{n}` | `/api/games/{n}` | Redis |
//!
//! A JSON twin answers 503 when its own store is down; its page says which store is
//! down and the other reports keep working.

use std::sync::Arc;
use std::time::Duration;

use squidgame_common::http;
use squidgame_common::store::{Store, StoreArgs};

pub mod charts;
mod pages;
mod reports;
pub mod summary;

pub use reports::{LogReport, Overview};

#[derive(Debug, Clone, clap::Parser)]
#[command(version, about)]
pub struct Config {
    /// Address to serve the dashboard on.
    #[arg(long, env = "DASHBOARD_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: String,
    /// How old the game log's summary (a MongoDB scan) may get before it is taken
    /// again in the background, e.g. "5s" or "500ms".
    #[arg(long, env = "DASHBOARD_SUMMARY_MAX_AGE", default_value = "5s",
          value_parser = humantime::parse_duration)]
    pub summary_max_age: Duration,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// What every request handler reads.
pub struct Dashboard {
    store: Store,
    summary: Arc<summary::LogSummary>,
}

type App = tide::Server<Arc<Dashboard>>;

/// Builds the dashboard over a store; the caller serves it.
pub async fn build(config: &Config) -> anyhow::Result<App> {
    let store = Store::connect(&config.store).await?;
    let summary = summary::LogSummary::start(store.clone(), config.summary_max_age);
    let mut app = tide::with_state(Arc::new(Dashboard { store, summary }));
    app.with(http::JsonErrors);
    app.at("/").get(pages::overview);
    app.at("/log").get(pages::log);
    app.at("/players").get(pages::pick_player);
    app.at("/players/:player").get(pages::player);
    app.at("/games").get(pages::pick_game);
    app.at("/games/:game").get(pages::game);
    app.at("/api/overview").get(reports::overview_json);
    app.at("/api/log").get(reports::log_json);
    app.at("/api/players/:player").get(reports::player_json);
    app.at("/api/games/:game").get(reports::game_json);
    app.at("/healthz").get(http::healthz);
    app.at("*").get(pages::not_found);
    Ok(app)
}
