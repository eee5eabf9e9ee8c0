#!/usr/bin/env bash
# Code checks that need no build: the C sources are formatted as .clang-format says, and no
# production function is longer than 80 lines (tests and fuzz targets excepted), and the Python
# (tests, benchmarks, ops scripts) has no unused imports, undefined names or other faults pyflakes
# finds.
#   ops/check-code.sh            check (exit 1 and name the files/functions when not)
#   ops/check-code.sh --fix      reformat the sources in place
# Needs clang-format (Debian's package), lizard and pyflakes (PyPI; the test venv has both:
# LIZARD=path PYFLAKES=path).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LIZARD=${LIZARD:-lizard}
PYFLAKES=${PYFLAKES:-pyflakes}
PRODUCTION=(common ingest workers sinks schemas ops/llmqctl ops/kafka_embedded)
MAX_LINES=80

mapfile -t sources < <(git ls-files '*.c' '*.h')
if [[ ${1:-} == --fix ]]; then
  clang-format -i "${sources[@]}"
  exit 0
fi

rc=0
if ! clang-format --dry-run --Werror "${sources[@]}" 2>/tmp/llmq-format.$$; then
  echo "check-code: not formatted as .clang-format says (run ops/check-code.sh --fix):"
  grep -o '^[^:]*\.[ch]' /tmp/llmq-format.$$ | sort -u | sed 's/^/  /'
  rc=1
fi
rm -f /tmp/llmq-format.$$

# lizard's CSV: NLOC, CCN, tokens, params, length, location, file, function, ...
report=$("$LIZARD" -l c --csv "${PRODUCTION[@]}")
long=$(awk -F, -v max=$MAX_LINES '$5 > max {gsub(/"/, "", $7); gsub(/"/, "", $8); print "  " $7 ": " $8 " (" $5 " lines)"}' <<<"$report")
if [[ -n $long ]]; then
  echo "check-code: functions over $MAX_LINES lines (split them into named steps):"
  echo "$long"
  rc=1
fi
mapfile -t python < <(git ls-files '*.py')
if ! "$PYFLAKES" "${python[@]}"; then
  echo "check-code: pyflakes found the faults above in the Python"
  rc=1
fi
awk -F, '{print $5}' <<<"$report" | sort -n | awk '{a[NR] = $1} END {
  printf "check-code: %d functions, median length %d lines, longest %d\n", NR, a[int((NR + 1) / 2)], a[NR] }'
exit $rc
