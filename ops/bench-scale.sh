#!/usr/bin/env bash
# Measure how llmq scales out (tests/bench/scale_bench.py; figures in docs/benchmarks.md):
# throughput with 1, 2 and 4 workers against a slow provider, the rebalance pauses when a
# worker joins, is SIGKILLed or stops under load (every job counted once), one tenant's ceiling
# on one worker, two ingest nodes on one address, and one worker's capacity (completions per
# second, jobs held in flight and its memory).
#
#   ops/bench-scale.sh            about 4 minutes; the last line is one JSON object
#   ops/bench-scale.sh --quick    1 and 2 workers, and the membership changes (as the e2e test)
#   ops/bench-scale.sh --only one_tenant     one part (workers, membership, one_tenant, two_ingest,
#                                            one_worker)
#
# Starts its own PostgreSQL and Apache Kafka broker (ops/kafka.sh) under STATE/bench-scale;
# LLMQ_BENCH_PORT (18380) is PostgreSQL's port.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE=${LLMQ_STATE:-$LLMQ_ROOT/.llmq}/bench-scale
PORT=${LLMQ_BENCH_PORT:-18380}
llmq_install_packages "${LLMQ_BUILD_PACKAGES[@]}" default-jre-headless maven python3-venv
say "building"
llmq_build Release
VENV=${LLMQ_STATE:-$LLMQ_ROOT/.llmq}/venv
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import psycopg, requests, pytest' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$LLMQ_ROOT/tests/e2e/requirements.txt"
fi
rm -rf "$STATE"
mkdir -p "$STATE/logs"
stop_all() {
  "$LLMQ_ROOT/ops/kafka.sh" stop "$STATE/kafka" >/dev/null 2>&1 || true
  llmq_pg_stop "$(llmq_pg_dir "$STATE")"
}
trap stop_all EXIT
PG_URL=$(llmq_pg_start "$(llmq_pg_dir "$STATE")" "$PORT")
"$LLMQ_BUILD/llmqctl" --pg "$PG_URL" migrate >/dev/null
BROKERS=$("$LLMQ_ROOT/ops/kafka.sh" start "$STATE/kafka" | tail -1)
say "scale-out: PostgreSQL $PG_URL, Kafka $BROKERS"
SCALE_KAFKA_DATA=$STATE/kafka/data LLMQ_BUILD=$LLMQ_BUILD "$VENV/bin/python" "$LLMQ_ROOT/tests/bench/scale_bench.py" "$PG_URL" "$BROKERS" \
  "$STATE/logs" "$@"
