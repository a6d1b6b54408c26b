//! rungame: the Squid Games traffic generator.
//!
//! `rungame --gamename "1 | Random ; 2 | Roulette" --players 30 --rungames 30000 --concurrence 10 --timeout 3m`

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use squidgame_common::Shutdown;

use rungame::games::{parse_games, GameSpec};
use rungame::plan::Plan;
use rungame::report::Report;
use rungame::run::{self, Progress, Run};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Sends Squid Games requests with bounded concurrency and reports what happened"
)]
struct Args {
    /// Games to draw from: "1 | Random ; 2 | Roulette" or "1 Random | 2 Roulette | 5 Last".
    #[arg(long, value_parser = parse_game_list)]
    gamename: GameList,
    /// Most players in a game; each request draws its count uniformly from min..=max.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    players: u32,
    /// Fewest players in a game.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    min_players: u32,
    /// Requests to send (at most).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    rungames: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    concurrence: u32,
    /// Stop sending after this long, e.g. 90s, 3m, 1h30m.
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    timeout: Duration,
    /// Open model: send this many requests per second in all, however slow the answers
    /// (latency then counts from when each request was due). Needs enough --concurrence.
    #[arg(long, value_parser = parse_rate)]
    rate: Option<f64>,
    /// Give up on one request after this long.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// Base URL of the api (or the split in front of it).
    #[arg(long, env = "RUNGAME_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Seed for the endpoint sequence (same seed, same sequence); random by default.
    #[arg(long)]
    seed: Option<u64>,
    /// Print the endpoint URLs, one per line, and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// The parsed `--gamename` (a newtype so clap keeps the list as one value).
#[derive(Debug, Clone)]
struct GameList(Vec<GameSpec>);

fn parse_game_list(s: &str) -> Result<GameList, String> {
    parse_games(s).map(GameList).map_err(|e| e.to_string())
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "{s:?} is not a positive number of requests per second"
        )),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration like 90s, 3m or 1h30m ({e})"))?;
    if d.is_zero() {
        return Err(format!("{s:?} must be longer than zero"));
    }
    Ok(d)
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line: clap's first line, which names the flag and the value.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("rungame: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    match run_main(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("rungame: {message}");
            ExitCode::from(2)
        }
    }
}

fn run_main(args: Args) -> Result<ExitCode, String> {
    let games = args.gamename.0;
    if args.min_players > args.players {
        return Err(format!(
            "--min-players {} is above --players {}",
            args.min_players, args.players
        ));
    }
    let base_url = args.url.trim_end_matches('/').to_string();
    let base = surf::Url::parse(&base_url)
        .ok()
        .filter(|u| u.scheme() == "http" && u.has_host() && u.path() == "/")
        .ok_or_else(|| {
            format!(
                "--url {:?} must be an http:// URL without a path, like http://127.0.0.1:8080",
                args.url
            )
        })?;
    let labels: Vec<String> = games.iter().map(|g| g.to_string()).collect();
    let seed = args.seed.unwrap_or_else(rand::random);
    let plan = Plan::new(games, args.min_players, args.players, seed);

    if args.dry_run {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        for i in 0..args.rungames {
            if writeln!(out, "{}{}", base_url, plan.endpoint(i).path).is_err() {
                break; // stdout closed (e.g. piped into head)
            }
        }
        let _ = out.flush();
        return Ok(ExitCode::SUCCESS);
    }

    let run = Arc::new(Run {
        base,
        plan,
        requests: args.rungames,
        concurrence: args.concurrence,
        timeout: args.timeout,
        request_timeout: args.request_timeout,
        rate: args.rate,
    });
    let client = run::client();
    let shutdown = Shutdown::on_signals().map_err(|e| format!("cannot watch for Ctrl-C: {e}"))?;
    let progress = Arc::new(Progress::default());
    let stop_display = Arc::new(AtomicBool::new(false));
    // The live line only on a terminal: piped output gets nothing but the report.
    let display = std::io::stderr()
        .is_terminal()
        .then(|| run::spawn_progress_line(&run, progress.clone(), stop_display.clone()));
    let (tally, elapsed, stopped_by) =
        async_io::block_on(run::execute(run.clone(), client, shutdown, progress));
    stop_display.store(true, Ordering::Relaxed);
    if let Some(display) = display {
        let _ = display.join();
    }
    let report = Report::new(
        &tally,
        &base_url,
        args.rungames,
        args.concurrence,
        &labels,
        elapsed,
        stopped_by.as_str(),
    );
    match args.output {
        Output::Text => print!("{}", report.to_text()),
        Output::Json => println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        ),
    }
    Ok(if report.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
