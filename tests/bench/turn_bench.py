#!/usr/bin/env python3
"""A conversation turn's added cost (ops/bench.sh): one client, keep-alive, sequential requests
against a running llmq (mock provider). It measures, N times each:
  plain    POST /v1/chat/completions with one user message;
  resent   the same with a 50-turn history (101 messages) in the body, as a client without
           server-side conversations sends it;
  turn     POST /v1/conversations/{id}/messages with one message, the conversation holding the
           same 50 turns (each turn adds two more: the window is its last 100 messages).
Prints one JSON object: p50/p99 in ms of each, and turn - plain, turn - resent.

usage: turn_bench.py PORT KEY [N]
"""
import http.client
import json
import statistics
import sys
import time


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def main():
    port, key = int(sys.argv[1]), sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def post(path, body):
        data = json.dumps(body)
        t = time.perf_counter()
        conn.request("POST", path, data, headers)
        r = conn.getresponse()
        payload = r.read()
        elapsed = (time.perf_counter() - t) * 1000.0
        if r.status != 200:
            raise SystemExit(f"{path}: {r.status} {payload[:300]!r}")
        return elapsed, json.loads(payload)

    history = []
    for i in range(50):
        history.append({"role": "user", "content": f"Question {i}: how do durable queues help? " * 3})
        history.append({"role": "assistant", "content": f"Answer {i}: they keep every request. " * 4})
    _, conv = post("/v1/conversations", {"model": "mock", "system_prompt": "You are terse.",
                                         "window": {"last_n": 100}})
    path = f"/v1/conversations/{conv['id']}/messages"
    for m in range(0, len(history), 2):  # the same 50 turns, stored by llmq
        post(path, {"content": history[m]["content"]})
    ask = {"role": "user", "content": "And what does that cost?"}
    results = {"plain": [], "resent": [], "turn": []}
    for _ in range(n):
        results["plain"].append(post("/v1/chat/completions", {"model": "mock", "messages": [ask]})[0])
        results["resent"].append(post("/v1/chat/completions",
                                      {"model": "mock", "messages": [{"role": "system", "content": "You are terse."}]
                                       + history + [ask]})[0])
        results["turn"].append(post(path, {"content": ask["content"]})[0])
    out = {"turn_requests": n}
    for k, v in results.items():
        out[f"{k}_p50_ms"] = round(statistics.median(v), 3)
        out[f"{k}_p99_ms"] = round(pct(v, 99), 3)
    out["turn_added_p50_ms"] = round(out["turn_p50_ms"] - out["plain_p50_ms"], 3)
    out["turn_added_p99_ms"] = round(out["turn_p99_ms"] - out["plain_p99_ms"], 3)
    out["turn_vs_resent_p50_ms"] = round(out["turn_p50_ms"] - out["resent_p50_ms"], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
