"""A chaos loop: under mixed load (async jobs, sync and streamed chat completions,
conversation turns, a batch), a random daemon (the ingest node, one of two workers, the sink)
is SIGKILLed every few seconds and started again, for LLMQ_CHAOS_SECONDS (default 120). Then
the accounting: every request that was accepted (a 202, a 200, a whole stream, an answered
turn, the batch's lines) reaches its final state, has exactly one usage row, and no job is
counted twice; each answered turn's reply is stored once."""
import json
import os
import random
import threading
import time
import uuid

import requests

from conftest import BUILD, Stack, create_tenant, poll, run, wait_http

SECONDS = int(os.environ.get("LLMQ_CHAOS_SECONDS", "120"))


class Load:
    """Clients that keep sending until stopped, and what was accepted."""

    def __init__(self, stack, key):
        self.stack, self.key, self.stop = stack, key, threading.Event()
        self.accepted = {"async": [], "sync": [], "stream": [], "turn": []}
        self.refused = 0
        self.lock = threading.Lock()

    def keep(self, kind, job_id):
        with self.lock:
            self.accepted[kind].append(job_id)

    def headers(self):
        return {"Authorization": f"Bearer {self.key}"}

    def loop(self, send):
        with requests.Session() as s:
            while not self.stop.is_set():
                try:
                    send(s)
                except (requests.RequestException, ValueError):
                    with self.lock:
                        self.refused += 1  # no answer: not accepted
                time.sleep(0.01)

    def async_job(self, s):
        r = s.post(f"{self.stack.url}/v1/jobs", headers=self.headers(), timeout=30,
                   json={"model": "mock", "messages": [{"role": "user", "content": "chaos async"}]})
        if r.status_code == 202:
            self.keep("async", r.json()["id"])

    def sync_chat(self, s):
        r = s.post(f"{self.stack.url}/v1/chat/completions", headers=self.headers(), timeout=30,
                   json={"model": "mock", "messages": [{"role": "user", "content": "chaos sync"}]})
        if r.status_code == 200:
            self.keep("sync", r.headers["x-llmq-job-id"])

    def stream_chat(self, s):
        r = s.post(f"{self.stack.url}/v1/chat/completions", headers=self.headers(), timeout=30, stream=True,
                   json={"model": "mock", "stream": True,
                         "messages": [{"role": "user", "content": "chaos stream"}]})
        if r.status_code != 200:
            return
        job, done = r.headers["x-llmq-job-id"], False
        for line in r.iter_lines():
            if line == b"data: [DONE]":
                done = True
            elif line.startswith(b"data: ") and b'"error"' in line:
                return
        if done:
            self.keep("stream", job)

    def turns(self, conversation):
        def send(s):
            r = s.post(f"{self.stack.url}/v1/conversations/{conversation}/messages", headers=self.headers(),
                       timeout=30, json={"content": "chaos turn"})
            if r.status_code == 200:
                self.keep("turn", r.headers["x-llmq-job-id"])
        return send


def test_chaos_loop(pg_url, brokers, log_dir, db):
    prefix = "chaos" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "4",
         "--prefix", prefix])
    stack = Stack(pg_url, brokers, log_dir, prefix=prefix, workers=2,
                  worker_settings={"mock.latency_ms": 50},
                  ingest_settings={"batches.poll_ms": 200, "batches.lines_per_step": 20})
    stack.start()
    try:
        _, key = create_tenant(pg_url)
        load = Load(stack, key)
        conv = requests.post(f"{stack.url}/v1/conversations", headers=load.headers(), timeout=10,
                             json={"model": "mock"}).json()["id"]
        lines = "".join(json.dumps({"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
                                    "body": {"model": "mock", "messages": [{"role": "user", "content": f"b{i}"}]}})
                        + "\n" for i in range(300))
        f = requests.post(f"{stack.url}/v1/files", headers=load.headers(), timeout=30,
                          files={"file": ("chaos.jsonl", lines.encode())}, data={"purpose": "batch"}).json()
        batch = requests.post(f"{stack.url}/v1/batches", headers=load.headers(), timeout=30,
                              json={"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                                    "completion_window": "24h"}).json()["id"]
        senders = [load.async_job, load.async_job, load.sync_chat, load.stream_chat, load.turns(conv)]
        threads = [threading.Thread(target=load.loop, args=(s,)) for s in senders]
        for t in threads:
            t.start()
        rng, kills, end = random.Random(7), [], time.time() + SECONDS
        daemons = [stack.ingest, stack.workers[0], stack.workers[1], stack.sink]
        while time.time() < end:
            time.sleep(rng.uniform(2, 5))
            d = rng.choice(daemons)
            d.kill()
            kills.append(d.name)
            time.sleep(rng.uniform(0.2, 1.5))
            d.start()
            if d is stack.ingest:
                try:
                    wait_http(f"{stack.url}/readyz", 60, stack.ingest)
                except AssertionError as e:
                    raise AssertionError(f"exit status {stack.ingest.proc.returncode} after kills {kills}: {e}")
        time.sleep(3)
        load.stop.set()
        for t in threads:
            t.join()
        check_accounting(db, load, kills)
        check_turns(db, conv, load.accepted["turn"])
        check_batch(db, load, batch)
    finally:
        stack.stop()


def check_accounting(db, load, kills):
    ids = [j for kind in ("async", "sync", "stream", "turn") for j in load.accepted[kind]]
    counts = {k: len(v) for k, v in load.accepted.items()}
    assert len(kills) >= SECONDS // 6 and all(counts[k] > 0 for k in counts), (kills, counts)
    assert len(set(ids)) == len(ids)

    def state():
        final = db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND status_rank >= 2",
                           (ids,)).fetchone()[0]
        usage, distinct = db.execute("SELECT count(*), count(DISTINCT job_id) FROM usage_events"
                                     " WHERE job_id = ANY(%s::uuid[])", (ids,)).fetchone()
        return final, usage, distinct

    final, usage, distinct = poll(state, lambda v: v == (len(ids), len(ids), len(ids)), 180, 1.0)
    print(f"{len(kills)} kills ({', '.join(kills)}); accepted {counts}, {load.refused} without an answer; "
          f"final {final}, usage rows {usage}")
    assert (final, usage, distinct) == (len(ids), len(ids), len(ids)), (counts, final, usage, distinct)
    failed = db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND status <> 'succeeded'",
                        (ids,)).fetchone()[0]
    assert failed == 0, f"{failed} accepted jobs did not succeed"


def check_turns(db, conv, answered):
    """Each answered turn's reply is stored once; no turn is left pending."""
    rows = db.execute("SELECT job_id::text, count(*) FILTER (WHERE role = 'assistant'),"
                      " count(*) FILTER (WHERE state = 'pending')"
                      " FROM conversation_messages WHERE conversation_id = %s GROUP BY 1", (conv,)).fetchall()
    replies = {r[0]: r[1] for r in rows}
    assert all(replies.get(j) == 1 for j in answered), [j for j in answered if replies.get(j) != 1][:5]
    assert all(r[1] <= 1 for r in rows)
    assert poll(lambda: db.execute("SELECT count(*) FROM conversation_messages WHERE conversation_id = %s"
                                   " AND state = 'pending'", (conv,)).fetchone()[0], lambda n: n == 0, 60) == 0


def check_batch(db, load, batch):
    b = poll(lambda: requests.get(f"{load.stack.url}/v1/batches/{batch}", headers=load.headers(), timeout=10).json(),
             lambda b: b.get("status") in ("completed", "failed", "expired", "cancelled"), 240, 1.0)
    assert b["status"] == "completed" and b["request_counts"] == {"total": 300, "completed": 300, "failed": 0}, b
    rows, distinct = db.execute("SELECT count(*), count(DISTINCT job_id) FROM usage_events WHERE batch_id = %s",
                                (batch,)).fetchone()
    assert rows == distinct == 300
