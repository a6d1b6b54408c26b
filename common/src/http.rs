//! Helpers for the tide HTTP edges (api, dashboard, worker health ports).
//!
//! tide's own `listen` leaves Nagle's algorithm on, so with keep-alive clients every
//! response waits for a delayed ACK (about 40 ms). [`serve`] accepts connections itself,
//! sets `TCP_NODELAY` and hands each one to `async_h1`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_std::net::TcpListener;
use futures_lite::future;
use tide::http::mime;
use tide::{Middleware, Next, Request, Response, StatusCode};

use crate::Shutdown;

/// How long shutdown waits for requests already being served.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `addr`; fails with a message naming the address.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Serves `app` on `listener` until `shutdown`, then waits for in-flight requests.
pub async fn serve<S>(app: tide::Server<S>, listener: TcpListener, shutdown: Shutdown)
where
    S: Clone + Send + Sync + 'static,
{
    let in_flight = Arc::new(AtomicUsize::new(0));
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            shutdown.wait().await;
            None
        })
        .await;
        let Some(accepted) = accepted else { break };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                async_std::task::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let in_flight = in_flight.clone();
        async_std::task::spawn(async move {
            let served = async_h1::accept(stream, |req| {
                let app = app.clone();
                let in_flight = in_flight.clone();
                async move {
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    let res = app.respond(req).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    res
                }
            })
            .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    let deadline = std::time::Instant::now() + DRAIN_TIMEOUT;
    while in_flight.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
        async_std::task::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs an HTTP service: listens on `listen`, serves `app` until SIGTERM/SIGINT, then
/// finishes the requests in flight. What the api and the dashboard binaries do.
pub async fn serve_until_signal<S>(
    name: &str,
    listen: &str,
    app: tide::Server<S>,
) -> std::io::Result<()>
where
    S: Clone + Send + Sync + 'static,
{
    let shutdown = Shutdown::on_signals()?;
    let listener = bind(listen).await?;
    tracing::info!(service = name, listen, "ready");
    serve(app, listener, shutdown).await;
    tracing::info!(service = name, "stopped");
    Ok(())
}

/// A JSON error body: `{"error": "<message>"}`.
pub fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    Response::builder(status)
        .content_type(mime::JSON)
        .body(body.to_string())
        .build()
}

/// A 200 JSON body.
pub fn json_ok<T: serde::Serialize>(value: &T) -> tide::Result<Response> {
    Ok(Response::builder(StatusCode::Ok)
        .content_type(mime::JSON)
        .body(serde_json::to_string(value)?)
        .build())
}

/// Gives every error response without a body a JSON one, so clients always get
/// `{"error": ...}` (tide's own 404 and 405 have empty bodies).
pub struct JsonErrors;

#[tide::utils::async_trait]
impl<S: Clone + Send + Sync + 'static> Middleware<S> for JsonErrors {
    async fn handle(&self, req: Request<S>, next: Next<'_, S>) -> tide::Result {
        let method = req.method();
        let path = req.url().path().to_string();
        let mut res = next.run(req).await;
        let status = res.status();
        if status.is_client_error() || status.is_server_error() {
            let empty = res.len().is_none_or(|n| n == 0);
            if empty {
                let message = match status {
                    StatusCode::NotFound => format!("no such resource: {path}"),
                    StatusCode::MethodNotAllowed => {
                        format!("method {method} is not allowed on {path}")
                    }
                    other => match res.error() {
                        Some(e) => e.to_string(),
                        None => other.canonical_reason().to_string(),
                    },
                };
                let mut replaced = json_error(status, message);
                if let Some(retry) = res.header("Retry-After") {
                    replaced.insert_header("Retry-After", retry.as_str());
                }
                res = replaced;
            }
        }
        Ok(res)
    }
}

/// `GET /healthz`: the process is alive and serving.
pub async fn healthz<S: Clone + Send + Sync + 'static>(_req: Request<S>) -> tide::Result {
    json_ok(&serde_json::json!({ "status": "ok" }))
}

/// A small Prometheus text-format registry: counters and gauges keyed by name and labels.
#[derive(Default)]
pub struct Metrics {
    help: BTreeMap<&'static str, (&'static str, &'static str)>,
    values: Mutex<BTreeMap<(&'static str, String), f64>>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a metric family: `kind` is `counter` or `gauge`.
    pub fn describe(mut self, name: &'static str, kind: &'static str, help: &'static str) -> Self {
        self.help.insert(name, (kind, help));
        self
    }

    /// Adds `by` to the series `name{labels}`; `labels` is `key="value",...` or empty.
    pub fn add(&self, name: &'static str, labels: &str, by: f64) {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        *values.entry((name, labels.to_string())).or_insert(0.0) += by;
    }

    pub fn inc(&self, name: &'static str, labels: &str) {
        self.add(name, labels, 1.0);
    }

    pub fn set(&self, name: &'static str, labels: &str, value: f64) {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.insert((name, labels.to_string()), value);
    }

    pub fn get(&self, name: &'static str, labels: &str) -> f64 {
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values
            .get(&(name, labels.to_string()))
            .copied()
            .unwrap_or(0.0)
    }

    /// The registry in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (name, (kind, help)) in &self.help {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            let mut any = false;
            for ((series, labels), value) in values.iter() {
                if series == name {
                    any = true;
                    if labels.is_empty() {
                        out.push_str(&format!("{name} {value}\n"));
                    } else {
                        out.push_str(&format!("{name}{{{labels}}} {value}\n"));
                    }
                }
            }
            if !any {
                out.push_str(&format!("{name} 0\n"));
            }
        }
        out
    }
}

/// `GET /metrics` body for a registry.
pub fn metrics_response(metrics: &Metrics) -> Response {
    Response::builder(StatusCode::Ok)
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_prometheus_text_format() {
        let m = Metrics::new()
            .describe("x_total", "counter", "Things.")
            .describe("y", "gauge", "Level.");
        m.inc("x_total", "status=\"200\"");
        m.add("x_total", "status=\"200\"", 2.0);
        let text = m.render();
        assert!(text.contains("# TYPE x_total counter\n"), "{text}");
        assert!(text.contains("x_total{status=\"200\"} 3\n"), "{text}");
        assert!(text.contains("y 0\n"), "{text}");
        assert_eq!(m.get("x_total", "status=\"200\""), 3.0);
    }
}
