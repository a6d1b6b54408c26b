//! rungame's library: the `--gamename` parser, the endpoint plan, the sender and the
//! report. `main.rs` turns flags into a [`run::Run`] and prints the [`report::Report`].

pub mod games;
pub mod plan;
pub mod report;
pub mod run;
pub mod transport;
