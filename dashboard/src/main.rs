use std::process::ExitCode;

use clap::Parser;
use squidgame_common::{http, telemetry};

fn main() -> ExitCode {
    telemetry::init("info");
    let config = dashboard::Config::parse();
    match async_std::task::block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dashboard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: dashboard::Config) -> anyhow::Result<()> {
    let app = dashboard::build(&config).await?;
    http::serve_until_signal("dashboard", &config.listen, app).await?;
    Ok(())
}
