# Shared functions of the ops scripts (sourced, not run).
# shellcheck shell=bash

LLMQ_ROOT=${LLMQ_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
LLMQ_BUILD=${LLMQ_BUILD:-$LLMQ_ROOT/build}
LLMQ_PG_BIN=${LLMQ_PG_BIN:-}

say() { echo "llmq: $*" >&2; }
die() { echo "llmq: error: $*" >&2; exit 1; }

# Debian packages the build and the scripts need. Installs only what is missing.
LLMQ_BUILD_PACKAGES=(build-essential cmake ninja-build pkg-config librdkafka-dev libavro-dev
  libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libpq-dev libssl-dev postgresql
  postgresql-client curl python3 python3-venv ca-certificates procps)

llmq_install_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  say "installing ${missing[*]}"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

llmq_build() {
  local type=${1:-RelWithDebInfo}
  shift || true
  if [[ ! -f $LLMQ_BUILD/build.ninja ]]; then
    cmake -S "$LLMQ_ROOT" -B "$LLMQ_BUILD" -G Ninja -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
  fi
  cmake --build "$LLMQ_BUILD" -- -j"$(nproc)" >/dev/null || cmake --build "$LLMQ_BUILD"
}

llmq_pg_bin() {
  if [[ -z $LLMQ_PG_BIN ]]; then
    LLMQ_PG_BIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")
    [[ -x $LLMQ_PG_BIN/initdb ]] || die "PostgreSQL server binaries not found (package postgresql)"
  fi
  echo "$LLMQ_PG_BIN"
}

# Run a PostgreSQL tool as the owner of the data folder: the postgres account when we are
# root (the server refuses to run as root), else ourselves.
llmq_pg_as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# llmq_pg_dir STATE: where the private PostgreSQL keeps its data: STATE/pg, unless we are
# root and the postgres account cannot reach it (a checkout under a private home folder);
# then a folder of its own under /var/lib/llmq, named after the checkout.
llmq_pg_dir() {
  local state=$1 dir=$1/pg
  if [[ $(id -u) -eq 0 ]]; then
    mkdir -p "$dir"
    chown postgres: "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      dir=/var/lib/llmq/pg-$(printf '%s' "$LLMQ_ROOT" | sha1sum | cut -c1-12)
      mkdir -p "$dir"
    fi
  fi
  echo "$dir"
}

# llmq_pg_start DIR PORT: a private PostgreSQL in DIR on 127.0.0.1:PORT (created on first
# use; trust authentication on loopback only). Prints the connection URL.
llmq_pg_start() {
  local dir=$1 port=$2 bin
  bin=$(llmq_pg_bin)
  mkdir -p "$dir"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      die "the postgres account cannot write $dir (a parent folder is private); use llmq_pg_dir"
    fi
  fi
  if [[ ! -f $dir/data/PG_VERSION ]]; then
    llmq_pg_as_owner "$bin/initdb" -D "$dir/data" -U llmq --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 128MB
fsync = on
synchronous_commit = off
CONF
  fi
  if ! llmq_pg_as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    llmq_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-p $port" start >/dev/null || { tail -20 "$dir/postgres.log" >&2; die "PostgreSQL did not start"; }
  fi
  local url="postgresql://llmq@127.0.0.1:$port/llmq"
  if ! psql "postgresql://llmq@127.0.0.1:$port/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname='llmq'" | grep -q 1; then
    psql "postgresql://llmq@127.0.0.1:$port/postgres" -qc "CREATE DATABASE llmq" >/dev/null
  fi
  echo "$url"
}

llmq_pg_stop() {
  local dir=$1 bin
  bin=$(llmq_pg_bin)
  [[ -f $dir/data/PG_VERSION ]] || return 0
  llmq_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# llmq_daemon_start NAME PIDFILE LOGFILE CMD...: start in the background unless running.
# The settings llmq runs with on the embedded cluster (ops/up.sh, ops/bench.sh): it keeps about
# 5 MB per partition in memory, so batches are compressed; and it answers a fetch only when
# the fetch's wait is over, even when a record arrived meanwhile, so an idle worker's wait is
# short (a request to an idle worker waits for it; about 3 % of a core more while idle), and
# so is the ingest node's on its reply topic (the fallback of direct replies).
llmq_embedded_kafka_env() {
  export LLMQ_KAFKA_COMPRESSION=lz4 LLMQ_WORKER_FETCH_WAIT_MS=2 LLMQ_INGEST_REPLY_FETCH_WAIT_MS=10
}

llmq_daemon_start() {
  local name=$1 pidfile=$2 logfile=$3
  shift 3
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    return 0
  fi
  setsid "$@" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  sleep 0.2
  kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -20 "$logfile" >&2; die "$name did not start"; }
}

llmq_daemon_stop() {
  local pidfile=$1 pid i
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# llmq_wait_http URL SECONDS: until URL answers 200.
llmq_wait_http() {
  local url=$1 secs=${2:-30} i
  for i in $(seq 1 $((secs * 10))); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
