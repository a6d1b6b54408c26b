#!/usr/bin/env bash
# Installs what the local stack needs and skips what is present:
# Debian packages (redis, rabbitmq, nginx, curl), the Kafka-protocol broker tansu
# (cargo install, pinned) and the MongoDB-wire server nx-27017 (pip, pinned, in .venv).
# A server named by KAFKA_BROKERS / MONGO_URL / REDIS_URL / AMQP_URL is external: not installed.
# WITH_BROWSER=1 (make test) also installs Debian's chromium for the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

TANSU_VERSION=0.6.0
NX_VERSION=0.8.1

say() { printf '==> %s\n' "$*"; }

apt_packages=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || apt_packages+=("$2"); }
need_cmd curl curl
need_cmd make make
need_cmd cc gcc
need_cmd nginx nginx-light
[ -n "${REDIS_URL:-}" ] || need_cmd redis-server redis-server
[ -n "${AMQP_URL:-}" ] || need_cmd rabbitmq-server rabbitmq-server
# rdkafka builds the vendored librdkafka: it needs these.
need_cmd cmake cmake
need_cmd pkg-config pkg-config
[ -e /usr/include/zlib.h ] || apt_packages+=(zlib1g-dev)
# The dashboard's browser test (headless; CHROMIUM names another binary).
if [ -n "${WITH_BROWSER:-}" ]; then
  need_cmd "${CHROMIUM:-chromium}" chromium
  [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || apt_packages+=(fonts-dejavu-core)
fi
if [ "${#apt_packages[@]}" -gt 0 ]; then
  say "installing Debian packages: ${apt_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

if [ -z "${KAFKA_BROKERS:-}" ]; then
  tansu_installed=$(tansu --version 2>/dev/null || true)
  if ! grep -q "$TANSU_VERSION" <<<"$tansu_installed"; then
    say "installing tansu $TANSU_VERSION (cargo install; about 10 minutes on 2 cores)"
    cargo install tansu --version "$TANSU_VERSION" --features libsql,dynostore --locked -j2
  fi
fi

if [ -z "${MONGO_URL:-}" ]; then
  nx_installed=$(.venv/bin/pip show nx-27017 2>/dev/null || true)
  if ! [ -x .venv/bin/nx-27017 ] || ! grep -q "^Version: $NX_VERSION$" <<<"$nx_installed"; then
    say "installing nx-27017 $NX_VERSION into .venv"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check "nx-27017==$NX_VERSION"
  fi
fi
say "dependencies present"
