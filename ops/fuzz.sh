#!/usr/bin/env bash
# Run the fuzz targets (tests/fuzz) under libFuzzer with ASan/UBSan for a bounded time each.
#   ops/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]      (default 60, every target)
#   LLMQ_FUZZ_RUNS=10000000 ops/fuzz.sh 0 [TARGET...]  a number of executions each instead
#   LLMQ_FUZZ_JOBS=2 ...   that many libFuzzer processes per target, sharing its corpus; the
#                          executions (or seconds) are split between them and summed
# Each target's last line ("Done N runs in S second(s)") is appended to .llmq/fuzz/runs.log.
# Seeds: the target's examples in tests/data and its kept corpus, tests/data/fuzz/corpus/TARGET
# (refresh it after a long run: BIN -merge=1 tests/data/fuzz/corpus/TARGET .llmq/fuzz/TARGET).
# Installs clang when missing. Corpora start from tests/data; new inputs are kept in
# .llmq/fuzz/<target>/ (not committed); crashes are written there as crash-*.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SECONDS_EACH=${1:-60}
llmq_install_packages "${LLMQ_BUILD_PACKAGES[@]}" clang libclang-rt-14-dev
OUT=${LLMQ_STATE:-$LLMQ_ROOT/.llmq}/fuzz
mkdir -p "$OUT/bin"
LLMQ_BUILD=$LLMQ_ROOT/build-fuzz
# the libraries carry coverage instrumentation too, so libFuzzer sees inside them; -O1 (as the
# target itself) runs about 2.5 times as many inputs a second as -O0 under ASan, asserts kept
cmake -S "$LLMQ_ROOT" -B "$LLMQ_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLLMQ_SANITIZE=ON \
  -DCMAKE_C_COMPILER=clang "-DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link -O1" >/dev/null
cmake --build "$LLMQ_BUILD" >/dev/null
declare -A CORPUS=([fuzz_request_parse]=tests/data/requests [fuzz_openai_response]=tests/data/openai
  [fuzz_avro_decode]=tests/data/fuzz/avro [fuzz_sse_stream]=tests/data/streams
  [fuzz_anthropic_response]=tests/data/anthropic [fuzz_gemini_response]=tests/data/gemini
  [fuzz_secret_scan]=tests/data/fuzz/secrets [fuzz_batch_lines]=tests/data/fuzz/batches)
TARGETS=(fuzz_request_parse fuzz_openai_response fuzz_avro_decode fuzz_sse_stream
  fuzz_anthropic_response fuzz_gemini_response fuzz_secret_scan fuzz_batch_lines)
# ops/fuzz.sh SECONDS TARGET...: only those targets
[[ $# -gt 1 ]] && TARGETS=("${@:2}")
for t in "${TARGETS[@]}"; do
  src=$LLMQ_ROOT/tests/fuzz/$t.c
  bin=$OUT/bin/$t
  # the target's own objects with libFuzzer's main instead of tests/fuzz/driver.c
  clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I"$LLMQ_ROOT" "$src" \
    "$LLMQ_BUILD/libllmq_ingest_lib.a" "$LLMQ_BUILD/libllmq_worker_lib.a" "$LLMQ_BUILD/libllmq_core.a" \
    $(pkg-config --libs rdkafka avro-c jansson libmicrohttpd libcurl libpq libcrypto) -lpthread -lm -o "$bin"
  mkdir -p "$OUT/$t"
  # the corpus kept from earlier long runs (minimized with -merge=1; see docs/reliability.md)
  kept=()
  [[ -d $LLMQ_ROOT/tests/data/fuzz/corpus/$t ]] && kept=("$LLMQ_ROOT/tests/data/fuzz/corpus/$t")
  jobs=${LLMQ_FUZZ_JOBS:-1}
  if [[ -n ${LLMQ_FUZZ_RUNS:-} ]]; then
    bound=(-runs="$(((LLMQ_FUZZ_RUNS + jobs - 1) / jobs))")
    say "$t for $LLMQ_FUZZ_RUNS runs in $jobs process(es)"
  else
    bound=(-max_total_time="$SECONDS_EACH")
    say "$t for ${SECONDS_EACH}s in $jobs process(es)"
  fi
  args=("${bound[@]}" -max_len=65536 "$OUT/$t" "$LLMQ_ROOT/${CORPUS[$t]}" "${kept[@]}")
  if ((jobs > 1)); then
    # libFuzzer's own parallel mode: each job writes fuzz-N.log in the working directory
    rm -f "$OUT/$t"/fuzz-*.log
    (cd "$OUT/$t" && ASAN_OPTIONS=detect_leaks=0 "$bin" -jobs="$jobs" -workers="$jobs" "${args[@]}" \
      >/dev/null 2>&1 || true)
    tail -q -n 3 "$OUT/$t"/fuzz-*.log | tee "$OUT/$t.last"
    # one line for the target: the jobs' runs summed, the slowest job's seconds
    summary=$(grep -h '^Done' "$OUT/$t"/fuzz-*.log |
      awk '{runs += $2; if ($5 > s) s = $5; n++} END {if (n) printf "Done %d runs in %d second(s) (%d processes)", runs, s, n}')
    echo "$(date -u +%FT%TZ) $t ${summary:-no Done line}" >>"$OUT/runs.log"
  else
    (cd "$OUT/$t" && ASAN_OPTIONS=detect_leaks=0 "$bin" "${args[@]}" 2>&1 | tail -3) | tee "$OUT/$t.last"
    echo "$(date -u +%FT%TZ) $t $(grep '^Done' "$OUT/$t.last" || echo 'no Done line')" >>"$OUT/runs.log"
  fi
done
