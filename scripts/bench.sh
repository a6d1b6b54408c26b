#!/usr/bin/env bash
# `make bench`: performance, measured side by side in one run on this machine.
# Sections: rungame vs oha; games per second; workers batch vs one-at-a-time;
# the whole pipeline; the dashboard overview with 100,000 games stored.
# Ratios are the numbers to read: absolute figures move with the machine's load.
set -euo pipefail
cd "$(dirname "$0")/.."
OHA_VERSION=1.16.0
export STACK_PROFILE=bench
RUN=run/bench
mkdir -p "$RUN"

say() { printf '\n== %s\n' "$*"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

oha_installed=$(oha --version 2>/dev/null || true)
if ! grep -q "$OHA_VERSION" <<<"$oha_installed"; then
  say "installing oha $OHA_VERSION (cargo install --locked)"
  cargo install oha --version "$OHA_VERSION" --locked -j2
fi
cargo build --release -j2 --workspace --bins

# ---------------------------------------------------------------- rungame vs oha
say "rungame vs oha against one static nginx endpoint (POST, keep-alive)"
BENCH_PORT=18090
cat >"$RUN/static.conf" <<CONF
daemon off;
worker_processes 1;
pid $PWD/$RUN/static.pid;
error_log $PWD/$RUN/static-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path $PWD/$RUN/body;
  server {
    listen 127.0.0.1:$BENCH_PORT;
    location / { default_type application/json; return 200 '{"route":"kafka","winner":1}'; }
  }
}
CONF
nginx -p "$PWD/$RUN" -c "$PWD/$RUN/static.conf" -e "$PWD/$RUN/static-error.log" &
static_pid=$!
trap 'kill $static_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fsS -o /dev/null -X POST "http://127.0.0.1:$BENCH_PORT/" 2>/dev/null && break; sleep 0.1; done

REQUESTS=${BENCH_REQUESTS:-200000}
url="http://127.0.0.1:$BENCH_PORT"
for c in 10 64; do
  best_r=0 best_o=0
  for round in 1 2; do
    r=$("${CARGO_TARGET_DIR:-target}/release/rungame" --url "$url" --gamename "1 Random" --rungames "$REQUESTS" \
        --concurrence "$c" --output json | tee "$RUN/rungame-c$c-$round.json" | json "d['rps']")
    o=$(oha --no-tui --output-format json -n "$REQUESTS" -c "$c" -m POST \
        "$url/game/1/gamename/Random/players/30" | tee "$RUN/oha-c$c-$round.json" | json "d['summary']['requestsPerSec']")
    best_r=$(python3 -c "print(max($best_r, $r))"); best_o=$(python3 -c "print(max($best_o, $o))")
  done
  r_p99=$(json "d['latency_ms']['p99']" <"$RUN/rungame-c$c-2.json")
  o_p99=$(json "d['latencyPercentiles']['p99']*1000" <"$RUN/oha-c$c-2.json")
  printf 'c=%-3s rungame %8.0f req/s (p99 %.2f ms)   oha %8.0f req/s (p99 %.2f ms)\n' \
    "$c" "$best_r" "$r_p99" "$best_o" "$o_p99"
  printf 'rungame/oha throughput ratio at c=%s: %.2f\n' "$c" "$(python3 -c "print($best_r/$best_o)")"
done
kill $static_pid 2>/dev/null || true

# ---------------------------------------------------------------- games
say "games per second (one core, seeded)"
cargo bench -j2 -p grpc-server --bench games 2>/dev/null

# ---------------------------------------------------------------- workers
say "workers: results stored per second, batches against one message at a time"
trap 'kill $static_pid 2>/dev/null || true; scripts/stack.sh down >/dev/null' EXIT
scripts/stack.sh down >/dev/null
rm -rf "$RUN/data"
scripts/stack.sh servers >/dev/null
set -a; eval "$(scripts/stack.sh env)"; set +a
cargo bench -j2 -p e2e --bench workers 2>/dev/null

# ---------------------------------------------------------------- pipeline
say "pipeline: rungame through the split until every game is stored"
scripts/stack.sh up >/dev/null
overview() { curl -fsS -m 10 "$DASHBOARD_URL/api/overview"; }
# Workers write MongoDB before Redis, so Redis's total counts games stored in both.
stored() { redis-cli -u "$REDIS_URL" --raw GET squidgame:total | sed 's/^$/0/'; }
PIPELINE_GAMES=${BENCH_PIPELINE_GAMES:-20000}
for c in 10 64; do
  before=$(stored)
  start=$(date +%s.%N)
  "${CARGO_TARGET_DIR:-target}/release/rungame" --url "$SPLIT_URL" --gamename "1 Random | 2 Roulette | 5 Last" \
    --rungames "$PIPELINE_GAMES" --concurrence "$c" --timeout 5m --output json >"$RUN/pipeline-c$c.json" || true
  ok=$(json "d['ok']" <"$RUN/pipeline-c$c.json")
  rps=$(json "d['rps']" <"$RUN/pipeline-c$c.json")
  until [ "$(( $(stored) - before ))" -ge "$ok" ]; do sleep 0.2; done
  end=$(date +%s.%N)
  rate=$(python3 -c "print(round($ok/($end-$start)))")
  printf 'c=%-3s rungame %6.0f req/s, %s ok; stored in %.1f s\n' "$c" "$rps" "$ok" "$(python3 -c "print($end-$start)")"
  printf 'pipeline stored games/s at c=%s: %s\n' "$c" "$rate"
done

# ---------------------------------------------------------------- dashboard
say "dashboard: page latency with 100,000 games stored (oha, 400 requests, 4 connections)"
stored_games=$(cargo bench -j2 -p e2e --bench fill_store 2>/dev/null | tail -1 | cut -d' ' -f1)
best_player=$(overview | json "d['redis']['top_players'][0]['player']")
for page in /api/overview / "/players/$best_player" /games/1 /api/log /log; do
  oha --no-tui --output-format json -n 400 -c 4 "$DASHBOARD_URL$page" >"$RUN/page.json"
  p99=$(json "d['latencyPercentiles']['p99']*1000" <"$RUN/page.json")
  printf 'GET %-16s p50 %7.2f ms  p99 %7.2f ms  %s\n' "$page" \
    "$(json "d['latencyPercentiles']['p50']*1000" <"$RUN/page.json")" "$p99" \
    "$(json "dict(d['statusCodeDistribution'])" <"$RUN/page.json")"
  [ "$page" = /api/overview ] && overview_p99=$p99
done
printf 'dashboard overview p99 at %s games stored: %.2f ms\n' "$stored_games" "$overview_p99"
