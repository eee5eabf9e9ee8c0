#!/usr/bin/env bash
# Stop what ops/up.sh started (the data in .llmq/pg stays; the embedded Kafka's is gone).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STATE=${LLMQ_STATE:-$LLMQ_ROOT/.llmq}
for d in ingest worker sink kafka; do
  llmq_daemon_stop "$STATE/run/$d.pid"
done
llmq_pg_stop "$(llmq_pg_dir "$STATE")"
say "stopped"
