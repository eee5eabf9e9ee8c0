#!/usr/bin/env bash
# Benchmark llmq on this machine (a script that prints figures, not a test).
#
# For each Kafka (BENCH_KAFKA: "apache" = a real Apache Kafka broker from ops/kafka.sh,
# "embedded" = the in-memory cluster of ops/up.sh, or "both"), with the whole pipeline
# running on this machine (ingest, worker, sink, PostgreSQL, Kafka and the load generators
# all share its cores):
#   1. sync overhead: an open-loop generator at a fixed rate on POST /v1/chat/completions
#      against the mock provider; overhead = end-to-end latency - the mock's latency;
#      then the same with "stream": true: added time to first token = time to the first
#      streamed chunk - the mock's time to its first word;
#   2. async submit throughput: wrk, many keep-alive connections, POST /v1/jobs — every 202
#      means Kafka acknowledged the request — then a check that every accepted job was
#      processed and persisted (async_lost must be 0);
#   3. ingest capacity: async submit with the worker and sink paused (in production they run
#      on other machines);
#   4. limits on vs off: 1 and 2 again for a tenant whose tier limits every dimension (far
#      above the load, so nothing is refused: what is measured is the cost of counting —
#      the ingest node's allowances and slots, the worker's reservations, the ledger's
#      exchanges), against the tenant without limits of the runs above;
#   5. a conversation turn's added cost (tests/bench/turn_bench.py): one client, sequential,
#      a turn of a conversation holding 50 turns against a plain chat completion and against
#      one that resends the same history;
#   6. a batch of BENCH_BATCH_LINES lines (tests/bench/batch_bench.py): lines per second from
#      creation to completed, and the p99 of sequential sync requests while it runs against
#      the same without it;
#   7. the prompt scanner's cost per KB of prompt (llmq-scan-bench);
#   8. (before the others, once) the first request: what ops/up.sh starts — the embedded
#      cluster and the daemons on its settings — freshly started, answers its first sync
#      request in first_ms, then 20 more one at a time (median_after_ms), with curl.
#
# During the sync step it reads each process's CPU time from /proc (ingest, worker, sink, the
# broker, PostgreSQL with its backends) and prints CPU per request per process, in µs
# ("cpu_us_per_sync_request"): the daemons' cost and the broker's, the issue-11 targets;
# before it, over BENCH_IDLE_SECONDS (5) with no load, each one's CPU while idle, in µs per
# second ("idle_cpu_us_per_s": heartbeats, empty fetches, timers; the fixed part of the cost).
#
# The last line printed is one JSON object with the figures (headline keys from the apache
# run when it ran; every run's figures under "<kafka>_<key>").
#
# BENCH_STEPS picks steps (default all): first,sync,limits,stream,turn,batch,async,ingest,scan;
# e.g. BENCH_STEPS=sync,stream,async BENCH_KAFKA=apache ops/bench.sh for a quick comparison.
#
# BENCH_PEERS=DIR runs, instead, the side-by-side gateway harness in DIR (its peers.sh and
# llmq-peer.sh: other gateways and llmq in front of one mock provider, one open-loop load
# generator) at each rate of BENCH_PEERS_RATES ("400 1000 2000"), llmq as its extra target
# with the Release build made here (started after the others ran, and warmed up for
# BENCH_PEERS_WARMUP s, 30: the broker JIT-compiles for about 20 s), and prints each run's
# table and JSON line. llmq's PostgreSQL there listens on PEER_PG_PORT, 25432 by default:
# below the kernel's ephemeral ports, which the load generator's thousands of connections
# can hold when it starts.
#
# Environment: BENCH_KAFKA (both), BENCH_TURNS (300), BENCH_BATCH_LINES (50000), BENCH_ASYNC_SECONDS (15), BENCH_ASYNC_CONNECTIONS (128),
# BENCH_SYNC_RATE (1000), BENCH_STREAM_RATE (200), BENCH_SYNC_SECONDS (20), BENCH_WARMUP_SECONDS (20:
# sync requests at BENCH_SYNC_RATE before the steps), BENCH_IDLE_SECONDS (5), BENCH_MOCK_LATENCY_MS (20),
# LLMQ_BENCH_PORT (18080), BENCH_STEPS (all), BENCH_DAEMON_ARGS (extra arguments for every daemon, e.g.
# "--set kafka.linger.ms=5"), BENCH_INGEST_ARGS (the same for the ingest node alone)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE=${LLMQ_STATE:-$LLMQ_ROOT/.llmq}/bench
PORT=${LLMQ_BENCH_PORT:-18080}
PG_PORT=$((PORT + 10))
KAFKAS=${BENCH_KAFKA:-both}
[[ $KAFKAS == both ]] && KAFKAS="embedded apache"
ASYNC_SECONDS=${BENCH_ASYNC_SECONDS:-15}
ASYNC_CONNS=${BENCH_ASYNC_CONNECTIONS:-128}
SYNC_RATE=${BENCH_SYNC_RATE:-1000}
STREAM_RATE=${BENCH_STREAM_RATE:-200}
SYNC_SECONDS=${BENCH_SYNC_SECONDS:-20}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-5}
WARMUP_SECONDS=${BENCH_WARMUP_SECONDS:-20}
MOCK_MS=${BENCH_MOCK_LATENCY_MS:-20}
LLMQ_BUILD=$LLMQ_ROOT/build-bench
GC_LOG=$STATE/broker-gc.log
STEPS=,${BENCH_STEPS:-first,sync,limits,stream,turn,batch,async,ingest,scan},
want() { [[ $STEPS == *,$1,* ]]; }

llmq_install_packages "${LLMQ_BUILD_PACKAGES[@]}" wrk
say "building (Release)"
llmq_build Release

if [[ -n ${BENCH_PEERS:-} ]]; then
  [[ -f $BENCH_PEERS/peers.sh && -f $BENCH_PEERS/llmq-peer.sh ]] ||
    die "BENCH_PEERS=$BENCH_PEERS holds no peers.sh and llmq-peer.sh"
  export PEER_PG_PORT=${PEER_PG_PORT:-25432}
  trap 'LLMQ_ROOT=$LLMQ_ROOT bash "$BENCH_PEERS/llmq-peer.sh" stop >/dev/null 2>&1' EXIT
  for rate in ${BENCH_PEERS_RATES:-400 1000 2000}; do
    # the other gateways first, with nothing of llmq running (its broker would take CPU
    # from them); then llmq alone, after a longer warm-up (the broker's JIT)
    say "side by side at $rate req/s: the direct baseline and the other gateways"
    TARGETS=${BENCH_PEERS_TARGETS:-direct,litellm,portkey,bifrost} \
      bash "$BENCH_PEERS/peers.sh" "$rate" "${BENCH_PEERS_SECONDS:-20}"
    say "side by side at $rate req/s: llmq"
    extra=$(cd "$LLMQ_ROOT" && LLMQ_ROOT=$LLMQ_ROOT bash "$BENCH_PEERS/llmq-peer.sh" start | tail -1)
    # shellcheck disable=SC2163,SC2086 # NAME=value words from llmq-peer.sh
    export $extra
    TARGETS=direct,extra WARMUP_S=${BENCH_PEERS_WARMUP:-30} \
      bash "$BENCH_PEERS/peers.sh" "$rate" "${BENCH_PEERS_SECONDS:-20}"
    LLMQ_ROOT=$LLMQ_ROOT bash "$BENCH_PEERS/llmq-peer.sh" stop >/dev/null 2>&1
  done
  exit 0
fi
mkdir -p "$STATE"
stop_daemons() { for d in ingest worker sink kafka; do llmq_daemon_stop "$STATE/run/$d.pid"; done; }
cleanup() {
  stop_daemons
  "$LLMQ_ROOT/ops/kafka.sh" stop "$STATE/apache-kafka" >/dev/null 2>&1 || true
  llmq_pg_stop "$(llmq_pg_dir "$STATE")"
}
trap cleanup EXIT
PG_DIR=$(llmq_pg_dir "$STATE")
PG_URL=$(llmq_pg_start "$PG_DIR" "$PG_PORT")
export LLMQ_PG_URL=$PG_URL LLMQ_LOG_LEVEL=warn
"$LLMQ_BUILD/llmqctl" migrate >/dev/null
"$LLMQ_BUILD/llmqctl" tenant create bench >/dev/null
KEY=$("$LLMQ_BUILD/llmqctl" key create --tenant bench 2>/dev/null)
"$LLMQ_BUILD/llmqctl" tier set bench-limits --weight 1 --limits \
  '{"tenant":{"rpm":100000000,"rpd":1000000000,"tpm":1000000000000,"tpd":1000000000000,"usd_per_day":1000000,"concurrent":100000},"key":{"rph":1000000000}}' >/dev/null
"$LLMQ_BUILD/llmqctl" tenant create bench-limited --tier bench-limits >/dev/null
LKEY=$("$LLMQ_BUILD/llmqctl" key create --tenant bench-limited 2>/dev/null)
BODY='{"model":"mock","messages":[{"role":"user","content":"Summarise the benefits of durable queues in one line."}]}'
echo "$BODY" >"$STATE/body.json"
echo "${BODY%\}},\"stream\":true}" >"$STATE/body-stream.json"
cat >"$STATE/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA
sed "s/Bearer $KEY/Bearer $LKEY/" "$STATE/post.lua" >"$STATE/post-limited.lua"
RESULTS=()

# wait until the sink has written nothing for 3 s (it writes jobs and traces too)
sink_quiet() {
  local quiet=0 last=-1 rows
  for _ in $(seq 1 300); do
    rows=$(curl -s "http://127.0.0.1:$((PORT + 2))/metrics" | awk '$1 == "llmq_sink_rows_total" {print $2}')
    if [[ $rows == "$last" ]]; then quiet=$((quiet + 1)); else quiet=0; fi
    ((quiet >= 3)) && break
    last=$rows
    sleep 1
  done
}

usage_rows() { psql -tA "$PG_URL" -c "SELECT count(*) FROM usage_events"; }

# CPU time in ms (user + system) of the processes given, summed
cpu_ms() {
  local total=0 p t
  for p in "$@"; do
    t=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null) || continue
    total=$((total + t))
  done
  echo $((total * 1000 / $(getconf CLK_TCK)))
}
# Times the threads of the processes given went to sleep and were woken (voluntary context
# switches), summed: each is a hand-over between threads or a wait for the network (a thread
# that does nothing else spent about 12 µs of CPU a wake-up on the machine of benchmarks.md)
wakeups() {
  local p
  for p in "$@"; do cat /proc/"$p"/task/*/status 2>/dev/null; done |
    awk '/^voluntary_ctxt_switches/ {n += $2} END {print n + 0}'
}
# the processes measured: name=pid list (PostgreSQL: the postmaster and its backends)
measured_pids() {
  local pm
  pm=$(head -1 "$PG_DIR/data/postmaster.pid")
  echo "ingest=$(cat "$STATE/run/ingest.pid")"
  echo "worker=$(cat "$STATE/run/worker.pid")"
  echo "sink=$(cat "$STATE/run/sink.pid")"
  echo "broker=$BROKER_PID"
  echo "postgres=$pm $(pgrep -P "$pm" | tr '\n' ' ')"
}
# The sync step's jobs, split into hops from their traces (means, ms; the Kafka hop's p50 and
# p99 too): admission (accepted → handed to the producer), kafka (→ read by the worker),
# worker_wait (→ picked), provider, traced (accepted → result published); $1 = the step's
# start, epoch ms
hop_split() {
  psql -tA "$PG_URL" -c "SELECT json_build_object(
      'admission_ms', round(avg((q->'attrs'->>'admission_ms')::numeric), 2),
      'kafka_ms', round(avg((q->'attrs'->>'kafka_ms')::numeric), 2),
      'kafka_p50_ms', percentile_disc(0.5) WITHIN GROUP (ORDER BY (q->'attrs'->>'kafka_ms')::int),
      'kafka_p99_ms', percentile_disc(0.99) WITHIN GROUP (ORDER BY (q->'attrs'->>'kafka_ms')::int),
      'worker_wait_ms', round(avg((q->'attrs'->>'worker_wait_ms')::numeric), 2),
      'provider_ms', round(avg(provider_ms), 2),
      'traced_ms', round(avg(total_ms), 2), 'jobs', count(*))
    FROM traces t, jsonb_array_elements(t.spans) q
    WHERE q->>'name' = 'queue' AND t.tenant_id = 'bench' AND t.created_at >= to_timestamp($1 / 1000.0)"
}
# CPU time in ms of the broker's JIT compiler threads (C1, C2): warm-up work of the JVM, part
# of the broker's figure, shown apart so a run that is not yet warm can be told
jit_ms() {
  local total=0 t
  for t in /proc/"$BROKER_PID"/task/*; do
    grep -q '^C[12] Compiler' "$t/comm" 2>/dev/null || continue
    total=$((total + $(awk '{sub(/^.*\) /, ""); print $12 + $13}' "$t/stat" 2>/dev/null || echo 0)))
  done
  echo $((total * 1000 / $(getconf CLK_TCK)))
}
# The hops only the ingest node sees, added to hop_split's JSON ($1): the mean of its
# enqueue acknowledgement and of the reply's way back (worker finished → node), from its
# histograms' sums and counts in two /metrics pages ($2 before the step, $3 after)
ingest_hops() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
def read(path):
    out = {}
    for line in open(path, encoding="utf-8"):
        name, _, value = line.rpartition(" ")
        if name.endswith(("_sum", "_count")) and not name.startswith("#"):
            out[name] = float(value)
    return out
hops = json.loads(sys.argv[1] or "{}")
a, b = read(sys.argv[2]), read(sys.argv[3])
for key, metric in (("enqueue_ack_ms", "llmq_ingest_enqueue_ack_seconds"),
                    ("reply_delay_ms", "llmq_ingest_reply_delay_seconds")):
    n = b.get(metric + "_count", 0) - a.get(metric + "_count", 0)
    if n > 0:
        hops[key] = round((b[metric + "_sum"] - a.get(metric + "_sum", 0)) * 1000.0 / n, 2)
print(json.dumps(hops))
PY
}
# The Apache broker's collector between two wall-clock times (ms): how many pauses, how often,
# their median and longest, and the share of the time the broker stood still; {} without its
# log (the embedded cluster). A pause is a stop of every broker thread: each produce and fetch
# that meets one waits for it.
gc_pauses() {
  [[ -s $GC_LOG ]] || { echo '{}'; return; }
  python3 - "$GC_LOG" "$1" "$2" <<'PY'
import json, re, statistics, sys
t0, t1 = int(sys.argv[2]), int(sys.argv[3])
p = []
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    m = re.match(r"\[(\d+)ms\].* Pause .* ([\d.]+)ms$", line.strip())
    if m and t0 <= int(m.group(1)) <= t1:
        p.append(float(m.group(2)))
span = max(t1 - t0, 1) / 1000.0
print(json.dumps({"pauses": len(p), "per_s": round(len(p) / span, 2),
                  "median_ms": round(statistics.median(p), 2) if p else 0,
                  "max_ms": round(max(p), 2) if p else 0,
                  "paused_pct": round(sum(p) / span / 10.0, 2)}))
PY
}
# "name=ms ..." for every measured process, and broker_jit (included in broker); then
# "name.wakeups=N ..."
cpu_sample() {
  local line
  while read -r line; do
    # shellcheck disable=SC2086 # a pid list
    printf '%s=%s %s.wakeups=%s ' "${line%%=*}" "$(cpu_ms ${line#*=})" "${line%%=*}" "$(wakeups ${line#*=})"
  done < <(measured_pids)
  printf 'broker_jit=%s ' "$(jit_ms)"
}
# JSON {name: µs per request, ..., "wakeups": {name: thread wake-ups per request}} from two
# samples and a request count
cpu_per_request() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
a = dict(kv.split("=") for kv in sys.argv[1].split())
b = dict(kv.split("=") for kv in sys.argv[2].split())
n = max(1, int(sys.argv[3]))
out = {k: round((int(b[k]) - int(a[k])) * 1000.0 / n, 1) for k in a if "." not in k}
out["llmq"] = round(out["ingest"] + out["worker"] + out["sink"], 1)
wk = {k.split(".")[0]: round((int(b[k]) - int(a[k])) / n, 2) for k in a if k.endswith(".wakeups")}
wk["llmq"] = round(wk["ingest"] + wk["worker"] + wk["sink"], 2)
out["wakeups"] = wk
print(json.dumps(out))
PY
}

# wait until at least $2 usage rows are persisted, or none was added for 10 s, or $1 s
# passed; prints the count
wait_persisted() {
  local limit=$1 want=$2 last=-1 n=0 still=0 i
  for i in $(seq 1 "$limit"); do
    n=$(usage_rows)
    ((n >= want)) && break
    if ((n == last)); then
      still=$((still + 1))
      ((still >= 10)) && break
    else
      still=0
    fi
    last=$n
    sleep 1
  done
  echo "$n"
}

run_wrk() { # label url [script] -> prints "rps non2xx total p50 p99"
  wrk -t2 -c"$ASYNC_CONNS" -d"${ASYNC_SECONDS}s" --latency -s "${3:-$STATE/post.lua}" "$2" >"$STATE/wrk-$1.txt"
  awk '/^Requests\/sec:/ {rps=$2} /Non-2xx or 3xx responses:/ {bad=$5} / requests in / {total=$1}
       $1 == "50%" {p50=$2} $1 == "99%" {p99=$2}
       END {print rps, (bad ? bad : 0), total, p50, p99}' "$STATE/wrk-$1.txt"
}

# What ops/up.sh starts (the embedded cluster, the daemons on its settings), freshly started:
# the first sync request it answers, then the median of 20 more, one at a time (curl).
first_request() {
  local dir=$STATE/first port=$((PORT + 20)) i
  rm -rf "$dir"
  mkdir -p "$dir/run" "$dir/logs"
  llmq_daemon_start kafka "$dir/run/kafka.pid" "$dir/logs/kafka.log" \
    "$LLMQ_BUILD/llmq-kafka-embedded" --partitions 8 --bootstrap-file "$dir/bootstrap"
  for _ in $(seq 1 50); do [[ -s $dir/bootstrap ]] && break; sleep 0.1; done
  (
    llmq_embedded_kafka_env
    export LLMQ_KAFKA_BROKERS=$(cat "$dir/bootstrap")
    llmq_daemon_start sink "$dir/run/sink.pid" "$dir/logs/sink.log" "$LLMQ_BUILD/llmq-sink" \
      --set admin.port=$((port + 2))
    llmq_daemon_start worker "$dir/run/worker.pid" "$dir/logs/worker.log" "$LLMQ_BUILD/llmq-worker" \
      --set admin.port=$((port + 1))
    llmq_daemon_start ingest "$dir/run/ingest.pid" "$dir/logs/ingest.log" "$LLMQ_BUILD/llmq-ingest" \
      --set http.port=$port
    llmq_wait_http "http://127.0.0.1:$port/readyz" 60 && llmq_wait_http "http://127.0.0.1:$((port + 1))/readyz" 60
  ) || die "the embedded stack did not start (logs in $dir/logs)"
  sleep 1
  for i in $(seq 0 20); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/v1/chat/completions" \
      -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d @"$STATE/body.json"
    sleep 0.37
  done >"$dir/times"
  for d in ingest worker sink kafka; do llmq_daemon_stop "$dir/run/$d.pid"; done
  python3 - "$dir/times" <<'PY'
import json, statistics, sys
t = [float(x) * 1000 for x in open(sys.argv[1]).read().split()]
print(json.dumps({"first_ms": round(t[0], 1), "median_after_ms": round(statistics.median(t[1:]), 1)}))
PY
}

FIRST='{}'
if want first; then
  say "first request: the embedded defaults of ops/up.sh, freshly started, mock provider 20 ms"
  FIRST=$(first_request)
  say "  $FIRST"
fi

for kafka in $KAFKAS; do
  say "== $kafka Kafka =="
  rm -rf "$STATE/run" "$STATE/logs" "$GC_LOG" # no collector's log but this broker's
  mkdir -p "$STATE/run" "$STATE/logs"
  psql -q "$PG_URL" -c "TRUNCATE jobs, usage_events, usage_daily, traces, dead_letters" >/dev/null
  if [[ $kafka == embedded ]]; then
    llmq_daemon_start kafka "$STATE/run/kafka.pid" "$STATE/logs/kafka.log" \
      "$LLMQ_BUILD/llmq-kafka-embedded" --partitions 8 --bootstrap-file "$STATE/run/kafka.bootstrap"
    for _ in $(seq 1 50); do [[ -s $STATE/run/kafka.bootstrap ]] && break; sleep 0.1; done
    BROKERS=$(cat "$STATE/run/kafka.bootstrap")
    BROKER_PID=$(cat "$STATE/run/kafka.pid")
  else
    rm -rf "$STATE/apache-kafka"
    # the broker's collector logs its pauses on the wall clock (gc_pauses)
    BROKERS=$(LLMQ_KAFKA_GC_OPTS="${LLMQ_KAFKA_GC_OPTS:--XX:+UseSerialGC} -Xlog:gc,gc+phases:file=$GC_LOG:timemillis" \
      "$LLMQ_ROOT/ops/kafka.sh" start "$STATE/apache-kafka" | tail -1)
    BROKER_PID=$(cat "$STATE/apache-kafka/kafka.pid")
    "$LLMQ_BUILD/llmqctl" --brokers "$BROKERS" topics create --partitions 8 >/dev/null
  fi
  export LLMQ_KAFKA_BROKERS=$BROKERS
  # the embedded cluster's settings, as ops/up.sh has them
  if [[ $kafka == embedded ]]; then llmq_embedded_kafka_env; else unset LLMQ_KAFKA_COMPRESSION LLMQ_WORKER_FETCH_WAIT_MS LLMQ_INGEST_REPLY_FETCH_WAIT_MS; fi
  # shellcheck disable=SC2086 # BENCH_DAEMON_ARGS is a word list
  llmq_daemon_start sink "$STATE/run/sink.pid" "$STATE/logs/sink.log" "$LLMQ_BUILD/llmq-sink" \
    --set admin.port=$((PORT + 2)) ${BENCH_DAEMON_ARGS:-}
  llmq_daemon_start worker "$STATE/run/worker.pid" "$STATE/logs/worker.log" "$LLMQ_BUILD/llmq-worker" \
    --set mock.latency_ms="$MOCK_MS" --set worker.max_inflight=8192 --set admin.port=$((PORT + 1)) \
    ${BENCH_DAEMON_ARGS:-}
  llmq_daemon_start ingest "$STATE/run/ingest.pid" "$STATE/logs/ingest.log" "$LLMQ_BUILD/llmq-ingest" \
    --set http.port="$PORT" ${BENCH_DAEMON_ARGS:-} ${BENCH_INGEST_ARGS:-}
  llmq_wait_http "http://127.0.0.1:$PORT/readyz" 60 || die "ingest not ready"
  llmq_wait_http "http://127.0.0.1:$((PORT + 1))/readyz" 60 || die "worker not ready"
  # warm-up (JIT of the broker, connections, caches): the broker's JIT compiler still took
  # ~100 µs per request of the sync step after 7 s of it
  wrk -t2 -c16 -d2s -s "$STATE/post.lua" "http://127.0.0.1:$PORT/v1/jobs" >/dev/null
  "$LLMQ_BUILD/llmq-loadgen" --port "$PORT" --path /v1/chat/completions --rate "$SYNC_RATE" --duration "$WARMUP_SECONDS" \
    --connections 64 --body "$STATE/body.json" --header "Authorization: Bearer $KEY" >/dev/null

  sink_quiet

  sync='{}' sync_cpu='{}' sync_hops='{}' idle_cpu='{}' sync_gc='{}'
  if want sync; then
    # the fixed part first: what each process spends with no request at all (heartbeats,
    # empty fetches, timers), as µs per second
    cpu0=$(cpu_sample)
    sleep "$IDLE_SECONDS"
    idle_cpu=$(cpu_per_request "$cpu0" "$(cpu_sample)" "$IDLE_SECONDS")
    say "idle CPU (µs per second, over ${IDLE_SECONDS}s): $idle_cpu"
    say "sync: $SYNC_RATE req/s for ${SYNC_SECONDS}s, mock provider latency $MOCK_MS ms"
    sync_start_ms=$(date +%s%3N)
    curl -sf "http://127.0.0.1:$PORT/metrics" >"$STATE/metrics.before" || : >"$STATE/metrics.before"
    cpu0=$(cpu_sample)
    sync=$("$LLMQ_BUILD/llmq-loadgen" --port "$PORT" --path /v1/chat/completions --rate "$SYNC_RATE" \
      --duration "$SYNC_SECONDS" --connections 256 --body "$STATE/body.json" \
      --header "Authorization: Bearer $KEY")
    sync_gc=$(gc_pauses "$sync_start_ms" "$(date +%s%3N)")
    say "  $sync"
    say "  the broker's collector: $sync_gc"
    sink_quiet # the sink's share of the load is counted too (3 idle seconds with it)
    sync_cpu=$(cpu_per_request "$cpu0" "$(cpu_sample)" \
      "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["completed"])' "$sync")")
    say "  CPU per request (µs): $sync_cpu"
    curl -sf "http://127.0.0.1:$PORT/metrics" >"$STATE/metrics.after" || : >"$STATE/metrics.after"
    sync_hops=$(ingest_hops "$(hop_split "$sync_start_ms")" "$STATE/metrics.before" "$STATE/metrics.after")
    say "  hops (means, ms; traced_ms = accepted → published by the worker): $sync_hops"
  fi

  sync_lim='{}'
  if want limits; then
    sink_quiet
    say "sync with limits counted: the same load for a tenant whose tier limits every dimension"
    sync_lim=$("$LLMQ_BUILD/llmq-loadgen" --port "$PORT" --path /v1/chat/completions --rate "$SYNC_RATE" \
      --duration "$SYNC_SECONDS" --connections 256 --body "$STATE/body.json" \
      --header "Authorization: Bearer $LKEY")
    say "  $sync_lim"
  fi
  stream='{}'
  if want stream; then
    sink_quiet
    say "stream: $STREAM_RATE streams/s for ${SYNC_SECONDS}s, mock provider: first word after $MOCK_MS ms"
    stream=$("$LLMQ_BUILD/llmq-loadgen" --port "$PORT" --path /v1/chat/completions --rate "$STREAM_RATE" \
      --duration "$SYNC_SECONDS" --connections 256 --body "$STATE/body-stream.json" \
      --header "Authorization: Bearer $KEY" --ttft-marker '"delta"')
    say "  $stream"
  fi
  turn='{}'
  if want turn; then
    sink_quiet
    say "a conversation turn with 50 turns of history, against plain and resent chat completions"
    turn=$(python3 "$LLMQ_ROOT/tests/bench/turn_bench.py" "$PORT" "$KEY" "${BENCH_TURNS:-300}")
    say "  $turn"
  fi
  batch='{}'
  if want batch; then
    sink_quiet
    say "a batch of ${BENCH_BATCH_LINES:-50000} lines, and sync requests while it runs"
    batch=$(python3 "$LLMQ_ROOT/tests/bench/batch_bench.py" "$PORT" "$KEY" "${BENCH_BATCH_LINES:-50000}" 300)
    say "  $batch"
  fi
  a_rps=0 a_bad=0 a_p50= a_p99= lost=0
  if want async; then
    sink_quiet
    base=$(usage_rows)
    say "async submit, whole pipeline: wrk, $ASYNC_CONNS connections, ${ASYNC_SECONDS}s"
    read -r a_rps a_bad a_total a_p50 a_p99 <<<"$(run_wrk "$kafka-full" "http://127.0.0.1:$PORT/v1/jobs")"
    say "  $a_rps req/s, $a_bad not 202, p50 $a_p50, p99 $a_p99; waiting for the pipeline to drain"
    persisted=$(($(wait_persisted 300 $((base + a_total - a_bad))) - base))
    lost=$((a_total - a_bad - persisted))
    ((lost < 0)) && lost=0
    say "  accepted $((a_total - a_bad)), persisted $persisted, lost $lost"
  fi
  l_rps=0 l_bad=0 l_lost=0
  if want limits; then
    sink_quiet
    base=$(usage_rows)
    say "async submit with limits counted (the worker reserves each job's tokens)"
    read -r l_rps l_bad l_total _ _ <<<"$(run_wrk "$kafka-limited" "http://127.0.0.1:$PORT/v1/jobs" "$STATE/post-limited.lua")"
    persisted=$(($(wait_persisted 300 $((base + l_total - l_bad))) - base))
    l_lost=$((l_total - l_bad - persisted))
    ((l_lost < 0)) && l_lost=0
    say "  $l_rps req/s, $l_bad not 202, accepted $((l_total - l_bad)), persisted $persisted, lost $l_lost"
  fi
  i_rps=0 i_bad=0 i_p50= i_p99=
  if want ingest; then
    # last, because it leaves a backlog that is not processed (nor checked: the embedded
    # cluster keeps only ~5 MB per partition)
    say "async submit, ingest alone (worker and sink paused)"
    kill -STOP "$(cat "$STATE/run/worker.pid")" "$(cat "$STATE/run/sink.pid")"
    read -r i_rps i_bad _ i_p50 i_p99 <<<"$(run_wrk "$kafka-ingest" "http://127.0.0.1:$PORT/v1/jobs")"
    kill -CONT "$(cat "$STATE/run/worker.pid")" "$(cat "$STATE/run/sink.pid")"
    say "  $i_rps req/s, $i_bad not 202, p50 $i_p50, p99 $i_p99"
  fi
  RESULTS+=("$(python3 - "$kafka" "$a_rps" "$a_bad" "$a_p50" "$a_p99" "$lost" "$i_rps" "$i_bad" "$MOCK_MS" "$sync" "$stream" "$sync_lim" "$l_rps" "$l_bad" "$l_lost" "$turn" "$batch" "$sync_cpu" "$sync_hops" "$idle_cpu" "$sync_gc" <<'PY'
import json, sys
def ms(v):
    if not v:
        return None
    for unit, f in (("us", 1e-3), ("ms", 1.0)):
        if v.endswith(unit):
            return round(float(v[:-2]) * f, 3)
    return round(float(v[:-1]) * 1000.0, 3) if v.endswith("s") else None
kafka, a_rps, a_bad, a_p50, a_p99, lost, i_rps, i_bad, mock, sync, stream, sync_lim, l_rps, l_bad, l_lost, turn, batch, cpu, hops, idle, gc = sys.argv[1:]
s = json.loads(sync); mock = float(mock); st = json.loads(stream); sl = json.loads(sync_lim)
out = {"kafka": kafka, "mock_latency_ms": mock}
if float(a_rps):
    out.update({"async_rps": round(float(a_rps)), "async_non_202": int(a_bad),
        "async_p50_ms": ms(a_p50), "async_p99_ms": ms(a_p99), "async_lost": int(lost)})
if float(i_rps):
    out.update({"async_ingest_only_rps": round(float(i_rps)), "async_ingest_only_non_202": int(i_bad)})
if s:
    out.update({"sync_rate": s["target_rps"], "sync_achieved_rps": s["achieved_rps"],
        "sync_errors": s["errors"] + s["non_2xx"], "sync_p50_ms": s["p50_ms"], "sync_p95_ms": s["p95_ms"],
        "sync_p99_ms": s["p99_ms"],
        "sync_overhead_p50_ms": round(s["p50_ms"] - mock, 3),
        "sync_overhead_p95_ms": round(s["p95_ms"] - mock, 3),
        "sync_overhead_p99_ms": round(s["p99_ms"] - mock, 3),
        "cpu_us_per_sync_request": json.loads(cpu), "sync_hops_mean_ms": json.loads(hops),
        "idle_cpu_us_per_s": json.loads(idle), "sync_broker_gc": json.loads(gc)})
if st:
    out.update({"stream_rate": st["target_rps"], "stream_errors": st["errors"] + st["non_2xx"],
        "stream_ttft_added_p50_ms": round(st["ttft_p50_ms"] - mock, 3),
        "stream_ttft_added_p99_ms": round(st["ttft_p99_ms"] - mock, 3),
        "stream_total_p50_ms": st["p50_ms"]})
if sl:
    out.update({"limits_sync_errors": sl["errors"] + sl["non_2xx"],
        "limits_sync_overhead_p50_ms": round(sl["p50_ms"] - mock, 3),
        "limits_sync_overhead_p99_ms": round(sl["p99_ms"] - mock, 3)})
    if s:
        out.update({"limits_sync_added_p50_ms": round(sl["p50_ms"] - s["p50_ms"], 3),
            "limits_sync_added_p99_ms": round(sl["p99_ms"] - s["p99_ms"], 3)})
if float(l_rps):
    out.update({"limits_async_rps": round(float(l_rps)), "limits_async_non_202": int(l_bad),
        "limits_async_lost": int(l_lost),
        "limits_async_ratio": round(float(l_rps) / float(a_rps), 3) if float(a_rps) else None})
out.update({"conv_" + k: v for k, v in json.loads(turn).items()})
out.update({("" if k.startswith("batch_") else "batch_") + k: v for k, v in json.loads(batch).items()})
print(json.dumps(out))
PY
)")
  stop_daemons
  [[ $kafka == apache ]] && "$LLMQ_ROOT/ops/kafka.sh" stop "$STATE/apache-kafka" >/dev/null
done

SCAN='{}'
if want scan; then
  say "prompt scanner (secrets) on 1 KB and 64 KB of prompt-like text"
  SCAN=$("$LLMQ_BUILD/llmq-scan-bench" 64)
  say "  $SCAN"
fi

python3 - "$SCAN" "$FIRST" "${RESULTS[@]}" <<'PY'
import json, sys
scan = json.loads(sys.argv[1])
first = json.loads(sys.argv[2])
runs = [json.loads(a) for a in sys.argv[3:]]
out = {"scan_ns_per_kb": scan["scan_ns_per_kb_p50"], "scan_mb_per_s": scan["scan_mb_per_s"]} if scan else {}
out.update({"embedded_first_request_" + k: v for k, v in first.items()})
head = next((r for r in runs if r["kafka"] == "apache"), runs[0])
out.update({k: v for k, v in head.items() if k != "kafka"})
out["headline_kafka"] = head["kafka"]
for r in runs:
    for k, v in r.items():
        if k != "kafka":
            out[f'{r["kafka"]}_{k}'] = v
print(json.dumps(out))
PY
