#!/usr/bin/env bash
# The local stack: brokers, databases, services and the nginx split.
#
#   scripts/stack.sh up      start whatever is not running yet (idempotent)
#   scripts/stack.sh down    stop exactly what `up` started (by pid)
#   scripts/stack.sh status  show what answers
#   scripts/stack.sh env     print the stack's addresses as shell assignments
#
# STACK_PROFILE=demo (default) uses the ports of docs/architecture.md;
# STACK_PROFILE=test (make test) and bench (make bench) use their own ports and data,
# so a running demo is not disturbed.
# KAFKA_BROKERS, MONGO_URL, REDIS_URL, AMQP_URL point at external servers: those are
# used as they are and not started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PROFILE=${STACK_PROFILE:-demo}
case "$PROFILE" in
  demo) P_SPLIT=8080 P_API_K=8081 P_API_R=8082 P_GRPC_K=50051 P_GRPC_R=50052 P_DASH=8000
        P_WK=9101 P_WR=9102 P_REDIS=6379 P_AMQP=5672 P_KAFKA=9092 P_MONGO=27017 ;;
  test) P_SPLIT=18080 P_API_K=18081 P_API_R=18082 P_GRPC_K=51051 P_GRPC_R=51052 P_DASH=18000
        P_WK=19101 P_WR=19102 P_REDIS=16379 P_AMQP=15673 P_KAFKA=19092 P_MONGO=37017 ;;
  bench) P_SPLIT=28080 P_API_K=28081 P_API_R=28082 P_GRPC_K=52051 P_GRPC_R=52052 P_DASH=28000
        P_WK=29101 P_WR=29102 P_REDIS=26379 P_AMQP=25673 P_KAFKA=29092 P_MONGO=47017 ;;
  *) echo "stack.sh: unknown STACK_PROFILE \"$PROFILE\": expected demo, test or bench" >&2; exit 2 ;;
esac

RUN=${RUN_DIR:-$ROOT/run/$PROFILE}
BIN=${BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
PIDS=$RUN/pids
LOGS=$RUN/logs
mkdir -p "$PIDS" "$LOGS" "$RUN/data"

EXTERNAL_REDIS=${REDIS_URL:-}
EXTERNAL_AMQP=${AMQP_URL:-}
EXTERNAL_KAFKA=${KAFKA_BROKERS:-}
EXTERNAL_MONGO=${MONGO_URL:-}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:$P_REDIS/}
export AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:$P_AMQP/%2f}
export KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:$P_KAFKA}
export MONGO_URL=${MONGO_URL:-mongodb://127.0.0.1:$P_MONGO/}
export RUST_LOG=${RUST_LOG:-info}
if [ -z "$EXTERNAL_KAFKA" ]; then
  # The local stand-in broker (tansu 0.6) crashes when an idempotent producer that was
  # connected before a broker restart produces again, so locally the producers run
  # without idempotence. Nothing is counted twice either way: results are deduplicated
  # by id when stored. Against a real Kafka (KAFKA_BROKERS set) it stays on.
  export KAFKA_IDEMPOTENCE=${KAFKA_IDEMPOTENCE:-false}
  # Its group coordinator does not always hand the partitions back to a worker that
  # was killed or lost the broker, so locally the one worker-kafka reads every
  # partition itself, resuming from the group's committed offsets (README, "Known
  # limits"). Against a real Kafka the consumer group assigns them.
  export KAFKA_ASSIGNMENT=${KAFKA_ASSIGNMENT:-manual}
fi
RABBIT_NODE=squidgame-$PROFILE@localhost

say() { printf '==> %s\n' "$*"; }
die() { printf 'stack.sh: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# running PID: the process exists and is not a zombie (a killed process nobody reaped
# still answers kill -0).
running() {
  local state
  state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
# alive NAME: the process of NAME's pid file is running.
alive() { [ -f "$PIDS/$1.pid" ] && running "$(cat "$PIDS/$1.pid")"; }
http_ok() { curl -fsS -m 2 -o /dev/null "$1" 2>/dev/null; }

# wait_for NAME SECONDS CHECK...: polls CHECK until it passes; fails naming the log.
wait_for() {
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    if [ -f "$PIDS/$name.pid" ] && ! alive "$name"; then
      tail -n 20 "$LOGS/$name.log" >&2 || true
      die "$name exited during start-up; log: $LOGS/$name.log"
    fi
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$LOGS/$name.log" >&2 || true; die "$name not ready after ${secs}s; log: $LOGS/$name.log"; }
    sleep 0.2
  done
}

# start NAME CHECK -- COMMAND...: runs COMMAND in the background unless CHECK passes
# or the process started earlier still runs (then it is only waited for: a second copy
# would fail on the port and take over the pid file). Logs are appended to.
started_now=()
start() {
  local name=$1 check=$2; shift 3
  if eval "$check"; then
    return 0
  fi
  if alive "$name"; then
    say "waiting for $name (pid $(cat "$PIDS/$name.pid"), already running)"
  else
    say "starting $name"
    printf '\n==> %s: started by stack.sh\n' "$(date -u +%FT%TZ)" >>"$LOGS/$name.log"
    # 9>&-: the process must not inherit (and hold for good) the stack's lock.
    nohup setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
    echo $! >"$PIDS/$name.pid"
  fi
  started_now+=("$name:$check")
}

await_started() {
  local entry name check
  for entry in "${started_now[@]}"; do
    name=${entry%%:*}; check=${entry#*:}
    wait_for "$name" "${1:-60}" eval "$check"
  done
  started_now=()
}

up_servers() {
  if [ -z "$EXTERNAL_REDIS" ]; then
    start redis "port_open $P_REDIS" -- redis-server --port "$P_REDIS" --bind 127.0.0.1 \
      --save "" --appendonly yes --appendfsync everysec --dir "$RUN/data" --daemonize no
  fi
  if [ -z "$EXTERNAL_MONGO" ]; then
    # One SQLite file per database, as MongoDB keeps databases apart (a single --db file
    # would share each collection name across databases).
    if [ -f "$RUN/data/mongo.db" ] && [ ! -d "$RUN/data/mongo" ]; then
      # Data of an older stack, one file for every database: it becomes `squidgame`'s.
      mkdir -p "$RUN/data/mongo"
      for f in "$RUN"/data/mongo.db*; do mv "$f" "$RUN/data/mongo/squidgame.db${f#"$RUN/data/mongo.db"}"; done
    fi
    mkdir -p "$RUN/data/mongo"
    # The server refuses to start over the pid file of a copy that was killed.
    if [ -f "$RUN/data/nx.pid" ] && ! running "$(cat "$RUN/data/nx.pid")"; then
      rm -f "$RUN/data/nx.pid"
    fi
    start mongo "port_open $P_MONGO" -- "$ROOT/.venv/bin/nx-27017" --data-dir "$RUN/data/mongo" \
      -p "$P_MONGO" --pid-file "$RUN/data/nx.pid" --log-file "$LOGS/mongo-server.log"
  fi
  if [ -z "$EXTERNAL_KAFKA" ]; then
    # tansu resolves a sqlite:// path against its working directory.
    start kafka "port_open $P_KAFKA" -- env -C "$RUN/data" RUST_LOG=warn tansu broker \
      --listener-url "tcp://127.0.0.1:$P_KAFKA" --advertised-listener-url "tcp://127.0.0.1:$P_KAFKA" \
      --storage-engine "sqlite://tansu.db"
  fi
  if [ -z "$EXTERNAL_AMQP" ]; then
    mkdir -p "$RUN/data/rabbitmq"
    start rabbitmq "port_open $P_AMQP" -- env RABBITMQ_NODENAME="$RABBIT_NODE" \
      RABBITMQ_NODE_PORT="$P_AMQP" RABBITMQ_DIST_PORT=$((P_AMQP + 20000)) \
      RABBITMQ_MNESIA_BASE="$RUN/data/rabbitmq" RABBITMQ_LOG_BASE="$LOGS/rabbitmq" \
      RABBITMQ_PID_FILE="$RUN/data/rabbitmq/pid" RABBITMQ_ENABLED_PLUGINS_FILE="$RUN/data/rabbitmq/plugins" \
      RABBITMQ_CONFIG_FILE="$RUN/data/rabbitmq/none" \
      /usr/lib/rabbitmq/bin/rabbitmq-server
  fi
  await_started 120
  if [ -z "$EXTERNAL_KAFKA" ]; then
    # Create the topics once, before any service starts: services create missing
    # topics too, and the stand-in broker does not survive two clients creating the
    # same topic at the same moment.
    local topics
    topic() { RUST_LOG=warn tansu topic "$@" --broker "tcp://127.0.0.1:$P_KAFKA"; }
    topics=$(topic list 2>/dev/null || true)
    grep -q '"squidgame.results"' <<<"$topics" || topic create squidgame.results --partitions 3
    grep -q '"squidgame.results.dlq"' <<<"$topics" || topic create squidgame.results.dlq --partitions 1
  fi
}

up_services() {
  for bin in api grpc-server worker-kafka worker-rabbit dashboard; do
    [ -x "$BIN/$bin" ] || die "$BIN/$bin is missing: build with 'cargo build --release' (make build)"
  done
  start grpc-kafka "port_open $P_GRPC_K" -- "$BIN/grpc-server" --queue kafka --listen "127.0.0.1:$P_GRPC_K"
  start grpc-rabbitmq "port_open $P_GRPC_R" -- "$BIN/grpc-server" --queue rabbitmq --listen "127.0.0.1:$P_GRPC_R"
  start worker-kafka "http_ok http://127.0.0.1:$P_WK/healthz" -- "$BIN/worker-kafka" --listen "127.0.0.1:$P_WK"
  start worker-rabbit "http_ok http://127.0.0.1:$P_WR/healthz" -- "$BIN/worker-rabbit" --listen "127.0.0.1:$P_WR"
  start dashboard "http_ok http://127.0.0.1:$P_DASH/healthz" -- "$BIN/dashboard" --listen "127.0.0.1:$P_DASH"
  await_started 60
  start api-kafka "http_ok http://127.0.0.1:$P_API_K/readyz" -- "$BIN/api" --listen "127.0.0.1:$P_API_K" \
    --grpc-url "http://127.0.0.1:$P_GRPC_K"
  start api-rabbitmq "http_ok http://127.0.0.1:$P_API_R/readyz" -- "$BIN/api" --listen "127.0.0.1:$P_API_R" \
    --grpc-url "http://127.0.0.1:$P_GRPC_R"
  await_started 60
  write_nginx_conf
  # The split answers /healthz through the apis; its own port says it runs.
  start split "port_open $P_SPLIT" -- nginx -p "$RUN" -c "$RUN/nginx.conf" -e "$LOGS/split-error.log"
  await_started 30
}

write_nginx_conf() {
  mkdir -p "$RUN/nginx"
  cat >"$RUN/nginx.conf" <<CONF
# Generated by scripts/stack.sh: the local split, 50/50 between the two api routes.
daemon off;
worker_processes 1;
pid $RUN/nginx/nginx.pid;
error_log $LOGS/split-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $RUN/nginx/body;
  proxy_temp_path $RUN/nginx/proxy;
  fastcgi_temp_path $RUN/nginx/fastcgi;
  uwsgi_temp_path $RUN/nginx/uwsgi;
  scgi_temp_path $RUN/nginx/scgi;
  upstream api {
    server 127.0.0.1:$P_API_K weight=1;
    server 127.0.0.1:$P_API_R weight=1;
    keepalive 128;
  }
  server {
    listen 127.0.0.1:$P_SPLIT;
    location / {
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # A request the api could not be reached with goes to the other one; nginx never
      # passes on a POST once it was sent, so no game is played twice.
      proxy_next_upstream error timeout;
    }
  }
}
CONF
}

down() {
  local order=(split api-kafka api-rabbitmq grpc-kafka grpc-rabbitmq worker-kafka worker-rabbit dashboard kafka rabbitmq mongo redis)
  local name pidfile
  for name in "${order[@]}"; do
    pidfile=$PIDS/$name.pid
    [ -f "$pidfile" ] || continue
    stop_pid "$name" "$(cat "$pidfile")"
    rm -f "$pidfile"
    if [ "$name" = rabbitmq ]; then
      # rabbitmq.pid is the start script's; the Erlang VM it started has a pid file of
      # its own and outlives a killed script.
      stop_pid "the RabbitMQ node" "$(cat "$RUN/data/rabbitmq/pid" 2>/dev/null || true)"
    fi
  done
}

# stop_pid NAME PID: SIGTERM, up to 30 s to exit, then SIGKILL (nothing if not running).
stop_pid() {
  local name=$1 pid=$2
  [ -n "$pid" ] && running "$pid" || return 0
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do running "$pid" || return 0; sleep 0.2; done
  say "$name did not stop in 30s: killing"
  kill -KILL "$pid" 2>/dev/null || true
}

status() {
  local rc=0
  check() { if eval "$2"; then printf '  %-14s up    %s\n' "$1" "$3"; else printf '  %-14s DOWN  %s\n' "$1" "$3"; rc=1; fi; }
  check split "http_ok http://127.0.0.1:$P_SPLIT/healthz" "http://127.0.0.1:$P_SPLIT"
  check api-kafka "http_ok http://127.0.0.1:$P_API_K/readyz" "http://127.0.0.1:$P_API_K"
  check api-rabbitmq "http_ok http://127.0.0.1:$P_API_R/readyz" "http://127.0.0.1:$P_API_R"
  check grpc-kafka "port_open $P_GRPC_K" "127.0.0.1:$P_GRPC_K"
  check grpc-rabbitmq "port_open $P_GRPC_R" "127.0.0.1:$P_GRPC_R"
  check worker-kafka "http_ok http://127.0.0.1:$P_WK/healthz" "http://127.0.0.1:$P_WK"
  check worker-rabbit "http_ok http://127.0.0.1:$P_WR/healthz" "http://127.0.0.1:$P_WR"
  check dashboard "http_ok http://127.0.0.1:$P_DASH/healthz" "http://127.0.0.1:$P_DASH"
  return $rc
}

env_vars() {
  cat <<VARS
SPLIT_URL=http://127.0.0.1:$P_SPLIT
API_KAFKA_URL=http://127.0.0.1:$P_API_K
API_RABBITMQ_URL=http://127.0.0.1:$P_API_R
DASHBOARD_URL=http://127.0.0.1:$P_DASH
WORKER_KAFKA_URL=http://127.0.0.1:$P_WK
WORKER_RABBIT_URL=http://127.0.0.1:$P_WR
REDIS_URL=$REDIS_URL
AMQP_URL=$AMQP_URL
KAFKA_BROKERS=$KAFKA_BROKERS
MONGO_URL=$MONGO_URL
VARS
}

# One stack.sh at a time per profile: two racing `up`s would both start what is down,
# and the loser's pid file would replace the winner's.
lock() {
  exec 9>"$RUN/stack.lock"
  flock -w 300 9 || die "another scripts/stack.sh holds $RUN/stack.lock"
}

case "${1:-}" in
  up) lock; up_servers; up_services; say "stack '$PROFILE' is up"; status ;;
  servers) lock; up_servers ;;
  down) lock; down ;;
  status) status ;;
  env) env_vars ;;
  *) echo "usage: scripts/stack.sh up|servers|down|status|env" >&2; exit 2 ;;
esac
