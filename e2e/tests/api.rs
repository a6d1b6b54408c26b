//! Health endpoints and the api's error contract, on the running test stack.

use e2e::*;

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn every_service_answers_its_health_endpoint() {
    for (var, path) in [
        ("SPLIT_URL", "/healthz"),
        ("API_KAFKA_URL", "/healthz"),
        ("API_KAFKA_URL", "/readyz"),
        ("API_RABBITMQ_URL", "/healthz"),
        ("API_RABBITMQ_URL", "/readyz"),
        ("WORKER_KAFKA_URL", "/healthz"),
        ("WORKER_RABBIT_URL", "/healthz"),
        ("DASHBOARD_URL", "/healthz"),
    ] {
        let (status, body) = get_json(&format!("{}{path}", stack_env(var))).await;
        assert_eq!(status, 200, "{var}{path}: {body}");
    }
    let (status, text) = get_text(&format!("{}/metrics", stack_env("WORKER_KAFKA_URL"))).await;
    assert_eq!(status, 200);
    assert!(text.contains("squidgame_worker_stored_total"), "{text}");
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn bad_requests_get_json_errors_with_the_right_status() {
    let api = stack_env("API_KAFKA_URL");
    let (status, body) = post_json(&format!("{api}/game/1/gamename/Random/players/0")).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "players must be between 1 and 1000, got \"0\""
    );
    let (status, body) = post_json(&format!("{api}/game/99/gamename/Nope/players/3")).await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"],
        "unknown game 99: known games are 1, 2, 3, 4, 5, 6"
    );
    let (status, body) = post_json(&format!("{api}/game/x/gamename/Nope/players/3")).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = get_json(&format!("{api}/game/1/gamename/Random/players/3")).await;
    assert_eq!(status, 405);
    assert_eq!(body["error"], "use POST to play a game");
    let store = stack_store().await;
    let before = (
        store.live_stats(1).await.expect("redis").total,
        store.log_stats().await.expect("mongo").games,
    );
    let (status, body) = post_json(&format!(
        "{api}/game/1/gamename/%F0%9F%A6%91%20Squid/players/3"
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["game_name"], "🦑 Squid");
    assert_eq!(body["route"], "kafka");
    // The accepted game reaches both stores (and the next test starts from a quiet stack).
    let stored = eventually(std::time::Duration::from_secs(60), || async {
        let total = store.live_stats(1).await.map(|s| s.total).unwrap_or(0);
        let games = store.log_stats().await.map(|s| s.games).unwrap_or(0);
        total == before.0 + 1 && games == before.1 + 1
    })
    .await;
    assert!(stored, "the accepted game was not stored once within 60 s");
}
