//! dashboard: server-rendered pages and their JSON twins over the live statistics
//! (Redis) and the game log (MongoDB).

use std::sync::Arc;

use askama::Template;
use serde::Serialize;
use squidgame_common::http::{self, json_error};
use squidgame_common::store::{LiveStats, LogStats, Store, StoreArgs};
use tide::http::mime;
use tide::{Request, Response, StatusCode};

#[derive(Debug, Clone, clap::Parser)]
#[command(version, about)]
pub struct Config {
    /// Address to serve the dashboard on.
    #[arg(long, env = "DASHBOARD_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

type App = tide::Server<Arc<Store>>;

/// Builds the dashboard over a store; the caller serves it.
pub async fn build(config: &Config) -> anyhow::Result<App> {
    let store = Store::connect(&config.store).await?;
    let mut app = tide::with_state(Arc::new(store));
    app.with(http::JsonErrors);
    app.at("/").get(overview_page);
    app.at("/api/overview").get(overview_json);
    app.at("/healthz").get(http::healthz);
    Ok(app)
}

/// Both reports; a report whose store is down is `None` with the reason in `errors`.
#[derive(Debug, Serialize)]
pub struct Overview {
    pub redis: Option<LiveStats>,
    pub mongo: Option<LogStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

async fn overview(store: &Store) -> Overview {
    let (redis, mongo) = futures_lite::future::zip(store.live_stats(10), store.log_stats()).await;
    let mut errors = Vec::new();
    let redis = redis
        .map_err(|e| errors.push(format!("Redis is unavailable: {e}")))
        .ok();
    let mongo = mongo
        .map_err(|e| errors.push(format!("MongoDB is unavailable: {e}")))
        .ok();
    Overview {
        redis,
        mongo,
        errors,
    }
}

async fn overview_json(req: Request<Arc<Store>>) -> tide::Result {
    let overview = overview(req.state()).await;
    let status = if overview.errors.is_empty() {
        StatusCode::Ok
    } else {
        StatusCode::ServiceUnavailable
    };
    Ok(Response::builder(status)
        .content_type(mime::JSON)
        .body(serde_json::to_string(&overview)?)
        .build())
}

/// A bar of the route split chart.
pub struct Bar {
    pub label: &'static str,
    pub count: u64,
    pub percent: f64,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    overview: Overview,
    bars: Vec<Bar>,
}

fn route_bars(stats: &LiveStats) -> Vec<Bar> {
    let total = stats.routes.total().max(1) as f64;
    vec![
        Bar {
            label: "kafka",
            count: stats.routes.kafka,
            percent: stats.routes.kafka as f64 * 100.0 / total,
        },
        Bar {
            label: "rabbitmq",
            count: stats.routes.rabbitmq,
            percent: stats.routes.rabbitmq as f64 * 100.0 / total,
        },
    ]
}

async fn overview_page(req: Request<Arc<Store>>) -> tide::Result {
    let overview = overview(req.state()).await;
    let bars = overview.redis.as_ref().map(route_bars).unwrap_or_default();
    let page = OverviewPage { overview, bars };
    match page.render() {
        Ok(html) => Ok(Response::builder(StatusCode::Ok)
            .content_type(mime::HTML)
            .body(html)
            .build()),
        Err(e) => Ok(json_error(StatusCode::InternalServerError, e.to_string())),
    }
}
