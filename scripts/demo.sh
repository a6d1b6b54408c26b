#!/usr/bin/env bash
# The demo run: rungame against the split, wait until the workers stored every game,
# then report what was sent, stored and how the routes split. Expects `make up`.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/stack.sh env)"
RUN=${RUN_DIR:-run/demo}
mkdir -p "$RUN"

overview() { curl -fsS -m 5 "$DASHBOARD_URL/api/overview"; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
utc_now() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
# The overview's MongoDB summary is refreshed in the background: wait for one taken
# after $1 (RFC 3339 UTC, so the strings compare in time order).
overview_since() {
  local since=$1 now
  for _ in $(seq 1 300); do
    now=$(overview)
    [[ "$(field "d['mongo_as_of'] or ''" <<<"$now")" > "$since" ]] && { echo "$now"; return; }
    sleep 0.2
  done
  echo "demo: the dashboard's MongoDB summary did not refresh within 60 s" >&2
  exit 1
}

before=$(overview_since "$(utc_now)")
total_before=$(field "d['redis']['total']" <<<"$before")
mongo_before=$(field "d['mongo']['games']" <<<"$before")
kafka_before=$(field "d['redis']['routes']['kafka']" <<<"$before")
rabbit_before=$(field "d['redis']['routes']['rabbitmq']" <<<"$before")

echo "==> rungame against the split at $SPLIT_URL"
set +e
"${CARGO_TARGET_DIR:-target}/release/rungame" --url "$SPLIT_URL" \
  --gamename "1 | Random ; 2 | Roulette ; 5 | Last" \
  --players 30 --rungames 2000 --concurrence 10 --timeout 1m \
  --output json >"$RUN/rungame.json"
rungame_exit=$?
set -e
[ -s "$RUN/rungame.json" ] || { echo "demo: rungame printed no report (exit $rungame_exit)" >&2; exit 1; }
report=$(cat "$RUN/rungame.json")
sent=$(field "d['sent']" <<<"$report")
ok=$(field "d['ok']" <<<"$report")
failed=$(field "d['failed']" <<<"$report")

echo "==> waiting for the workers to store all $ok games"
deadline=$((SECONDS + 120))
while :; do
  now=$(overview_since "$(utc_now)")
  added_redis=$(( $(field "d['redis']['total']" <<<"$now") - total_before ))
  added_mongo=$(( $(field "d['mongo']['games']" <<<"$now") - mongo_before ))
  [ "$added_redis" -ge "$ok" ] && [ "$added_mongo" -ge "$ok" ] && break
  if [ $SECONDS -ge $deadline ]; then
    echo "demo: after 120 s the workers stored $added_mongo (MongoDB) / $added_redis (Redis) of $ok games" >&2
    exit 1
  fi
  sleep 0.5
done
kafka=$(( $(field "d['redis']['routes']['kafka']" <<<"$now") - kafka_before ))
rabbit=$(( $(field "d['redis']['routes']['rabbitmq']" <<<"$now") - rabbit_before ))
pct() { python3 -c "print(f'{100*$1/max($2,1):.1f}%')"; }

cat <<REPORT

Squid Games demo
  requests sent        $sent
  succeeded (200)      $ok
  failed               $failed
  rungame              $(field "f\"{d['rps']:.0f} req/s, p50 {d['latency_ms']['p50']:.1f} ms, p99 {d['latency_ms']['p99']:.1f} ms\"" <<<"$report")
  stored in MongoDB    $added_mongo new ($(field "d['mongo']['games']" <<<"$now") in all)
  counted in Redis     $added_redis new ($(field "d['redis']['total']" <<<"$now") in all)
  games per route      kafka $kafka ($(pct $kafka $added_redis)), rabbitmq $rabbit ($(pct $rabbit $added_redis))
  dashboard            $DASHBOARD_URL/

The stack keeps running; 'make down' stops it.
REPORT
if [ "$added_mongo" -ne "$ok" ] || [ "$added_redis" -ne "$ok" ]; then
  echo "demo: stored counts differ from the 200 responses" >&2
  exit 1
fi
