#!/usr/bin/env bash
# Run llmq for a long time under steady mixed load and check that it stays healthy.
#
#   ops/soak.sh DURATION        DURATION in seconds, or with a unit: 180, 3m, 1h
#
# Starts its own PostgreSQL, an Apache Kafka broker (ops/kafka.sh), one ingest node, one
# worker (mock provider, SOAK_MOCK_LATENCY_MS) and one sink, then sends, minute after
# minute, open-loop load on three kinds of request at once:
#   sync chat completions (SOAK_SYNC_RATE/s), streamed ones (SOAK_STREAM_RATE/s) and async
#   jobs (SOAK_ASYNC_RATE/s)
# — by default about half of what this kind of 2-core machine holds (the CPU figure of each
# minute says how much of the machine the run used). The ingest node's memory of recent async
# jobs (ingest.recent_jobs, bounded) is sized to fill within the warm-up, so that growth after
# it is not that memory filling up. After every minute it samples each
# daemon's resident memory, open file descriptors and CPU, the worker's and the sink's
# consumer lag (llmq_consumer_lag_sum_records) and the minute's latency and errors, prints a
# row and appends it to STATE/soak/samples.jsonl.
#
# It fails (exit 1) when, after the warm-up (SOAK_WARMUP_S: a tenth of the run, at least 60 s —
# long enough for the daemons' memory to reach the high-water mark of the run's busiest moments;
# the verdict is ops/soak_verdict.py's, which can judge a samples file again):
#   - a daemon's resident memory grew more than 5 % (SOAK_RSS_GROWTH_PCT) from the end of the
#     warm-up to the end of the run;
#   - a daemon holds more than 16 more file descriptors once the load stopped and the pipeline
#     drained than before the load began (while load runs, the count follows the clients'
#     connections);
#   - the worker's or the sink's lag rose at every sample and ended above SOAK_LAG_FLOOR
#     records (a backlog that keeps growing);
#   - a request failed (a connection error or an answer other than 200/202);
#   - once the load stops, the usage rows persisted differ from the requests answered.
#
# Environment: SOAK_SYNC_RATE (150), SOAK_STREAM_RATE (50), SOAK_ASYNC_RATE (250),
# SOAK_MOCK_LATENCY_MS (20), SOAK_WARMUP_S (a tenth of DURATION, at least 60), SOAK_RSS_GROWTH_PCT (5), SOAK_LAG_FLOOR
# (1000), LLMQ_SOAK_PORT (18180; it uses the next two ports and +10 for PostgreSQL),
# LLMQ_BUILD (build folder; built here when missing).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 1 ]] || die "usage: ops/soak.sh DURATION (e.g. 180, 3m, 1h)"
case $1 in
*h) DURATION=$((${1%h} * 3600)) ;;
*m) DURATION=$((${1%m} * 60)) ;;
*s) DURATION=${1%s} ;;
*) DURATION=$1 ;;
esac
[[ $DURATION =~ ^[0-9]+$ ]] && ((DURATION >= 120)) || die "DURATION must be at least 120 s"
SYNC_RATE=${SOAK_SYNC_RATE:-150}
STREAM_RATE=${SOAK_STREAM_RATE:-50}
ASYNC_RATE=${SOAK_ASYNC_RATE:-250}
MOCK_MS=${SOAK_MOCK_LATENCY_MS:-20}
WARMUP=${SOAK_WARMUP_S:-$((DURATION / 10 > 60 ? DURATION / 10 : 60))}
RSS_PCT=${SOAK_RSS_GROWTH_PCT:-5}
LAG_FLOOR=${SOAK_LAG_FLOOR:-1000}
PORT=${LLMQ_SOAK_PORT:-18180}
STATE=${LLMQ_STATE:-$LLMQ_ROOT/.llmq}/soak
MINUTE=60

llmq_install_packages "${LLMQ_BUILD_PACKAGES[@]}" default-jre-headless maven
say "building"
llmq_build Release
rm -rf "$STATE/run" "$STATE/logs" "$STATE/kafka"
mkdir -p "$STATE/run" "$STATE/logs"
stop_all() {
  for d in ingest worker sink; do llmq_daemon_stop "$STATE/run/$d.pid"; done
  "$LLMQ_ROOT/ops/kafka.sh" stop "$STATE/kafka" >/dev/null 2>&1 || true
  llmq_pg_stop "$(llmq_pg_dir "$STATE")"
}
trap stop_all EXIT
PG_DIR=$(llmq_pg_dir "$STATE")
PG_URL=$(llmq_pg_start "$PG_DIR" $((PORT + 10)))
export LLMQ_PG_URL=$PG_URL LLMQ_LOG_LEVEL=warn
"$LLMQ_BUILD/llmqctl" migrate >/dev/null
psql -q "$PG_URL" -c "TRUNCATE jobs, usage_events, traces, dead_letters" >/dev/null
"$LLMQ_BUILD/llmqctl" tenant create soak >/dev/null 2>&1 || true
KEY=$("$LLMQ_BUILD/llmqctl" key create --tenant soak 2>/dev/null)
BROKERS=$("$LLMQ_ROOT/ops/kafka.sh" start "$STATE/kafka" | tail -1)
export LLMQ_KAFKA_BROKERS=$BROKERS
"$LLMQ_BUILD/llmqctl" topics create --partitions 4 >/dev/null
llmq_daemon_start sink "$STATE/run/sink.pid" "$STATE/logs/sink.log" "$LLMQ_BUILD/llmq-sink" \
  --set admin.port=$((PORT + 2))
llmq_daemon_start worker "$STATE/run/worker.pid" "$STATE/logs/worker.log" "$LLMQ_BUILD/llmq-worker" \
  --set mock.latency_ms="$MOCK_MS" --set admin.port=$((PORT + 1))
llmq_daemon_start ingest "$STATE/run/ingest.pid" "$STATE/logs/ingest.log" "$LLMQ_BUILD/llmq-ingest" \
  --set http.port="$PORT" --set ingest.recent_jobs=$((ASYNC_RATE * WARMUP / 2))
for p in $PORT $((PORT + 1)) $((PORT + 2)); do
  llmq_wait_http "http://127.0.0.1:$p/readyz" 60 || die "a daemon on port $p is not ready"
done

BODY='{"model":"mock","messages":[{"role":"user","content":"Say something about queues."}]}'
echo "$BODY" >"$STATE/run/body.json"
echo "${BODY%\}},\"stream\":true}" >"$STATE/run/body-stream.json"
SAMPLES=$STATE/samples.jsonl
: >"$SAMPLES"

# "rss_kb fds cpu_ticks" of a process
proc_sample() {
  local pid=$1 rss fds ticks
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
  fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
  ticks=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$pid/stat")
  echo "$rss $fds $ticks"
}
lag_of() {
  curl -fsS "http://127.0.0.1:$1/metrics" | awk '$1 ~ /^llmq_consumer_lag_sum_records/ {s += $2} END {print s + 0}'
}
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }
loadgen() { # PATH RATE BODY [extra...] -> one JSON object
  local path=$1 rate=$2 body=$3
  shift 3
  "$LLMQ_BUILD/llmq-loadgen" --port "$PORT" --path "$path" --rate "$rate" --duration "$MINUTE" \
    --connections 128 --body "$body" --header "Authorization: Bearer $KEY" "$@"
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], 0))' "$1" "$2"; }

TICK=$(getconf CLK_TCK)
minutes=$(((DURATION + MINUTE - 1) / MINUTE))
answered=0 failed=0
declare -A PID
for d in ingest worker sink; do PID[$d]=$(cat "$STATE/run/$d.pid"); done
declare -A LAST_TICKS FDS_BEFORE
for d in ingest worker sink; do read -r _ FDS_BEFORE[$d] LAST_TICKS[$d] <<<"$(proc_sample "${PID[$d]}")"; done
read -r m_busy m_all <<<"$(busy_ticks)"
say "soak: ${minutes} min; each minute sync $SYNC_RATE/s, stream $STREAM_RATE/s, async $ASYNC_RATE/s; warm-up ${WARMUP}s"
printf '%-4s %-22s %-22s %-22s %-7s %-7s %-6s %-18s %-18s %s\n' min "ingest rss/fd/cpu" \
  "worker rss/fd/cpu" "sink rss/fd/cpu" "w-lag" "s-lag" "cpu" "sync p50/p99 ms" "ttft p50/p99 ms" errors >&2
for m in $(seq 1 "$minutes"); do
  sync_out=$STATE/run/sync.json stream_out=$STATE/run/stream.json async_out=$STATE/run/async.json
  loadgen /v1/chat/completions "$SYNC_RATE" "$STATE/run/body.json" >"$sync_out" &
  gens=($!)
  loadgen /v1/chat/completions "$STREAM_RATE" "$STATE/run/body-stream.json" --ttft-marker '"delta"' \
    >"$stream_out" &
  gens+=($!)
  loadgen /v1/jobs "$ASYNC_RATE" "$STATE/run/body.json" >"$async_out" &
  gens+=($!)
  wait "${gens[@]}" # (not the daemons, children of this shell too)
  for d in ingest worker sink; do
    kill -0 "${PID[$d]}" 2>/dev/null || die "$d exited during the soak (see $STATE/logs/$d.log)"
  done
  row="{\"minute\": $m"
  cells=()
  for d in ingest worker sink; do
    read -r rss fds ticks <<<"$(proc_sample "${PID[$d]}")"
    cpu=$(awk -v t=$((ticks - LAST_TICKS[$d])) -v hz="$TICK" -v s=$MINUTE 'BEGIN {printf "%.1f", 100 * t / hz / s}')
    LAST_TICKS[$d]=$ticks
    row+=", \"${d}_rss_kb\": $rss, \"${d}_fds\": $fds, \"${d}_cpu_pct\": $cpu"
    cells+=("$((rss / 1024))M/$fds/${cpu}%")
  done
  read -r busy all <<<"$(busy_ticks)"
  machine=$(awk -v b=$((busy - m_busy)) -v a=$((all - m_all)) 'BEGIN {printf "%.0f", a ? 100 * b / a : 0}')
  m_busy=$busy m_all=$all
  wlag=$(lag_of $((PORT + 1)))
  slag=$(lag_of $((PORT + 2)))
  errs=0
  for f in "$sync_out" "$stream_out" "$async_out"; do
    j=$(cat "$f")
    errs=$((errs + $(field "$j" errors) + $(field "$j" non_2xx)))
    answered=$((answered + $(field "$j" completed) - $(field "$j" non_2xx)))
  done
  failed=$((failed + errs))
  sj=$(cat "$sync_out") tj=$(cat "$stream_out")
  row+=", \"worker_lag\": $wlag, \"sink_lag\": $slag, \"machine_cpu_pct\": $machine, \"errors\": $errs"
  row+=", \"sync\": $sj, \"stream\": $tj, \"async\": $(cat "$async_out")}"
  echo "$row" >>"$SAMPLES"
  printf '%-4s %-22s %-22s %-22s %-7s %-7s %-6s %-18s %-18s %s\n' "$m" "${cells[@]}" "$wlag" "$slag" \
    "$machine%" "$(field "$sj" p50_ms)/$(field "$sj" p99_ms)" \
    "$(field "$tj" ttft_p50_ms)/$(field "$tj" ttft_p99_ms)" "$errs" >&2
done

say "load stopped; waiting for the pipeline to drain"
persisted=0
for _ in $(seq 1 120); do
  persisted=$(psql -tA "$PG_URL" -c "SELECT count(*) FROM usage_events")
  ((persisted >= answered)) && break
  sleep 1
done
sleep 3 # the clients' connections close
fds="{"
for d in ingest worker sink; do
  read -r _ after _ <<<"$(proc_sample "${PID[$d]}")"
  fds+="\"$d\": [${FDS_BEFORE[$d]}, $after], "
done
fds="${fds%, }}"

# the verdict, from the samples
python3 "$LLMQ_ROOT/ops/soak_verdict.py" "$SAMPLES" "$WARMUP" "$MINUTE" "$RSS_PCT" "$LAG_FLOOR" \
  "$answered" "$persisted" "$failed" "$fds"
