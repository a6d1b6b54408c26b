//! What a run measured, and how it is shown: text for people, JSON for machines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Counts gathered by one sender task; merged at the end.
pub struct Tally {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub status_codes: BTreeMap<u16, u64>,
    pub errors: BTreeMap<String, u64>,
    /// Index into the plan's games → (sent, ok).
    pub per_game: BTreeMap<usize, (u64, u64)>,
    pub per_route: BTreeMap<String, u64>,
    /// Latency of answered requests, in microseconds.
    pub latency: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            sent: 0,
            ok: 0,
            failed: 0,
            status_codes: BTreeMap::new(),
            errors: BTreeMap::new(),
            per_game: BTreeMap::new(),
            per_route: BTreeMap::new(),
            // 1 µs to 1 h at 3 significant digits; auto-resize covers the rest.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
        }
    }
}

impl Tally {
    pub fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.failed += other.failed;
        for (k, v) in other.status_codes {
            *self.status_codes.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, (s, o)) in other.per_game {
            let e = self.per_game.entry(k).or_default();
            e.0 += s;
            e.1 += o;
        }
        for (k, v) in other.per_route {
            *self.per_route.entry(k).or_default() += v;
        }
        let _ = self.latency.add(&other.latency);
    }

    /// Counts one answer carried by `route` (allocates only for a new route).
    pub fn count_route(&mut self, route: &str) {
        match self.per_route.get_mut(route) {
            Some(n) => *n += 1,
            None => {
                self.per_route.insert(route.to_string(), 1);
            }
        }
    }

    pub fn record_latency(&mut self, took: Duration) {
        let _ = self.latency.record((took.as_micros() as u64).max(1));
    }
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Serialize)]
pub struct GameCounts {
    pub sent: u64,
    pub ok: u64,
}

/// The final report; field names are documented in the README and stable.
#[derive(Debug, Serialize)]
pub struct Report {
    pub url: String,
    pub requested: u64,
    pub concurrence: u32,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub not_sent: u64,
    pub status_codes: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub elapsed_s: f64,
    pub rps: f64,
    pub latency_ms: Option<Latency>,
    pub per_game: BTreeMap<String, GameCounts>,
    pub per_route: BTreeMap<String, u64>,
    pub stopped_by: String,
}

impl Report {
    pub fn new(
        tally: &Tally,
        url: &str,
        requested: u64,
        concurrence: u32,
        game_labels: &[String],
        elapsed: Duration,
        stopped_by: &str,
    ) -> Report {
        let ms = |v: u64| v as f64 / 1000.0;
        let h = &tally.latency;
        let latency_ms = (!h.is_empty()).then(|| Latency {
            min: ms(h.min()),
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        });
        let secs = elapsed.as_secs_f64();
        Report {
            url: url.to_string(),
            requested,
            concurrence,
            sent: tally.sent,
            ok: tally.ok,
            failed: tally.failed,
            not_sent: requested.saturating_sub(tally.sent),
            status_codes: tally
                .status_codes
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            errors: tally.errors.clone(),
            elapsed_s: secs,
            rps: if secs > 0.0 {
                tally.sent as f64 / secs
            } else {
                0.0
            },
            latency_ms,
            per_game: tally
                .per_game
                .iter()
                .map(|(i, (sent, ok))| {
                    (
                        game_labels[*i].clone(),
                        GameCounts {
                            sent: *sent,
                            ok: *ok,
                        },
                    )
                })
                .collect(),
            per_route: tally.per_route.clone(),
            stopped_by: stopped_by.to_string(),
        }
    }

    /// Every request got a 2xx and every planned request was sent.
    pub fn all_ok(&self) -> bool {
        self.failed == 0 && self.not_sent == 0
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Summary: {} requests to {} at concurrence {} ({})",
            self.requested, self.url, self.concurrence, self.stopped_by
        );
        let _ = writeln!(
            out,
            "  sent {}   ok {}   failed {}   not sent {}",
            self.sent, self.ok, self.failed, self.not_sent
        );
        let _ = writeln!(
            out,
            "  elapsed {:.2} s   throughput {:.1} req/s",
            self.elapsed_s, self.rps
        );
        if let Some(l) = &self.latency_ms {
            let _ = writeln!(
                out,
                "  latency ms   min {:.2}  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
                l.min, l.p50, l.p90, l.p99, l.p999, l.max
            );
        }
        let join = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "-".to_string()
            } else {
                m.iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let _ = writeln!(out, "  status codes  {}", join(&self.status_codes));
        let _ = writeln!(out, "  errors        {}", join(&self.errors));
        let _ = writeln!(out, "  per route     {}", join(&self.per_route));
        let games: BTreeMap<String, u64> = self
            .per_game
            .iter()
            .map(|(k, v)| (k.clone(), v.ok))
            .collect();
        let _ = writeln!(out, "  per game (ok) {}", join(&games));
        out
    }
}
