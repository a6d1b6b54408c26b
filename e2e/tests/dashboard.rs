//! The dashboard in a real browser: games go through the whole stack, headless
//! Chromium (Debian's `chromium`, or `CHROMIUM`) opens the pages, and the numbers it
//! shows must be the ones of the JSON twins. A screenshot of the overview is saved
//! under the ignored run folder.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::*;
use serde_json::Value;

/// How long one headless Chromium run may take.
const CHROMIUM_LIMIT: Duration = Duration::from_secs(60);
const SCRIPT_NAME: &str = "<script>alert(1)</script>";

/// The run folder of the test stack (ignored by git).
fn run_dir() -> PathBuf {
    std::env::var_os("RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("run/test"))
}

/// Headless Chromium with a throwaway profile and nothing that calls the internet.
fn chromium(args: &[&str]) -> String {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let profile = tempfile_dir("chromium-profile");
    let mut child = Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,1100",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{binary} could not be started ({e}): `make test` installs Debian's chromium")
        });
    // Read both pipes while waiting, so a large page cannot fill a pipe and stall.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    // A browser that hangs fails the test instead of the whole run.
    let deadline = Instant::now() + CHROMIUM_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("chromium status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{binary} {args:?} did not finish within {CHROMIUM_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = stderr.join().unwrap_or_default();
    assert!(status.success(), "{binary} {args:?} failed: {stderr}");
    let _ = std::fs::remove_dir_all(profile);
    stdout.join().unwrap_or_default()
}

fn tempfile_dir(name: &str) -> PathBuf {
    let dir = run_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("profile folder");
    dir
}

/// The page's DOM after its scripts ran for 3 s of virtual time, long enough for
/// one live refresh (every 2 s).
fn rendered_dom(url: &str) -> String {
    chromium(&["--virtual-time-budget=3000", "--dump-dom", url])
}

/// The text of the element with `id`, up to its first child tag.
fn text_of(dom: &str, id: &str) -> Option<String> {
    let start = dom.find(&format!("id=\"{id}\""))?;
    let rest = &dom[start..];
    let text = &rest[rest.find('>')? + 1..];
    Some(text[..text.find('<')?].trim().to_string())
}

fn number_of(dom: &str, id: &str) -> u64 {
    text_of(dom, id)
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no number in #{id} of the page"))
}

/// The rows (after the header) of the table with `id`, each as its cells' text.
fn table_rows(dom: &str, id: &str) -> Vec<Vec<String>> {
    let start = dom
        .find(&format!("<table id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table #{id} on the page"));
    let table = &dom[start..start + dom[start..].find("</table>").expect("table end")];
    table
        .split("<tr>")
        .skip(2)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let inner = &cell[cell.find('>').map_or(0, |i| i + 1)..];
                    strip_tags(&inner[..inner.find("</td>").unwrap_or(inner.len())])
                })
                .collect()
        })
        .collect()
}

fn strip_tags(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.trim().to_string()
}

/// The value a chart bar shows for `label`.
fn bar_value(dom: &str, label: &str) -> u64 {
    let marker = format!("data-label=\"{label}\" data-value=\"");
    let start = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no chart bar {label:?} on the page"))
        + marker.len();
    dom[start..start + dom[start..].find('"').expect("value end")]
        .parse()
        .expect("bar value")
}

async fn api(path: &str) -> Value {
    let (status, json) = get_json(&format!("{}{path}", stack_env("DASHBOARD_URL"))).await;
    assert_eq!(status, 200, "GET {path}: {json}");
    json
}

#[async_std::test]
#[ignore = "needs the test stack and chromium: run with `make test`"]
async fn the_pages_show_in_a_browser_what_the_json_twins_say() {
    let store = stack_store().await;
    let dashboard = stack_env("DASHBOARD_URL");
    let before = store.live_stats(1).await.expect("redis").total;

    let gamenames = format!("1 | Random ; 4 | Glass Bridge ; 6 | {SCRIPT_NAME}");
    let (report, code) = rungame(&[
        "--url",
        &stack_env("SPLIT_URL"),
        "--gamename",
        &gamenames,
        "--players",
        "20",
        "--rungames",
        "60",
        "--concurrence",
        "4",
        "--seed",
        "7",
    ]);
    assert_eq!(code, 0, "{report}");
    let ok = report["ok"].as_u64().expect("ok");
    assert_eq!(ok, 60, "{report}");

    // Wait until the games are in both stores and in the dashboard's log summary.
    let caught_up = eventually(Duration::from_secs(60), || async {
        let total = store.live_stats(1).await.map_or(0, |l| l.total);
        let logged = store.log_stats().await.map_or(0, |l| l.games);
        let (_, overview) = get_json(&format!("{dashboard}/api/overview")).await;
        total >= before + ok && overview["mongo"]["games"].as_u64() == Some(logged)
    })
    .await;
    assert!(
        caught_up,
        "the {ok} games did not reach the dashboard within 60 s"
    );

    // The overview, after one live refresh in the browser.
    let dom = rendered_dom(&format!("{dashboard}/"));
    let overview = api("/api/overview").await;
    let redis = &overview["redis"];
    assert!(
        dom.contains("data-refreshed-at="),
        "the page did not refresh itself"
    );
    assert_eq!(number_of(&dom, "total"), redis["total"].as_u64().unwrap());
    assert_eq!(
        number_of(&dom, "mongo-games"),
        overview["mongo"]["games"].as_u64().unwrap()
    );
    for route in ["kafka", "rabbitmq"] {
        assert_eq!(
            bar_value(&dom, route),
            redis["routes"][route].as_u64().unwrap(),
            "{route} bar"
        );
    }
    let recent = table_rows(&dom, "recent");
    let recent_json = redis["recent"].as_array().expect("recent");
    assert_eq!(recent.len(), recent_json.len());
    for (row, game) in recent.iter().zip(recent_json) {
        assert_eq!(row[1], html_escape(game["game_name"].as_str().unwrap()));
        assert_eq!(row[3], game["winner"].to_string());
    }
    let top = table_rows(&dom, "top-players");
    let top_json = redis["top_players"].as_array().expect("top players");
    assert_eq!(top.len(), top_json.len());
    for (row, player) in top.iter().zip(top_json) {
        assert_eq!(row[0], player["player"].to_string());
        assert_eq!(row[1], player["wins"].to_string());
    }
    // The top-3 chart (names short enough to be shown whole).
    for game in redis["games"].as_array().expect("games").iter().take(3) {
        let name = game["game_name"].as_str().unwrap();
        if name.chars().count() <= 18 {
            assert_eq!(bar_value(&dom, name), game["played"].as_u64().unwrap());
        }
    }
    // The name that came in a URL is text, not a script element.
    assert!(!dom.contains(SCRIPT_NAME), "a game name ran as HTML");
    assert!(dom.contains(&html_escape(SCRIPT_NAME)));

    let screens = run_dir().join("screens");
    std::fs::create_dir_all(&screens).expect("screens folder");
    let shot = screens.join("overview.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        &format!("--screenshot={}", shot.display()),
        &format!("{dashboard}/"),
    ]);
    assert_png(&shot);

    // The best player's page.
    let best = top_json[0]["player"].as_u64().unwrap();
    let dom = rendered_dom(&format!("{dashboard}/players/{best}"));
    let player = api(&format!("/api/players/{best}")).await;
    assert_eq!(
        number_of(&dom, "player-wins"),
        player["wins"].as_u64().unwrap()
    );
    assert_eq!(number_of(&dom, "player-rank"), 1);
    assert_eq!(
        table_rows(&dom, "recent-wins").len(),
        player["recent_wins"].as_array().unwrap().len()
    );

    // Game 4's page: times played and average players as the twin says.
    let dom = rendered_dom(&format!("{dashboard}/games/4"));
    let game = api("/api/games/4").await;
    assert_eq!(
        number_of(&dom, "game-played"),
        game["played"].as_u64().unwrap()
    );
    assert_eq!(
        text_of(&dom, "game-average").unwrap(),
        format!("{:.1}", game["average_players"].as_f64().unwrap())
    );
    let deciles: u64 = game["winner_deciles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .sum();
    assert_eq!(deciles, game["played"].as_u64().unwrap());

    // The game log filtered to game 6: every row is game 6 under its escaped name.
    let dom = rendered_dom(&format!("{dashboard}/log?game=6&route=&winner="));
    let log = api("/api/log?game=6").await;
    let rows = table_rows(&dom, "log");
    assert_eq!(rows.len(), log["log"]["games"].as_array().unwrap().len());
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r[1] == "6" && r[2] == html_escape(SCRIPT_NAME)));
}

/// How a DOM dump writes `text` in a text node.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        path.display()
    );
    assert!(bytes.len() > 10_000, "{} is nearly empty", path.display());
}
