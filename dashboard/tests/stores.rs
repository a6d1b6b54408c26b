//! The dashboard over real stores, one of them down: the report of the store that is
//! up still works, the other names its store, and its JSON twin answers 503.

use std::sync::Arc;
use std::time::Duration;

use dashboard::{Config, Dashboard};
use squidgame_common::store::StoreArgs;
use tide::http::{Method, Request, Url};

/// Nothing listens on port 1.
const REDIS_DOWN: &str = "redis://127.0.0.1:1/";
const MONGO_DOWN: &str = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300";

fn stack_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test needs the test stack; run it with `make test`")
    })
}

/// Asks the dashboard app directly, without a socket.
struct Pages(tide::Server<Arc<Dashboard>>);

impl Pages {
    async fn over(redis_url: String, mongo_url: String) -> Pages {
        let config = Config {
            listen: "127.0.0.1:0".into(),
            summary_max_age: Duration::from_secs(5),
            store: StoreArgs {
                redis_url,
                mongo_url,
                mongo_db: "squidgame".into(),
            },
        };
        Pages(dashboard::build(&config).await.expect("dashboard"))
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let url = Url::parse(&format!("http://dashboard.test{path}")).expect("url");
        let mut res: tide::http::Response = self
            .0
            .respond(Request::new(Method::Get, url))
            .await
            .expect("response");
        let body = res.body_string().await.expect("body");
        (u16::from(res.status()), body)
    }

    async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let (status, body) = self.get(path).await;
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"));
        (status, json)
    }
}

fn first_error(report: &serde_json::Value) -> &str {
    report["errors"][0].as_str().unwrap_or_default()
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn with_redis_down_the_live_reports_say_so_and_the_game_log_works() {
    let pages = Pages::over(REDIS_DOWN.into(), stack_env("MONGO_URL")).await;

    let (status, overview) = pages.get_json("/api/overview").await;
    assert_eq!(status, 503, "{overview}");
    assert!(overview["redis"].is_null());
    assert!(first_error(&overview).starts_with("Redis is unavailable"));
    let (status, page) = pages.get("/").await;
    assert_eq!(status, 503);
    assert!(page.contains("Redis is unavailable"));
    assert!(page.contains(r#"the <a href="/log">game log</a> still works"#));
    for path in ["/api/players/1", "/api/games/1"] {
        let (status, body) = pages.get_json(path).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert!(body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("Redis is unavailable")));
    }

    let (status, log) = pages.get_json("/api/log").await;
    assert_eq!(status, 200, "{log}");
    assert!(log["log"]["games"].is_array());
    assert!(log["summary"]["games"].is_u64(), "{log}");
    let (status, page) = pages.get("/log").await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"id="log-games""#));
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn with_mongodb_down_the_game_log_says_so_and_the_live_reports_work() {
    let pages = Pages::over(stack_env("REDIS_URL"), MONGO_DOWN.into()).await;

    let (status, log) = pages.get_json("/api/log?page=2").await;
    assert_eq!(status, 503, "{log}");
    assert!(log["log"].is_null());
    assert!(first_error(&log).starts_with("MongoDB is unavailable"));
    let (status, page) = pages.get("/log").await;
    assert_eq!(status, 503);
    assert!(page.contains("MongoDB is unavailable"));
    assert!(page.contains(r#"the <a href="/">live statistics</a> still work"#));

    let (status, overview) = pages.get_json("/api/overview").await;
    assert_eq!(status, 200, "{overview}");
    assert!(overview["redis"]["total"].is_u64());
    assert!(overview["mongo"].is_null());
    assert!(first_error(&overview).starts_with("MongoDB is unavailable"));
    let (status, page) = pages.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"id="total""#));
    assert!(page.contains("MongoDB is unavailable"));
    for path in ["/api/players/1", "/api/games/1"] {
        let (status, body) = pages.get_json(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn an_empty_redis_shows_an_empty_overview_not_an_error() {
    // Database 3 of the test Redis, emptied: no service writes there.
    let redis_url = format!("{}/3", stack_env("REDIS_URL").trim_end_matches('/'));
    let client = redis::Client::open(redis_url.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let _: () = redis::cmd("FLUSHDB")
        .query_async(&mut conn)
        .await
        .expect("flushdb");
    let pages = Pages::over(redis_url, stack_env("MONGO_URL")).await;

    let (status, overview) = pages.get_json("/api/overview").await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["redis"]["total"], 0);
    assert_eq!(overview["redis"]["recent"], serde_json::json!([]));
    let (status, page) = pages.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"id="total">0<"#));
    assert!(page.contains("No games yet"));
    assert!(
        !page.contains(r#"role="alert""#),
        "no error on an empty store"
    );
    let (status, player) = pages.get_json("/api/players/12").await;
    assert_eq!(status, 200);
    assert_eq!(player["wins"], 0);
    let (_, page) = pages.get("/players/12").await;
    assert!(page.contains("Player 12 has not won a game yet."));
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn a_redis_that_hangs_is_reported_down_within_the_time_limit() {
    // Accepts connections (the kernel's backlog) and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let redis_url = format!("redis://{}/", hung.local_addr().expect("address"));
    let pages = Pages::over(redis_url, stack_env("MONGO_URL")).await;

    // Ten open tabs of each Redis page, refreshing at once. Each request makes its own
    // connection attempt (the driver gives up after 1 s) instead of waiting for the
    // attempts of those before it, so each is answered well within the store limit
    // (4 s) that bounds any single read.
    let requests = (0..30).map(|i| {
        let path = match i % 3 {
            0 => "/api/overview".to_string(),
            1 => format!("/api/players/{i}"),
            _ => format!("/api/games/{i}"),
        };
        let pages = &pages;
        async move {
            let started = std::time::Instant::now();
            let (status, body) = pages.get_json(&path).await;
            (path, status, body, started.elapsed())
        }
    });
    for (path, status, body, took) in futures_util::future::join_all(requests).await {
        assert_eq!(status, 503, "{path}: {body}");
        let error = body["error"].as_str().or(body["errors"][0].as_str());
        assert!(
            error.is_some_and(|e| e.starts_with("Redis is unavailable")),
            "{path}: {body}"
        );
        assert!(
            took < Duration::from_secs(3),
            "{path} answered after {took:?}"
        );
    }
    drop(hung);
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn addresses_are_decoded_and_unknown_pages_are_html_for_browsers() {
    let pages = Pages::over(stack_env("REDIS_URL"), stack_env("MONGO_URL")).await;
    let (status, player) = pages.get_json("/api/players/%37").await;
    assert_eq!(status, 200, "{player}");
    assert_eq!(player["player"], 7);

    let (status, page) = pages.get("/players/7/wins").await;
    assert_eq!(status, 404);
    assert!(page.contains("no such page: /players/7/wins"), "{page}");
    let (status, body) = pages.get_json("/api/nothing").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "no such resource: /api/nothing");
}
