#!/usr/bin/env bash
# Start llmq on its embedded defaults: a private PostgreSQL, an in-memory Kafka cluster,
# the ingest node, a worker (mock provider unless a provider key is set) and a sink.
# State lives in .llmq/ of the checkout. Running it again is safe. Stop with ops/down.sh.
#
# Environment:
#   LLMQ_PORT          API port (default 8080)
#   LLMQ_PG_PORT       private PostgreSQL port (default 55432)
#   LLMQ_STATE         state folder (default <checkout>/.llmq)
#   OPENAI_API_KEY     when set, models other than "mock" go to OpenAI
#   OPENAI_BASE_URL    an OpenAI-compatible server instead (default https://api.openai.com/v1)
#   ANTHROPIC_API_KEY, GEMINI_API_KEY, OPENROUTER_API_KEY, PERPLEXITY_API_KEY
#                      when set, claude-*, gemini-*, vendor/model and sonar* models go there
#   LLMQ_ROUTING_FILE  a routing table (docs/routing.md) instead of the above
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE=${LLMQ_STATE:-$LLMQ_ROOT/.llmq}
PORT=${LLMQ_PORT:-8080}
PG_PORT=${LLMQ_PG_PORT:-55432}
mkdir -p "$STATE/logs" "$STATE/run"

llmq_install_packages "${LLMQ_BUILD_PACKAGES[@]}"
say "building"
llmq_build

say "starting PostgreSQL"
PG_URL=$(llmq_pg_start "$(llmq_pg_dir "$STATE")" "$PG_PORT")

say "starting the embedded Kafka"
if ! { [[ -f $STATE/run/kafka.pid ]] && kill -0 "$(cat "$STATE/run/kafka.pid")" 2>/dev/null; }; then
  rm -f "$STATE/run/kafka.bootstrap"
  llmq_daemon_start kafka "$STATE/run/kafka.pid" "$STATE/logs/kafka.log" \
    "$LLMQ_BUILD/llmq-kafka-embedded" --partitions 8 --bootstrap-file "$STATE/run/kafka.bootstrap"
  for _ in $(seq 1 50); do [[ -s $STATE/run/kafka.bootstrap ]] && break; sleep 0.1; done
  # The embedded cluster keeps data in memory only: the daemons must restart with it.
  for d in ingest worker sink; do llmq_daemon_stop "$STATE/run/$d.pid"; done
fi
BROKERS=$(cat "$STATE/run/kafka.bootstrap")

export LLMQ_PG_URL=$PG_URL LLMQ_KAFKA_BROKERS=$BROKERS
llmq_embedded_kafka_env
"$LLMQ_BUILD/llmqctl" migrate >/dev/null
"$LLMQ_BUILD/llmqctl" tenant create demo --name "Demo tenant" >/dev/null

KEY=""
if [[ -f $STATE/env ]]; then
  KEY=$(sed -n 's/^LLMQ_API_KEY=//p' "$STATE/env")
  if [[ -n $KEY ]] && ! psql "$PG_URL" -tAc "SELECT 1 FROM api_keys WHERE key_sha256 = encode(sha256('$KEY'::bytea), 'hex') AND revoked_at IS NULL" | grep -q 1; then
    KEY=""
  fi
fi
if [[ -z $KEY ]]; then
  # an admin of the demo tenant: it sends requests and sees every page of the console
  KEY=$("$LLMQ_BUILD/llmqctl" key create --tenant demo --name demo --role admin 2>/dev/null)
fi

WORKER_ARGS=()
if [[ -n ${OPENAI_API_KEY:-} ]]; then
  export LLMQ_OPENAI_API_KEY=$OPENAI_API_KEY
  [[ -n ${OPENAI_BASE_URL:-} ]] && export LLMQ_OPENAI_BASE_URL=$OPENAI_BASE_URL
fi
[[ -n ${ANTHROPIC_API_KEY:-} ]] && export LLMQ_ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY
[[ -n ${GEMINI_API_KEY:-} ]] && export LLMQ_GEMINI_API_KEY=$GEMINI_API_KEY
[[ -n ${OPENROUTER_API_KEY:-} ]] && export LLMQ_OPENROUTER_API_KEY=$OPENROUTER_API_KEY
[[ -n ${PERPLEXITY_API_KEY:-} ]] && export LLMQ_PERPLEXITY_API_KEY=$PERPLEXITY_API_KEY

say "starting the daemons"
llmq_daemon_start sink "$STATE/run/sink.pid" "$STATE/logs/sink.log" \
  "$LLMQ_BUILD/llmq-sink" --set admin.port=$((PORT + 2))
llmq_daemon_start worker "$STATE/run/worker.pid" "$STATE/logs/worker.log" \
  "$LLMQ_BUILD/llmq-worker" --set admin.port=$((PORT + 1)) "${WORKER_ARGS[@]}"
llmq_daemon_start ingest "$STATE/run/ingest.pid" "$STATE/logs/ingest.log" \
  "$LLMQ_BUILD/llmq-ingest" --set http.port="$PORT"
llmq_wait_http "http://127.0.0.1:$PORT/readyz" 60 || { tail -20 "$STATE/logs/ingest.log" >&2; die "the ingest node is not ready"; }
llmq_wait_http "http://127.0.0.1:$((PORT + 1))/readyz" 60 || { tail -20 "$STATE/logs/worker.log" >&2; die "the worker did not join its group"; }

cat >"$STATE/env" <<ENV
LLMQ_URL=http://127.0.0.1:$PORT
LLMQ_API_KEY=$KEY
LLMQ_PG_URL=$PG_URL
LLMQ_KAFKA_BROKERS=$BROKERS
ENV

cat <<MSG

llmq is running: API http://127.0.0.1:$PORT, logs in $STATE/logs, settings in $STATE/env.

Send a first request:

  curl -s http://127.0.0.1:$PORT/v1/chat/completions \\
    -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \\
    -d '{"model": "mock", "messages": [{"role": "user", "content": "Hello, llmq!"}]}'

Or queue a job and poll it:

  curl -s http://127.0.0.1:$PORT/v1/jobs -H "Authorization: Bearer $KEY" \\
    -H "Content-Type: application/json" -d '{"model": "mock", "messages": [{"role": "user", "content": "Hi"}]}'
  curl -s http://127.0.0.1:$PORT/v1/jobs/<id> -H "Authorization: Bearer $KEY"

See them in the console: open http://127.0.0.1:$PORT/console/ and sign in with the key
above (it stays in that browser tab only).

Stop everything with ops/down.sh.
MSG
