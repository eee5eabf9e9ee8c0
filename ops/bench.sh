#!/usr/bin/env bash
# Benchmark llmq on this machine (a script that prints figures, not a test).
#
#   1. async submit throughput: wrk, many keep-alive connections, POST /v1/jobs
#      (every 202 means Kafka acknowledged the request)
#   2. sync overhead: an open-loop generator at a fixed rate on POST /v1/chat/completions
#      against the mock provider; overhead = end-to-end latency - the mock's latency
#
# The whole pipeline runs meanwhile (embedded Kafka, worker, sink, PostgreSQL), on the same
# machine as the load generators. The last line printed is one JSON object with the figures.
#
# Environment: BENCH_ASYNC_SECONDS (15), BENCH_ASYNC_CONNECTIONS (128), BENCH_SYNC_RATE (1000),
# BENCH_SYNC_SECONDS (20), BENCH_MOCK_LATENCY_MS (20), LLMQ_BENCH_PORT (18080)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE=${LLMQ_STATE:-$LLMQ_ROOT/.llmq}/bench
PORT=${LLMQ_BENCH_PORT:-18080}
PG_PORT=$((PORT + 10))
ASYNC_SECONDS=${BENCH_ASYNC_SECONDS:-15}
ASYNC_CONNS=${BENCH_ASYNC_CONNECTIONS:-128}
SYNC_RATE=${BENCH_SYNC_RATE:-1000}
SYNC_SECONDS=${BENCH_SYNC_SECONDS:-20}
MOCK_MS=${BENCH_MOCK_LATENCY_MS:-20}
LLMQ_BUILD=$LLMQ_ROOT/build-bench

llmq_install_packages "${LLMQ_BUILD_PACKAGES[@]}" wrk
say "building (Release)"
llmq_build Release
rm -rf "$STATE/run" "$STATE/logs"
mkdir -p "$STATE/run" "$STATE/logs"
cleanup() {
  for d in ingest worker sink kafka; do llmq_daemon_stop "$STATE/run/$d.pid"; done
  llmq_pg_stop "$STATE/pg"
}
trap cleanup EXIT

PG_URL=$(llmq_pg_start "$STATE/pg" "$PG_PORT")
llmq_daemon_start kafka "$STATE/run/kafka.pid" "$STATE/logs/kafka.log" \
  "$LLMQ_BUILD/llmq-kafka-embedded" --partitions 8 --bootstrap-file "$STATE/run/kafka.bootstrap"
for _ in $(seq 1 50); do [[ -s $STATE/run/kafka.bootstrap ]] && break; sleep 0.1; done
export LLMQ_PG_URL=$PG_URL LLMQ_KAFKA_BROKERS
LLMQ_KAFKA_BROKERS=$(cat "$STATE/run/kafka.bootstrap")
"$LLMQ_BUILD/llmqctl" migrate >/dev/null
psql -q "$PG_URL" -c "TRUNCATE jobs, usage_events, usage_daily, traces" >/dev/null
"$LLMQ_BUILD/llmqctl" tenant create bench >/dev/null
KEY=$("$LLMQ_BUILD/llmqctl" key create --tenant bench 2>/dev/null)
export LLMQ_LOG_LEVEL=warn

llmq_daemon_start sink "$STATE/run/sink.pid" "$STATE/logs/sink.log" "$LLMQ_BUILD/llmq-sink"
llmq_daemon_start worker "$STATE/run/worker.pid" "$STATE/logs/worker.log" "$LLMQ_BUILD/llmq-worker" \
  --set mock.latency_ms="$MOCK_MS" --set worker.max_inflight=8192 --set admin.port=$((PORT + 1))
llmq_daemon_start ingest "$STATE/run/ingest.pid" "$STATE/logs/ingest.log" "$LLMQ_BUILD/llmq-ingest" \
  --set http.port="$PORT" --set http.threads=2
llmq_wait_http "http://127.0.0.1:$PORT/readyz" 60 || die "ingest not ready"
llmq_wait_http "http://127.0.0.1:$((PORT + 1))/readyz" 60 || die "worker not ready"

BODY='{"model":"mock","messages":[{"role":"user","content":"Summarise the benefits of durable queues in one line."}]}'
echo "$BODY" >"$STATE/body.json"
cat >"$STATE/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA

# warm up: auth cache, connections, codecs
wrk -t2 -c16 -d2s -s "$STATE/post.lua" "http://127.0.0.1:$PORT/v1/jobs" >/dev/null

say "async submit: wrk, $ASYNC_CONNS connections, ${ASYNC_SECONDS}s"
if [[ ${BENCH_SKIP_ASYNC:-0} == 1 ]]; then
  printf 'Requests/sec: 0\n' >"$STATE/wrk.txt"
else
  wrk -t2 -c"$ASYNC_CONNS" -d"${ASYNC_SECONDS}s" --latency -s "$STATE/post.lua" \
    "http://127.0.0.1:$PORT/v1/jobs" | tee "$STATE/wrk.txt"
fi
ASYNC_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$STATE/wrk.txt")
ASYNC_BAD=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$STATE/wrk.txt")
ASYNC_P50=$(awk '$1 == "50%" {print $2}' "$STATE/wrk.txt")
ASYNC_P99=$(awk '$1 == "99%" {print $2}' "$STATE/wrk.txt")
ASYNC_P50=${ASYNC_P50:-0ms} ASYNC_P99=${ASYNC_P99:-0ms}

# let the worker and sink catch up before the latency run (until the job count is steady)
say "waiting for the sink to catch up"
last=-1
for _ in $(seq 1 120); do
  n=$(psql -tA "$PG_URL" -c "SELECT count(*) FROM usage_events")
  [[ $n -eq $last ]] && break
  last=$n
  sleep 1
done
say "$n usage rows persisted"

say "sync: $SYNC_RATE req/s for ${SYNC_SECONDS}s, mock provider latency $MOCK_MS ms"
SYNC=$("$LLMQ_BUILD/llmq-loadgen" --port "$PORT" --path /v1/chat/completions --rate "$SYNC_RATE" \
  --duration "$SYNC_SECONDS" --connections 256 --body "$STATE/body.json" \
  --header "Authorization: Bearer $KEY")
echo "$SYNC"

python3 - "$ASYNC_RPS" "${ASYNC_BAD:-0}" "$ASYNC_P50" "$ASYNC_P99" "$MOCK_MS" "$SYNC" "$ASYNC_CONNS" <<'PY'
import json, sys
def ms(v):
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(unit) and (unit != "s" or not v.endswith(("ms", "us"))):
            return round(float(v[:-len(unit)]) * f, 3)
    return None
rps, bad, p50, p99, mock, sync, conns = sys.argv[1:]
s = json.loads(sync)
mock = float(mock)
out = {
    "async_rps": round(float(rps)), "async_non_202": int(bad), "async_connections": int(conns),
    "async_p50_ms": ms(p50), "async_p99_ms": ms(p99),
    "sync_rate": s["target_rps"], "sync_achieved_rps": s["achieved_rps"],
    "sync_errors": s["errors"] + s["non_2xx"],
    "sync_p50_ms": s["p50_ms"], "sync_p95_ms": s["p95_ms"], "sync_p99_ms": s["p99_ms"],
    "mock_latency_ms": mock,
    "sync_overhead_p50_ms": round(s["p50_ms"] - mock, 3),
    "sync_overhead_p95_ms": round(s["p95_ms"] - mock, 3),
    "sync_overhead_p99_ms": round(s["p99_ms"] - mock, 3),
}
print(json.dumps(out))
PY
