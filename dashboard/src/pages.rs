//! The HTML pages: askama templates over the same reports as the JSON twins.
//! Text from clients (game names) is escaped by askama; charts are inline SVG.

use askama::Template;
use squidgame_common::store::{GameStats, LogFilter, PlayerStats};
use tide::http::mime;
use tide::{Redirect, Response, StatusCode};

use crate::charts::BarChart;
use crate::reports::{self, Failure, LogReport, Overview, Req};

fn html(status: StatusCode, page: &impl Template) -> tide::Result {
    match page.render() {
        Ok(body) => Ok(Response::builder(status)
            .content_type(mime::HTML)
            .body(body)
            .build()),
        Err(e) => Err(tide::Error::from_str(
            StatusCode::InternalServerError,
            format!("page could not be rendered: {e}"),
        )),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    message: &'a str,
}

fn error_page(failure: &Failure) -> tide::Result {
    html(
        failure.status(),
        &ErrorPage {
            message: failure.message(),
        },
    )
}

/// Any other address: the HTML error page for a browser, JSON under `/api/`.
pub(crate) async fn not_found(req: Req) -> tide::Result {
    let path = req.url().path().to_string();
    if path.starts_with("/api/") {
        return Ok(squidgame_common::http::json_error(
            StatusCode::NotFound,
            format!("no such resource: {path}"),
        ));
    }
    html(
        StatusCode::NotFound,
        &ErrorPage {
            message: &format!("no such page: {path}"),
        },
    )
}

// ---------------------------------------------------------------- overview

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    overview: Overview,
    routes: BarChart,
    top_games: BarChart,
}

impl OverviewPage {
    fn new(overview: Overview) -> Self {
        let (routes, top_games) = match &overview.redis {
            Some(live) => (
                BarChart::new(
                    "games carried per route",
                    [
                        ("kafka".to_string(), live.routes.kafka),
                        ("rabbitmq".to_string(), live.routes.rabbitmq),
                    ],
                ),
                BarChart::of_total(
                    "the three most played games",
                    live.games
                        .iter()
                        .take(3)
                        .map(|g| (g.game_name.clone(), g.played)),
                    live.total,
                ),
            ),
            None => (BarChart::new("", []), BarChart::new("", [])),
        };
        OverviewPage {
            routes,
            top_games,
            overview,
        }
    }
}

pub(crate) async fn overview(req: Req) -> tide::Result {
    let page = OverviewPage::new(reports::overview(req.state()).await);
    html(page.overview.status(), &page)
}

// ---------------------------------------------------------------- game log

#[derive(Template)]
#[template(path = "log.html")]
struct LogPageView {
    report: LogReport,
    /// The filter as the form shows it.
    game: String,
    winner: String,
    route: String,
    routes: Option<BarChart>,
    top_games: Option<BarChart>,
    previous: Option<String>,
    next: Option<String>,
}

/// The `/log` address of `page` under `filter`.
fn log_href(filter: &LogFilter, page: u64) -> String {
    let field = |v: Option<String>| v.unwrap_or_default();
    format!(
        "/log?game={}&winner={}&route={}&page={page}",
        field(filter.game.map(|g| g.to_string())),
        field(filter.winner.map(|w| w.to_string())),
        field(filter.route.map(|r| r.to_string())),
    )
}

pub(crate) async fn log(req: Req) -> tide::Result {
    let (filter, page) = match reports::query_pairs(&req).and_then(|p| reports::log_query(&p)) {
        Ok(query) => query,
        Err(failure) => return error_page(&failure),
    };
    let page = LogPageView::new(
        reports::log_report(req.state(), filter, page).await,
        filter,
        page,
    );
    html(page.report.status(), &page)
}

impl LogPageView {
    fn new(report: LogReport, filter: LogFilter, page: u64) -> Self {
        let (routes, top_games) = match &report.summary {
            Some(summary) => (
                Some(BarChart::new(
                    "games stored per route (worker)",
                    [
                        ("worker-kafka".to_string(), summary.by_route.kafka),
                        ("worker-rabbit".to_string(), summary.by_route.rabbitmq),
                    ],
                )),
                Some(BarChart::of_total(
                    "the three most played games",
                    summary
                        .top_games
                        .iter()
                        .map(|g| (g.game_name.clone(), g.played)),
                    summary.games,
                )),
            ),
            None => (None, None),
        };
        let has_next = report.log.as_ref().is_some_and(|l| l.has_next);
        LogPageView {
            game: filter.game.map(|g| g.to_string()).unwrap_or_default(),
            winner: filter.winner.map(|w| w.to_string()).unwrap_or_default(),
            route: filter.route.map(|r| r.to_string()).unwrap_or_default(),
            routes,
            top_games,
            previous: (page > 1).then(|| log_href(&filter, page - 1)),
            next: has_next.then(|| log_href(&filter, page + 1)),
            report,
        }
    }
}

// ---------------------------------------------------------------- player and game

/// The player and game pick forms submit `?player=N` / `?game=N`.
async fn pick(req: Req, what: &str, prefix: &str) -> tide::Result {
    let picked = reports::query_pairs(&req).and_then(|pairs| {
        let value = pairs.get(what).map(String::as_str).unwrap_or_default();
        reports::parse_number(what, value)
    });
    match picked {
        Ok(n) => Ok(Redirect::see_other(format!("{prefix}/{n}")).into()),
        Err(failure) => error_page(&failure),
    }
}

pub(crate) async fn pick_player(req: Req) -> tide::Result {
    pick(req, "player", "/players").await
}

pub(crate) async fn pick_game(req: Req) -> tide::Result {
    pick(req, "game", "/games").await
}

#[derive(Template)]
#[template(path = "player.html")]
struct PlayerPage {
    player: u32,
    stats: Option<PlayerStats>,
    error: Option<String>,
    wins_per_game: BarChart,
}

pub(crate) async fn player(req: Req) -> tide::Result {
    let player = match reports::path_number(&req, "player") {
        Ok(player) => player,
        Err(failure) => return error_page(&failure),
    };
    let report = reports::player_report(req.state(), player).await;
    let status = report
        .as_ref()
        .map_or_else(Failure::status, |_| StatusCode::Ok);
    html(status, &PlayerPage::new(player, report))
}

impl PlayerPage {
    fn new(player: u32, report: Result<PlayerStats, Failure>) -> Self {
        let wins_per_game = BarChart::new(
            "wins per game",
            report.iter().flat_map(|s| {
                s.wins_per_game
                    .iter()
                    .map(|g| (format!("{} {}", g.game, g.game_name), g.count))
            }),
        );
        let (stats, error) = split(report);
        PlayerPage {
            player,
            stats,
            error,
            wins_per_game,
        }
    }
}

#[derive(Template)]
#[template(path = "game.html")]
struct GamePage {
    game: u32,
    stats: Option<GameStats>,
    error: Option<String>,
    deciles: BarChart,
}

pub(crate) async fn game(req: Req) -> tide::Result {
    let game = match reports::path_number(&req, "game") {
        Ok(game) => game,
        Err(failure) => return error_page(&failure),
    };
    let report = reports::game_report(req.state(), game).await;
    let status = report
        .as_ref()
        .map_or_else(Failure::status, |_| StatusCode::Ok);
    html(status, &GamePage::new(game, report))
}

impl GamePage {
    fn new(game: u32, report: Result<GameStats, Failure>) -> Self {
        let deciles = BarChart::new(
            "wins by where the winner stood in the line-up",
            report.iter().flat_map(|s| {
                s.winner_deciles
                    .iter()
                    .enumerate()
                    .map(|(tenth, wins)| (format!("{}–{}%", tenth * 10, tenth * 10 + 10), *wins))
            }),
        );
        let (stats, error) = split(report);
        GamePage {
            game,
            stats,
            error,
            deciles,
        }
    }
}

fn split<T>(report: Result<T, Failure>) -> (Option<T>, Option<String>) {
    match report {
        Ok(value) => (Some(value), None),
        Err(failure) => (None, Some(failure.message().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use squidgame_common::result::GameResultJson;
    use squidgame_common::store::{
        GameNumber, GamePlayed, LiveStats, LogPage, LogStats, PlayerWins, RouteCounts,
    };

    const SCRIPT: &str = "<script>alert(1)</script>";

    fn played(name: &str) -> GameResultJson {
        GameResultJson {
            id: "9f1c2d3e-0000-4000-8000-000000000001".into(),
            game: 1,
            game_name: name.into(),
            players: 30,
            winner: 7,
            route: "kafka".into(),
            played_at: "2026-12-03T19:00:00.000Z".into(),
            rounds: 1,
        }
    }

    fn live(name: &str) -> LiveStats {
        LiveStats {
            total: 3,
            routes: RouteCounts {
                kafka: 2,
                rabbitmq: 1,
            },
            recent: vec![played(name)],
            top_players: vec![PlayerWins { player: 7, wins: 3 }],
            games: vec![GamePlayed {
                game_name: name.into(),
                played: 3,
            }],
            game_numbers: vec![GameNumber {
                game: 1,
                game_name: name.into(),
                count: 3,
            }],
        }
    }

    fn log_stats(name: &str) -> LogStats {
        LogStats {
            games: 3,
            by_route: RouteCounts {
                kafka: 2,
                rabbitmq: 1,
            },
            top_games: vec![GamePlayed {
                game_name: name.into(),
                played: 3,
            }],
        }
    }

    fn overview(redis: Option<LiveStats>, mongo: Option<LogStats>, errors: &[&str]) -> String {
        OverviewPage::new(Overview {
            redis,
            mongo,
            mongo_as_of: Some("2026-12-03T19:00:01.000Z".into()),
            errors: errors.iter().map(|e| e.to_string()).collect(),
        })
        .render()
        .expect("renders")
    }

    fn assert_escaped(html: &str) {
        assert!(!html.contains(SCRIPT), "raw script tag in the page");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "the escaped name is missing"
        );
    }

    #[test]
    fn a_game_name_from_a_url_shows_as_text_on_every_page() {
        assert_escaped(&overview(Some(live(SCRIPT)), Some(log_stats(SCRIPT)), &[]));

        let log = LogReport {
            log: Some(LogPage {
                page: 1,
                per_page: 25,
                filter: LogFilter::default(),
                games: vec![played(SCRIPT)],
                has_next: false,
            }),
            summary: Some(log_stats(SCRIPT)),
            summary_as_of: None,
            errors: vec![],
        };
        assert_escaped(
            &LogPageView::new(log, LogFilter::default(), 1)
                .render()
                .expect("log"),
        );

        let player = PlayerStats {
            player: 7,
            wins: 1,
            rank: Some(1),
            last_game: Some(SCRIPT.into()),
            last_win: Some("2026-12-03T19:00:00.000Z".into()),
            wins_per_game: vec![GameNumber {
                game: 1,
                game_name: SCRIPT.into(),
                count: 1,
            }],
            recent_wins: vec![played(SCRIPT)],
        };
        assert_escaped(&PlayerPage::new(7, Ok(player)).render().expect("player"));

        let game = GameStats {
            game: 1,
            game_name: Some(SCRIPT.into()),
            played: 1,
            average_players: 30.0,
            top_winners: vec![PlayerWins { player: 7, wins: 1 }],
            winner_deciles: [0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
        };
        assert_escaped(&GamePage::new(1, Ok(game)).render().expect("game"));
    }

    #[test]
    fn the_overview_shows_the_numbers_and_charts() {
        let html = overview(Some(live("Random")), Some(log_stats("Random")), &[]);
        assert!(html.contains(r#"id="total">3<"#));
        assert!(html.contains(r#"id="mongo-games">3<"#));
        assert!(html.contains(r#"data-label="kafka" data-value="2""#));
        assert!(html.contains(r#"data-label="rabbitmq" data-value="1""#));
        assert!(html.contains("2 (66.7%)"));
        assert!(html.contains(r#"<a href="/players/7">7</a></td><td class="num">3<"#));
    }

    #[test]
    fn empty_stores_show_an_empty_state() {
        let empty = LiveStats {
            total: 0,
            routes: RouteCounts::default(),
            recent: vec![],
            top_players: vec![],
            games: vec![],
            game_numbers: vec![],
        };
        let html = overview(Some(empty), None, &[]);
        assert!(html.contains(r#"id="total">0<"#));
        assert!(html.contains("No games yet"));
        assert!(!html.contains("role=\"alert\""));

        let game = GameStats {
            game: 9,
            game_name: None,
            played: 0,
            average_players: 0.0,
            top_winners: vec![],
            winner_deciles: [0; 10],
        };
        let html = GamePage::new(9, Ok(game)).render().expect("game");
        assert!(html.contains("Game 9 has not been played yet."));
    }

    #[test]
    fn a_store_that_is_down_is_named_and_the_other_report_stays() {
        let html = overview(
            None,
            Some(log_stats("Random")),
            &["Redis is unavailable: connection refused"],
        );
        assert!(html.contains("Redis is unavailable: connection refused"));
        assert!(html.contains(r#"<a href="/log">game log</a> still works"#));
        assert!(
            html.contains(r#"id="mongo-games">3<"#),
            "the MongoDB summary stays"
        );

        let html = overview(
            Some(live("Random")),
            None,
            &["MongoDB is unavailable: server selection timeout"],
        );
        assert!(html.contains("MongoDB is unavailable"));
        assert!(html.contains(r#"id="total">3<"#), "the Redis report stays");

        let down = Failure::Down("Redis is unavailable: connection refused".into());
        let html = PlayerPage::new(7, Err(down.clone()))
            .render()
            .expect("player");
        assert!(html.contains("Redis is unavailable: connection refused"));
        assert!(html.contains(r#"<a href="/log?winner=7">game log</a>"#));
        let html = GamePage::new(4, Err(down)).render().expect("game");
        assert!(html.contains("Redis is unavailable: connection refused"));
        assert!(html.contains(r#"<a href="/log?game=4">game log</a>"#));
    }

    #[test]
    fn the_top_3_chart_shares_all_games_played() {
        let mut stats = live("Random");
        stats.total = 8;
        stats.games = ["Random", "Roulette", "Last", "Glass Bridge"]
            .iter()
            .zip([3, 2, 2, 1])
            .map(|(name, played)| GamePlayed {
                game_name: name.to_string(),
                played,
            })
            .collect();
        let html = overview(Some(stats), None, &[]);
        assert!(html.contains("3 (37.5%)"), "{html}");
        assert!(!html.contains("Glass Bridge</text>"), "only three bars");
    }

    #[test]
    fn log_pages_link_forward_and_back_with_their_filter() {
        let filter = LogFilter {
            game: Some(2),
            winner: None,
            route: Some(squidgame_common::result::Route::Kafka),
        };
        assert_eq!(
            log_href(&filter, 3),
            "/log?game=2&winner=&route=kafka&page=3"
        );
    }
}
