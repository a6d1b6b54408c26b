//! The whole pipeline on real services: rungame → split → api → grpc-server → queues →
//! workers → Redis and MongoDB → dashboard. Every count must match.

use std::time::Duration;

use e2e::*;
use squidgame_common::store::{LiveStats, LogStats, Store};

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn every_accepted_game_is_stored_once_and_counted_once() {
    let store = stack_store().await;
    // Games other tests played may still be on their way: start from a quiet stack.
    let (live_before, log_before) = quiet_counts(&store).await;

    let split = stack_env("SPLIT_URL");
    let (report, code) = rungame(&[
        "--url",
        &split,
        "--gamename",
        "1 | Random ; 2 | Roulette ; 5 | Last",
        "--players",
        "30",
        "--rungames",
        "400",
        "--concurrence",
        "10",
        "--timeout",
        "1m",
        "--seed",
        "42",
    ]);
    assert_eq!(code, 0, "rungame exit code; report: {report}");
    let ok = report["ok"].as_u64().expect("ok");
    assert_eq!(report["sent"], 400);
    assert_eq!(
        ok, 400,
        "every request through the split got a 200: {report}"
    );
    assert_eq!(report["failed"], 0);

    let stored = eventually(Duration::from_secs(60), || async {
        let live = store.live_stats(10).await.expect("redis");
        let log = store.log_stats().await.expect("mongo");
        live.total - live_before.total >= ok && log.games - log_before.games >= ok
    })
    .await;
    assert!(stored, "the workers did not store {ok} games within 60 s");
    // Give a duplicate, if any were to come, the time to show up.
    async_std::task::sleep(Duration::from_secs(1)).await;

    let live = store.live_stats(10).await.expect("redis after");
    let log = store.log_stats().await.expect("mongo after");
    assert_eq!(log.games - log_before.games, ok, "MongoDB games added");
    assert_eq!(live.total - live_before.total, ok, "Redis total added");

    let kafka = live.routes.kafka - live_before.routes.kafka;
    let rabbitmq = live.routes.rabbitmq - live_before.routes.rabbitmq;
    assert_eq!(kafka + rabbitmq, ok);
    for (route, n) in [("kafka", kafka), ("rabbitmq", rabbitmq)] {
        let share = n as f64 / ok as f64;
        assert!(
            (0.35..=0.65).contains(&share),
            "{route} carried {n} of {ok}"
        );
        assert_eq!(report["per_route"][route], n, "rungame's count for {route}");
    }
    assert_eq!(log.by_route.kafka - log_before.by_route.kafka, kafka);
    assert_eq!(
        log.by_route.rabbitmq - log_before.by_route.rabbitmq,
        rabbitmq
    );

    // The dashboard shows the same numbers as the stores. Its MongoDB summary is
    // refreshed in the background, so it may lag a few seconds behind.
    let dashboard = stack_env("DASHBOARD_URL");
    let overview_url = format!("{dashboard}/api/overview");
    let summary_caught_up = eventually(Duration::from_secs(30), || async {
        let (_, overview) = get_json(&overview_url).await;
        overview["mongo"]["games"] == log.games
    })
    .await;
    assert!(
        summary_caught_up,
        "the overview's MongoDB summary never showed {} games",
        log.games
    );
    let (status, overview) = get_json(&overview_url).await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["redis"]["total"], live.total);
    assert_eq!(overview["redis"]["routes"]["kafka"], live.routes.kafka);
    assert_eq!(
        overview["redis"]["routes"]["rabbitmq"],
        live.routes.rabbitmq
    );
    assert_eq!(overview["mongo"]["games"], log.games);
    assert_eq!(overview["mongo"]["by_route"]["kafka"], log.by_route.kafka);
    let recent = overview["redis"]["recent"].as_array().expect("recent");
    assert_eq!(recent.len(), 10);
    for game in recent {
        let players = game["players"].as_u64().expect("players");
        let winner = game["winner"].as_u64().expect("winner");
        assert!((1..=players).contains(&winner), "{game}");
        assert!(
            [1, 2, 5].contains(&game["game"].as_u64().expect("game")),
            "{game}"
        );
    }
    let top = overview["redis"]["top_players"]
        .as_array()
        .expect("top players");
    assert!(!top.is_empty() && top.len() <= 10);
    let wins: Vec<u64> = top
        .iter()
        .map(|p| p["wins"].as_u64().expect("wins"))
        .collect();
    assert!(
        wins.windows(2).all(|w| w[0] >= w[1]),
        "top players sorted: {wins:?}"
    );
    let top_games = overview["mongo"]["top_games"]
        .as_array()
        .expect("top games");
    assert!(!top_games.is_empty() && top_games.len() <= 3);

    // The HTML overview shows the same totals and split (the browser test checks the rest).
    let (status, html) = get_text(&format!("{dashboard}/")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("id=\"total\">{}<", live.total)),
        "total on the page"
    );
    assert!(html.contains(&format!("id=\"mongo-games\">{}<", log.games)));
    for (route, n) in [
        ("kafka", live.routes.kafka),
        ("rabbitmq", live.routes.rabbitmq),
    ] {
        assert!(
            html.contains(&format!("data-label=\"{route}\" data-value=\"{n}\"")),
            "{route} bar on the page"
        );
    }
}

/// Counts once two readings 800 ms apart agree (nothing is still being stored).
async fn quiet_counts(store: &Store) -> (LiveStats, LogStats) {
    let read = || async {
        let live = store.live_stats(10).await.expect("redis");
        let log = store.log_stats().await.expect("mongo");
        (live, log)
    };
    let mut last = read().await;
    for _ in 0..40 {
        async_std::task::sleep(Duration::from_millis(800)).await;
        let now = read().await;
        if now.0.total == last.0.total && now.1.games == last.1.games {
            return now;
        }
        last = now;
    }
    panic!("the stack kept storing games for 30 s before the test started");
}
