//! rungame against a local HTTP server started by the test, which counts what it sees.

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use squidgame_common::{http, Shutdown};

/// What the test server saw.
#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// A server answering every game request like the api would, after `delay`;
/// every `fail_every`-th request gets a 500.
struct TestServer {
    url: String,
    seen: Arc<Seen>,
    shutdown: Shutdown,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

fn start_server(delay: Duration, fail_every: u64) -> TestServer {
    let seen = Arc::new(Seen::default());
    let shutdown = Shutdown::new();
    let listener = async_std::task::block_on(http::bind("127.0.0.1:0")).expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let mut app = tide::with_state(seen.clone());
    app.at("/game/:game/gamename/:name/players/:players").post(
        move |req: tide::Request<Arc<Seen>>| async move {
            let seen = req.state();
            let n = seen.requests.fetch_add(1, Ordering::SeqCst) + 1;
            let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
            async_std::task::sleep(delay).await;
            seen.in_flight.fetch_sub(1, Ordering::SeqCst);
            if fail_every > 0 && n.is_multiple_of(fail_every) {
                return Ok(http::json_error(
                    tide::StatusCode::InternalServerError,
                    "boom",
                ));
            }
            let route = if n.is_multiple_of(2) {
                "kafka"
            } else {
                "rabbitmq"
            };
            http::json_ok(&serde_json::json!({ "route": route, "winner": 1 }))
        },
    );
    async_std::task::spawn(http::serve(app, listener, shutdown.clone()));
    TestServer {
        url,
        seen,
        shutdown,
    }
}

fn rungame(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rungame"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rungame")
}

fn json_report(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn the_server_sees_exactly_the_requests_reported_as_sent() {
    let server = start_server(Duration::ZERO, 0);
    let out = rungame(&[
        "--url",
        &server.url,
        "--gamename",
        "1 | Random ; 2 | Roulette ; 5 | Last",
        "--rungames",
        "500",
        "--concurrence",
        "8",
        "--output",
        "json",
    ]);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(server.seen.requests.load(Ordering::SeqCst), 500);
    assert_eq!(report["sent"], 500);
    assert_eq!(report["ok"], 500);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["not_sent"], 0);
    assert_eq!(report["status_codes"]["200"], 500);
    assert_eq!(report["per_route"]["kafka"], 250);
    assert_eq!(report["per_route"]["rabbitmq"], 250);
    let per_game: u64 = ["1 Random", "2 Roulette", "5 Last"]
        .iter()
        .map(|g| report["per_game"][g]["sent"].as_u64().expect("per game"))
        .sum();
    assert_eq!(per_game, 500);
    let latency = &report["latency_ms"];
    let p = |k: &str| latency[k].as_f64().expect(k);
    assert!(p("min") <= p("p50") && p("p50") <= p("p90") && p("p90") <= p("p99"));
    assert!(p("p99") <= p("p999") && p("p999") <= p("max"));
}

#[test]
fn never_more_than_concurrence_requests_in_flight() {
    let server = start_server(Duration::from_millis(100), 0);
    let out = rungame(&[
        "--url",
        &server.url,
        "--gamename",
        "1 Random",
        "--rungames",
        "40",
        "--concurrence",
        "4",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(server.seen.requests.load(Ordering::SeqCst), 40);
    assert_eq!(server.seen.max_in_flight.load(Ordering::SeqCst), 4);
}

#[test]
fn the_timeout_ends_the_run_and_reports_what_was_cut_off() {
    let server = start_server(Duration::from_secs(30), 0);
    let started = Instant::now();
    let out = rungame(&[
        "--url",
        &server.url,
        "--gamename",
        "1 Random",
        "--rungames",
        "50",
        "--concurrence",
        "5",
        "--timeout",
        "2s",
        "--output",
        "json",
    ]);
    let took = started.elapsed();
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(took < Duration::from_secs(10), "the run took {took:?}");
    let elapsed = report["elapsed_s"].as_f64().expect("elapsed");
    assert!((2.0..5.0).contains(&elapsed), "elapsed {elapsed}");
    assert_eq!(report["sent"], 5);
    assert_eq!(report["errors"]["cut off"], 5);
    assert_eq!(report["failed"], 5);
    assert_eq!(report["not_sent"], 45);
    assert_eq!(report["stopped_by"], "timeout reached");
}

#[test]
fn failures_are_counted_by_status_and_fail_the_exit_code() {
    let server = start_server(Duration::ZERO, 10);
    let out = rungame(&[
        "--url",
        &server.url,
        "--gamename",
        "2 Roulette",
        "--rungames",
        "100",
        "--concurrence",
        "1",
        "--output",
        "json",
    ]);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["status_codes"]["200"], 90);
    assert_eq!(report["status_codes"]["500"], 10);
    assert_eq!(report["ok"], 90);
    assert_eq!(report["failed"], 10);
}

#[test]
fn refused_connections_are_reported_as_such() {
    // Bind and drop a listener to get a port where nobody listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = rungame(&[
        "--url",
        &url,
        "--gamename",
        "1 Random",
        "--rungames",
        "3",
        "--output",
        "json",
    ]);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["errors"]["refused"], 3, "{report}");
}

#[test]
fn rate_paces_the_requests() {
    let server = start_server(Duration::ZERO, 0);
    let out = rungame(&[
        "--url",
        &server.url,
        "--gamename",
        "1 Random",
        "--rungames",
        "30",
        "--rate",
        "20",
        "--output",
        "json",
    ]);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0));
    // Request 29 is due at 29/20 = 1.45 s: the run cannot be shorter.
    assert!(
        report["elapsed_s"].as_f64().expect("elapsed") >= 1.45,
        "{report}"
    );
    assert_eq!(server.seen.requests.load(Ordering::SeqCst), 30);
}

#[test]
fn ctrl_c_prints_the_partial_report() {
    let server = start_server(Duration::from_secs(30), 0);
    let child = Command::new(env!("CARGO_BIN_EXE_rungame"))
        .args([
            "--url",
            &server.url,
            "--gamename",
            "1 Random",
            "--rungames",
            "10",
            "--concurrence",
            "2",
            "--output",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rungame");
    // Wait until both requests are in flight, then interrupt.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.seen.in_flight.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stopped in {:?}",
        started.elapsed()
    );
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["stopped_by"], "interrupted");
    assert_eq!(report["sent"], 2);
    assert_eq!(report["errors"]["cut off"], 2);
    assert_eq!(report["not_sent"], 8);
}

#[test]
fn dry_run_is_repeatable_with_a_seed_and_sends_nothing() {
    let server = start_server(Duration::ZERO, 0);
    let run = |seed: &str| {
        let out = rungame(&[
            "--url",
            &server.url,
            "--gamename",
            "1 | Random ; 4 | Glass Bridge",
            "--rungames",
            "20",
            "--players",
            "12",
            "--seed",
            seed,
            "--dry-run",
        ]);
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let a = run("7");
    assert_eq!(a, run("7"));
    assert_ne!(a, run("8"));
    let lines: Vec<&str> = a.lines().collect();
    assert_eq!(lines.len(), 20);
    for line in lines {
        let path = line.strip_prefix(&server.url).expect("starts with the url");
        let parts: Vec<&str> = path.split('/').collect();
        assert!(["Random", "Glass%20Bridge"].contains(&parts[4]), "{line}");
        let players: u32 = parts[6].parse().expect("players");
        assert!((1..=12).contains(&players));
    }
    assert_eq!(server.seen.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    for args in [
        vec!["--gamename", "1 Random | x"],
        vec!["--gamename", ""],
        vec!["--gamename", "1 A | 1 B"],
        vec!["--gamename", "1 A", "--timeout", "soon"],
        vec!["--gamename", "1 A", "--players", "0"],
        vec!["--gamename", "1 A", "--players", "5", "--min-players", "6"],
        vec!["--gamename", "1 A", "--url", "ftp://x"],
        vec!["--gamename", "1 A", "--rate", "-1"],
        vec!["--rungames", "3"],
    ] {
        let out = rungame(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("rungame: "), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}
