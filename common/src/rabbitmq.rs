//! RabbitMQ names and topology shared by grpc-server (publisher) and worker-rabbit.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};

pub const RESULTS_QUEUE: &str = "squidgame.results";
pub const DLX_EXCHANGE: &str = "squidgame.dlx";
pub const DLQ_QUEUE: &str = "squidgame.results.dlq";
/// Header carrying why a message was dead-lettered.
pub const REASON_HEADER: &str = "x-squidgame-reason";

#[derive(Debug, Clone, clap::Args)]
pub struct AmqpArgs {
    /// RabbitMQ URL.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        value_parser = parse_amqp_url
    )]
    pub amqp_url: String,
}

/// An `amqp://` or `amqps://` URL, checked the way the client will read it.
pub fn parse_amqp_url(url: &str) -> Result<String, String> {
    if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
        return Err(format!(
            "expected an amqp:// or amqps:// URL, got {}",
            crate::result::quoted(url)
        ));
    }
    let uri = url
        .parse::<lapin::uri::AMQPUri>()
        .map_err(|e| format!("not a usable AMQP URL ({e})"))?;
    if uri.authority.host.is_empty() || uri.authority.port == 0 {
        return Err(format!(
            "an AMQP URL needs a host and a port other than 0, got {}",
            crate::result::quoted(url)
        ));
    }
    Ok(url.to_string())
}

/// Declares the durable results queue, the dead-letter exchange and queue (idempotent;
/// publisher and consumer both call it so either may start first).
pub async fn declare_topology(channel: &Channel) -> Result<(), lapin::Error> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .exchange_declare(
            DLX_EXCHANGE.into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(DLQ_QUEUE.into(), durable, FieldTable::default())
        .await?;
    channel
        .queue_bind(
            DLQ_QUEUE.into(),
            DLX_EXCHANGE.into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-dead-letter-exchange"),
        AMQPValue::LongString(DLX_EXCHANGE.into()),
    );
    channel
        .queue_declare(RESULTS_QUEUE.into(), durable, args)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_amqp_url;

    #[test]
    fn amqp_urls_are_checked_before_connecting() {
        for good in [
            "amqp://guest:guest@127.0.0.1:5672/%2f",
            "amqps://rabbit.example",
        ] {
            assert_eq!(parse_amqp_url(good).as_deref(), Ok(good));
        }
        for bad in [
            "",
            "garbage",
            "http://127.0.0.1:5672",
            "amqp://h:notaport/",
            "amqp://h:0/",
        ] {
            assert!(parse_amqp_url(bad).is_err(), "{bad:?}");
        }
    }
}
