//! The store against real Redis and MongoDB servers (the test stack's), in a Redis
//! database and a MongoDB database of their own so the pipeline's counts are untouched.

use std::sync::atomic::{AtomicI64, Ordering};

use squidgame_common::store::{Applied, Store, StoreArgs};
use squidgame_common::GameResult;

fn stack_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test needs the test stack; run it with `make test`")
    })
}

/// The store over Redis database `redis_db` (the services use 0).
async fn store_on(redis_db: u8) -> Store {
    let redis = stack_env("REDIS_URL");
    let args = StoreArgs {
        redis_url: format!("{}/{redis_db}", redis.trim_end_matches('/')),
        mongo_url: stack_env("MONGO_URL"),
        mongo_db: "squidgame_store_test".into(),
    };
    let store = Store::connect(&args).await.expect("store");
    store.ensure_indexes().await.expect("indexes");
    store
}

async fn test_store() -> Store {
    store_on(1).await
}

/// The store over an emptied Redis database of its own, for one test alone.
async fn store_on_empty_redis(redis_db: u8) -> Store {
    let url = format!(
        "{}/{redis_db}",
        stack_env("REDIS_URL").trim_end_matches('/')
    );
    let client = redis::Client::open(url.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let _: () = redis::cmd("FLUSHDB")
        .query_async(&mut conn)
        .await
        .expect("flushdb");
    store_on(redis_db).await
}

/// Play times that only move forward, one millisecond apart.
fn next_played_at() -> i64 {
    static CLOCK: AtomicI64 = AtomicI64::new(1_700_000_000_000);
    CLOCK.fetch_add(1, Ordering::Relaxed)
}

fn result(winner: u32, route: &str) -> GameResult {
    GameResult {
        id: uuid::Uuid::new_v4().to_string(),
        game_id: 2,
        game_name: "Roulette".into(),
        players: 30,
        winner,
        route: route.into(),
        played_at_ms: next_played_at(),
        rounds: 29,
    }
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn a_redelivered_result_is_stored_and_counted_once() {
    let store = test_store().await;
    let live_before = store.live_stats(10).await.expect("redis");
    let log_before = store.log_stats().await.expect("mongo");

    let batch = vec![
        result(7, "kafka"),
        result(7, "rabbitmq"),
        result(3, "kafka"),
    ];
    let first = store.apply_batch(&batch).await.expect("first delivery");
    assert_eq!(
        first,
        Applied {
            stored: 3,
            duplicates: 0,
            counted: 3,
            rejected: vec![],
        }
    );

    // The whole batch again, and one result a third time mixed with a new one.
    let again = store.apply_batch(&batch).await.expect("redelivery");
    assert_eq!(
        again,
        Applied {
            stored: 0,
            duplicates: 3,
            counted: 0,
            rejected: vec![],
        }
    );
    let fresh = result(9, "rabbitmq");
    let mixed = store
        .apply_batch(&[batch[0].clone(), fresh.clone()])
        .await
        .expect("mixed");
    assert_eq!(
        mixed,
        Applied {
            stored: 1,
            duplicates: 1,
            counted: 1,
            rejected: vec![],
        }
    );

    let live = store.live_stats(10).await.expect("redis");
    let log = store.log_stats().await.expect("mongo");
    assert_eq!(live.total - live_before.total, 4);
    assert_eq!(log.games - log_before.games, 4);
    assert_eq!(live.routes.kafka - live_before.routes.kafka, 2);
    assert_eq!(live.routes.rabbitmq - live_before.routes.rabbitmq, 2);
    assert_eq!(log.by_route.rabbitmq - log_before.by_route.rabbitmq, 2);
    assert_eq!(live.recent[0].id, fresh.id, "newest first");
    assert!(live.recent.iter().filter(|r| r.id == batch[0].id).count() == 1);
    let wins_of = |stats: &squidgame_common::store::LiveStats, player: u32| {
        stats
            .top_players
            .iter()
            .find(|p| p.player == player)
            .map_or(0, |p| p.wins)
    };
    // Only this test writes to this database, so its three players are all in the top 10.
    assert_eq!(wins_of(&live, 7) - wins_of(&live_before, 7), 2);
    assert_eq!(wins_of(&live, 9) - wins_of(&live_before, 9), 1);
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn a_store_that_is_down_reports_an_error() {
    let args = StoreArgs {
        redis_url: "redis://127.0.0.1:1/".into(),
        mongo_url: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500".into(),
        mongo_db: "squidgame_store_test".into(),
    };
    let store = Store::connect(&args).await.expect("clients are lazy");
    assert!(store.apply_batch(&[result(1, "kafka")]).await.is_err());
    assert!(store.live_stats(10).await.is_err());
    assert!(store.log_stats().await.is_err());
}

/// A game number no other run used, so its records start empty.
fn fresh_game_number() -> u32 {
    1_000 + uuid::Uuid::new_v4().as_u128() as u32 % 1_000_000
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn player_and_game_records_and_the_log_count_each_result_once() {
    let store = test_store().await;
    let game = fresh_game_number();
    // Players far above any other test's, so their records are this test's alone.
    let (ann, bob) = (game + 5_000_000, game + 6_000_000);
    let play = |winner: u32, players: u32, route: &str| GameResult {
        game_id: game,
        game_name: "Tug <of> War".into(),
        winner,
        players: players.max(winner),
        ..result(winner, route)
    };
    let ann_before = store.player_stats(ann).await.expect("redis");
    assert_eq!((ann_before.wins, ann_before.rank), (0, None));
    let batch = vec![
        play(ann, ann, "kafka"),        // last in the line-up: decile 9
        play(ann, ann + 9, "rabbitmq"), // decile 9 of ann + 9 players
        play(bob, bob * 2, "kafka"),    // the middle: decile 4
    ];
    store.apply_batch(&batch).await.expect("first delivery");
    store.apply_batch(&batch).await.expect("redelivery");

    let ann_stats = store.player_stats(ann).await.expect("redis");
    assert_eq!(ann_stats.wins, 2);
    assert!(ann_stats.rank.is_some());
    assert_eq!(ann_stats.last_game.as_deref(), Some("Tug <of> War"));
    assert_eq!(ann_stats.wins_per_game.len(), 1);
    assert_eq!(ann_stats.wins_per_game[0].game, game);
    assert_eq!(ann_stats.wins_per_game[0].count, 2);
    assert_eq!(ann_stats.recent_wins.len(), 2);
    assert!(ann_stats.recent_wins.iter().all(|r| r.winner == ann));

    let game_stats = store.game_stats(game).await.expect("redis");
    assert_eq!(game_stats.played, 3);
    assert_eq!(game_stats.game_name.as_deref(), Some("Tug <of> War"));
    let players_sum = f64::from(ann) + f64::from(ann + 9) + f64::from(bob * 2);
    assert!((game_stats.average_players - players_sum / 3.0).abs() < 1e-6);
    assert_eq!(game_stats.top_winners[0].player, ann);
    assert_eq!(game_stats.top_winners[0].wins, 2);
    let mut deciles = [0; 10];
    deciles[9] = 2;
    deciles[4] = 1;
    assert_eq!(game_stats.winner_deciles, deciles);

    // The log lists the game's three results, newest first, filtered on the server.
    let filter = squidgame_common::store::LogFilter {
        game: Some(game),
        ..Default::default()
    };
    let page = store.log_page(filter, 1).await.expect("mongo");
    assert_eq!(page.games.len(), 3);
    assert!(!page.has_next);
    let kafka_only = squidgame_common::store::LogFilter {
        route: Some(squidgame_common::result::Route::Kafka),
        ..filter
    };
    let page = store.log_page(kafka_only, 1).await.expect("mongo");
    assert_eq!(page.games.len(), 2);
    assert!(page
        .games
        .iter()
        .all(|g| g.route == "kafka" && g.game == game));
    let ann_only = squidgame_common::store::LogFilter {
        winner: Some(ann),
        ..filter
    };
    assert_eq!(
        store
            .log_page(ann_only, 1)
            .await
            .expect("mongo")
            .games
            .len(),
        2
    );
    assert!(store
        .log_page(filter, 2)
        .await
        .expect("mongo")
        .games
        .is_empty());
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn the_latest_games_are_the_latest_played_whatever_order_they_arrive_in() {
    let store = store_on_empty_redis(4).await;
    let at = |ms: i64, winner: u32| GameResult {
        played_at_ms: 1_800_000_000_000 + ms,
        ..result(winner, "kafka")
    };
    // Two workers: the newer games (one route) are stored before the older ones.
    let newer: Vec<GameResult> = (100..120).map(|ms| at(ms, 1 + ms as u32 % 3)).collect();
    let older: Vec<GameResult> = (0..20).map(|ms| at(ms, 1 + ms as u32 % 3)).collect();
    store.apply_batch(&newer).await.expect("newer batch");
    store.apply_batch(&older).await.expect("older batch");

    let live = store.live_stats(10).await.expect("redis");
    let shown: Vec<&str> = live.recent.iter().map(|r| r.id.as_str()).collect();
    let expected: Vec<&str> = newer.iter().rev().take(10).map(|r| r.id.as_str()).collect();
    assert_eq!(shown, expected, "the 10 latest played, newest first");

    // Player 2's last win is their latest-played one, not their last stored one.
    let latest_win = newer.iter().rfind(|r| r.winner == 2).expect("a win of 2");
    let player = store.player_stats(2).await.expect("redis");
    assert_eq!(
        player.last_win.as_deref(),
        Some(squidgame_common::result::format_unix_ms(latest_win.played_at_ms).as_str())
    );
    assert_eq!(player.recent_wins[0].id, latest_win.id);
    assert!(player
        .recent_wins
        .windows(2)
        .all(|w| w[0].played_at >= w[1].played_at));
}

#[async_std::test]
#[ignore = "needs the test stack: run with `make test`"]
async fn equal_wins_share_a_rank_and_a_game_keeps_its_most_used_name() {
    let store = store_on_empty_redis(5).await;
    let win = |winner: u32, name: &str| GameResult {
        game_id: 7,
        game_name: name.into(),
        ..result(winner, "rabbitmq")
    };
    store
        .apply_batch(&[
            win(1, "Random"),
            win(1, "Random"),
            win(2, "Random"),
            win(2, "Random"),
            win(3, "Random"),
        ])
        .await
        .expect("batch");
    let mut ranks = Vec::new();
    for player in [1, 2, 3, 4] {
        ranks.push(store.player_stats(player).await.expect("redis").rank);
    }
    assert_eq!(ranks, [Some(1), Some(1), Some(3), None]);

    // One client labels game 7 differently: it keeps the name most games used.
    store
        .apply_batch(&[win(3, "<b>Hijack</b>")])
        .await
        .expect("batch");
    let game = store.game_stats(7).await.expect("redis");
    assert_eq!(game.game_name.as_deref(), Some("Random"));
    let relabel: Vec<GameResult> = (0..5).map(|_| win(4, "<b>Hijack</b>")).collect();
    store.apply_batch(&relabel).await.expect("batch");
    let game = store.game_stats(7).await.expect("redis");
    assert_eq!(game.game_name.as_deref(), Some("<b>Hijack</b>"));
    let live = store.live_stats(10).await.expect("redis");
    assert_eq!(live.game_numbers[0].game_name, "<b>Hijack</b>");
}
