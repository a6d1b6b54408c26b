use std::process::ExitCode;

use clap::Parser;
use squidgame_common::{http, telemetry, Shutdown};

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
    let shutdown = Shutdown::on_signals()?;
    let app = dashboard::build(&config).await?;
    let listener = http::bind(&config.listen).await?;
    tracing::info!(listen = %config.listen, "dashboard ready");
    http::serve(app, listener, shutdown).await;
    Ok(())
}
