#!/usr/bin/env bash
# Install what is missing, build, and run every test:
#   1. unit tests (no services), in a warnings-as-errors build
#   2. the same unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. libFuzzer on the request parser and the prompt scanner, a bounded time each
#   4. code checks: formatting (.clang-format) and no production function over 80 lines
#      (ops/check-code.sh)
#   5. end-to-end tests against a real Apache Kafka broker and a real PostgreSQL, with
#      real clients (the official OpenAI SDK, fastavro, confluent-kafka, and the web console
#      in headless Chromium driven by Playwright), fault runs included (docs/reliability.md)
#   6. a short soak: ops/soak.sh for LLMQ_TEST_SOAK (3m; 0 skips it)
#
# Environment:
#   LLMQ_TEST_SKIP_ASAN=1   skip step 2
#   LLMQ_TEST_FUZZ_SECONDS  seconds per fuzz target in step 3 (default 15; 0 skips it)
#   LLMQ_TEST_E2E_ARGS      extra pytest arguments (e.g. "-k sdk")
#   LLMQ_TEST_SOAK          duration of step 6 (default 3m; 0 skips it)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE=${LLMQ_STATE:-$LLMQ_ROOT/.llmq}
mkdir -p "$STATE"
llmq_install_packages "${LLMQ_BUILD_PACKAGES[@]}" default-jre-headless maven python3-pip clang-format \
  chromium faketime prometheus
start=$(date +%s)

say "building (warnings are errors)"
LLMQ_BUILD=$LLMQ_ROOT/build-ci llmq_build RelWithDebInfo -DLLMQ_WERROR=ON
say "tools of the Kubernetes manifests check (fetched once into .llmq/k8s-check)"
"$LLMQ_ROOT/tests/ops/check_k8s.sh" --fetch "$LLMQ_ROOT"
say "unit tests"
(cd "$LLMQ_ROOT/build-ci" && ctest -L unit --output-on-failure --timeout 120)

if [[ ${LLMQ_TEST_SKIP_ASAN:-0} != 1 ]]; then
  say "unit tests under ASan/UBSan"
  LLMQ_BUILD=$LLMQ_ROOT/build-asan llmq_build Debug -DLLMQ_SANITIZE=ON -DLLMQ_WERROR=ON
  (cd "$LLMQ_ROOT/build-asan" && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$LLMQ_ROOT/tests/lsan.supp \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest -L unit --output-on-failure --timeout 300)
fi

FUZZ_SECONDS=${LLMQ_TEST_FUZZ_SECONDS:-15}
if ((FUZZ_SECONDS > 0)); then
  say "fuzzing the request parser and the prompt scanner (${FUZZ_SECONDS}s each)"
  "$LLMQ_ROOT/ops/fuzz.sh" "$FUZZ_SECONDS" fuzz_request_parse fuzz_secret_scan
fi

say "test clients"
if [[ ! -x $STATE/venv/bin/pytest ]] || ! cmp -s "$LLMQ_ROOT/tests/e2e/requirements.txt" "$STATE/venv/requirements.txt"; then
  python3 -m venv "$STATE/venv"
  "$STATE/venv/bin/pip" install -q --disable-pip-version-check -r "$LLMQ_ROOT/tests/e2e/requirements.txt"
  cp "$LLMQ_ROOT/tests/e2e/requirements.txt" "$STATE/venv/requirements.txt"
fi
say "code checks"
LIZARD=$STATE/venv/bin/lizard PYFLAKES=$STATE/venv/bin/pyflakes "$LLMQ_ROOT/ops/check-code.sh"
say "Apache Kafka broker jars"
"$LLMQ_ROOT/ops/kafka.sh" fetch

say "end-to-end tests"
test_dir=$(mktemp -d /tmp/llmq-test.XXXXXX)
chmod 755 "$test_dir"
trap 'rm -rf "$test_dir"' EXIT
# shellcheck disable=SC2086
(cd "$LLMQ_ROOT/tests/e2e" && LLMQ_BUILD=$LLMQ_ROOT/build-ci LLMQ_TEST_DIR=$test_dir \
  LLMQ_TEST_ARTIFACTS=${LLMQ_TEST_ARTIFACTS:-$STATE/test-artifacts} \
  "$STATE/venv/bin/pytest" -q -p no:cacheprovider ${LLMQ_TEST_E2E_ARGS:-}) || {
  say "end-to-end tests failed; daemon logs:"
  for f in "$test_dir"/logs/*.log; do echo "==== $f"; tail -30 "$f"; done
  exit 1
}
SOAK=${LLMQ_TEST_SOAK:-3m}
if [[ $SOAK != 0 ]]; then
  say "soak ($SOAK of mixed load: memory, descriptors, lag, accounting)"
  LLMQ_BUILD=$LLMQ_ROOT/build-ci "$LLMQ_ROOT/ops/soak.sh" "$SOAK"
fi
say "all tests passed in $(($(date +%s) - start)) s"
