#!/usr/bin/env python3
"""A batch's throughput and its effect on interactive traffic (ops/bench.sh), against a running
llmq (mock provider):
  1. baseline: N sequential sync chat completions on one keep-alive connection;
  2. a batch of LINES lines (uploaded with POST /v1/files, created with POST /v1/batches);
     while it runs, the same N sync requests again;
  3. the batch's end: lines per second from creation to completed, the upload's MB/s, and the
     time the runner and finalization took.
Prints one JSON object: batch_lines, batch_lines_per_s, batch_seconds, upload_mb_per_s,
interactive_p50_ms / interactive_p99_ms without and with the batch running, and their ratio.

usage: batch_bench.py PORT KEY [LINES] [N]
"""
import http.client
import json
import sys
import time
import uuid


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


class Client:
    def __init__(self, port, key):
        self.port, self.key = port, key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method, path, body=None, headers=None):
        h = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        self.conn.request(method, path, body, h)
        r = self.conn.getresponse()
        payload = r.read()
        if r.status != 200:
            raise SystemExit(f"{method} {path}: {r.status} {payload[:300]!r}")
        return json.loads(payload) if payload[:1] in (b"{", b"[") else payload


def sync_latencies(client, n, tag):
    out = []
    for i in range(n):
        t = time.perf_counter()
        client.call("POST", "/v1/chat/completions",
                    {"model": "mock", "messages": [{"role": "user", "content": f"{tag} {i}"}]})
        out.append((time.perf_counter() - t) * 1000.0)
    return out


def batch_file(lines):
    rows = []
    for i in range(lines):
        rows.append(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                                "body": {"model": "mock", "max_tokens": 16,
                                         "messages": [{"role": "user", "content": f"Summarize item {i}."}]}}))
    return ("\n".join(rows) + "\n").encode()


def multipart(data):
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.jsonl\"\r\n"
            "Content-Type: application/jsonl\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def main():
    port, key = int(sys.argv[1]), sys.argv[2]
    lines = int(sys.argv[3]) if len(sys.argv) > 3 else 50000
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 500
    client, poller = Client(port, key), Client(port, key)
    base = sync_latencies(client, n, "before")

    body, ctype = multipart(batch_file(lines))
    t = time.perf_counter()
    f = client.call("POST", "/v1/files", body, {"Content-Type": ctype})
    upload_s = time.perf_counter() - t
    t0 = time.perf_counter()
    b = client.call("POST", "/v1/batches", {"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                                            "completion_window": "24h"})
    during = []
    while True:
        b = poller.call("GET", f"/v1/batches/{b['id']}")
        if b["status"] in ("completed", "failed", "expired", "cancelled"):
            break
        if b["status"] == "in_progress" and b["request_counts"]["completed"] < lines * 0.9:
            during += sync_latencies(client, 20, "during")
        else:
            time.sleep(0.2)
    took = time.perf_counter() - t0
    counts = b["request_counts"]
    out = {"batch_lines": lines, "batch_status": b["status"], "batch_completed": counts["completed"],
           "batch_failed": counts["failed"], "batch_seconds": round(took, 2),
           "batch_lines_per_s": round(lines / took), "upload_mb_per_s": round(len(body) / upload_s / 1e6, 1),
           # where the time went (whole seconds: the Batch object's timestamps)
           "batch_running_s": (b.get("finalizing_at") or 0) - (b.get("in_progress_at") or 0),
           "batch_finalizing_s": (b.get("completed_at") or 0) - (b.get("finalizing_at") or 0),
           "interactive_requests": n, "interactive_p50_ms": round(pct(base, 50), 2),
           "interactive_p99_ms": round(pct(base, 99), 2), "interactive_during_batch_requests": len(during)}
    if during:
        out["interactive_during_batch_p50_ms"] = round(pct(during, 50), 2)
        out["interactive_during_batch_p99_ms"] = round(pct(during, 99), 2)
        out["interactive_p99_ratio"] = round(pct(during, 99) / pct(base, 99), 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
