//! SIGTERM/SIGINT handling shared by every binary, independent of the async runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// A shutdown signal that any number of tasks can wait for.
///
/// Triggering closes a channel, which wakes every waiter at once on any runtime.
#[derive(Clone)]
pub struct Shutdown {
    triggered: Arc<AtomicBool>,
    sender: async_channel::Sender<()>,
    receiver: async_channel::Receiver<()>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A shutdown that only [`Shutdown::trigger`] fires (used by tests).
    pub fn new() -> Self {
        let (sender, receiver) = async_channel::bounded(1);
        Shutdown {
            triggered: Arc::new(AtomicBool::new(false)),
            sender,
            receiver,
        }
    }

    /// A shutdown fired by the first SIGTERM or SIGINT; a second signal exits at once.
    pub fn on_signals() -> std::io::Result<Self> {
        let shutdown = Shutdown::new();
        let mut signals = Signals::new([SIGTERM, SIGINT])?;
        let trigger = shutdown.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let mut seen = 0;
                for signal in signals.forever() {
                    seen += 1;
                    if seen > 1 {
                        tracing::warn!(signal, "second signal: exiting now");
                        std::process::exit(130);
                    }
                    tracing::info!(signal, "shutdown requested: finishing in-flight work");
                    trigger.trigger();
                }
            })?;
        Ok(shutdown)
    }

    pub fn trigger(&self) {
        self.triggered.store(true, Ordering::SeqCst);
        self.sender.close();
    }

    pub fn is_triggered(&self) -> bool {
        self.triggered.load(Ordering::SeqCst)
    }

    /// Resolves once shutdown has been triggered.
    pub async fn wait(&self) {
        // Nothing is ever sent: `recv` only returns when the channel is closed.
        let _ = self.receiver.recv().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_wakes_every_waiter() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.is_triggered());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let s = shutdown.clone();
                std::thread::spawn(move || futures_lite::future::block_on(s.wait()))
            })
            .collect();
        shutdown.trigger();
        for w in waiters {
            w.join().unwrap();
        }
        assert!(shutdown.is_triggered());
    }
}
