use std::process::ExitCode;

use clap::Parser;
use squidgame_common::{http, telemetry};

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
    let app = api::build(&config)?;
    tracing::info!(grpc = %config.grpc_url, "api plays games on grpc-server");
    http::serve_until_signal("api", &config.listen, app).await?;
    Ok(())
}
