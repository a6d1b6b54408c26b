//! Code shared by the Squid Games binaries.
//!
//! The result model, configuration pieces and shutdown handling are always built;
//! the HTTP edge helpers, the store and the queue setup sit behind features so each
//! binary links only what it uses.

pub mod result;
pub mod shutdown;
pub mod telemetry;

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "store")]
pub mod store;
#[cfg(feature = "store")]
pub mod worker;

pub use result::{GameResult, GameResultJson, InvalidResult, Route};
pub use shutdown::Shutdown;
