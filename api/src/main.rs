use std::process::ExitCode;

use clap::Parser;
use squidgame_common::{http, telemetry, Shutdown};

fn main() -> ExitCode {
    telemetry::init("info");
    let config = api::Config::parse();
    match async_std::task::block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("api: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: api::Config) -> anyhow::Result<()> {
    let shutdown = Shutdown::on_signals()?;
    let app = api::build(&config)?;
    let listener = http::bind(&config.listen).await?;
    tracing::info!(listen = %config.listen, grpc = %config.grpc_url, "api ready");
    http::serve(app, listener, shutdown).await;
    tracing::info!("api stopped");
    Ok(())
}
