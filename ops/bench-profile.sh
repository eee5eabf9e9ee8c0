#!/usr/bin/env bash
# Where the ingest node's and the worker's CPU goes under ops/bench.sh's sync load
# (1,000 req/s against the mock provider, apache Kafka): perf samples both processes for
# SECONDS (12) in the middle of the run, then prints each one's CPU by thread and its top
# functions. A profile, not a test; compare two builds by running it on each.
#   ops/bench-profile.sh [SECONDS]      (BENCH_* settings as for ops/bench.sh)
# Samples and reports are kept in .llmq/bench/profile/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SECONDS_SAMPLED=${1:-12}
STATE=${LLMQ_STATE:-$LLMQ_ROOT/.llmq}/bench
OUT=$STATE/profile
llmq_install_packages linux-perf
mkdir -p "$OUT"
rm -f "$OUT"/*.data "$OUT/bench.log"
BENCH_STEPS=sync BENCH_SYNC_SECONDS=$((SECONDS_SAMPLED + 10)) BENCH_KAFKA=${BENCH_KAFKA:-apache} \
  bash "$LLMQ_ROOT/ops/bench.sh" >"$OUT/bench.log" 2>&1 &
bench=$!
for _ in $(seq 1 600); do
  grep -q "llmq: sync:" "$OUT/bench.log" 2>/dev/null && break
  kill -0 "$bench" 2>/dev/null || { tail -20 "$OUT/bench.log"; die "the benchmark stopped"; }
  sleep 1
done
sleep 4 # past the load's first seconds
for d in ingest worker; do
  perf record -q -F 499 -g -p "$(cat "$STATE/run/$d.pid")" -o "$OUT/$d.data" -- sleep "$SECONDS_SAMPLED" \
    >/dev/null 2>&1 &
done
wait "$bench" || true
set +o pipefail # head closes perf report's pipe early
for d in ingest worker; do
  {
    echo "== llmq-$d: CPU by thread"
    perf report -i "$OUT/$d.data" --no-children -g none --sort comm --stdio 2>/dev/null | grep '%' | head -6
    echo "== llmq-$d: CPU by library"
    perf report -i "$OUT/$d.data" --no-children -g none --sort dso --stdio 2>/dev/null | grep '%' | head -8
    echo "== llmq-$d: top functions"
    perf report -i "$OUT/$d.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null | grep '%' | head -25
  } | tee "$OUT/$d.txt"
done
grep "CPU per request\|target_rps" "$OUT/bench.log" | sed 's/^llmq: *//'
