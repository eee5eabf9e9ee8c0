"""Many calls in flight to one provider host: over HTTP/1.1 each holds a connection, and the
worker opens as many as its calls need (worker.max_inflight bounds them), unless
provider.max_host_connections bounds them lower; the calls past that bound wait inside the
worker, and every job still ends."""
import time

import requests

from conftest import create_tenant, metric, openai_stack, poll, wait_job
from fake_providers import OpenAIServer


def submit(stack, key, n, tag):
    ids = []
    with requests.Session() as http:
        for i in range(n):
            r = http.post(f"{stack.url}/v1/jobs", headers={"Authorization": f"Bearer {key}"},
                          json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"{tag} {i}"}]},
                          timeout=30)
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
    return ids


def run(pg_url, brokers, log_dir, name, jobs, delay, worker_settings, db=None):
    """Submit jobs async jobs to a fake provider answering after delay seconds; once all are
    answered, the most calls it held at once, the jobs' final states, and (with db) their
    provider spans from the traces table."""
    with OpenAIServer() as fake:
        fake.delay_first_token = delay
        stack = openai_stack(pg_url, brokers, log_dir, fake, name, worker_settings=worker_settings)
        try:
            # spread over tenants: each tenant's share of the fair queue is bounded too
            keys = [create_tenant(pg_url)[1] for _ in range(4)]
            submitted = [(key, submit(stack, key, jobs // len(keys), f"{name}{k}"))
                         for k, key in enumerate(keys)]
            poll(lambda: fake.completed, lambda n: n >= jobs, 120)
            final = [wait_job(stack.url, key, i) for key, ids in submitted for i in ids]
            spans = []
            if db is not None:
                ids = [j["id"] for j in final]
                rows = poll(lambda: db.execute("SELECT spans FROM traces WHERE job_id = ANY(%s::uuid[])",
                                               (ids,)).fetchall(), lambda r: len(r) == len(ids), 30)
                spans = [s for (row,) in rows for s in row if s["name"] == "provider"]
            admin = f"http://127.0.0.1:{stack.workers[0].settings['admin.port']}"
            waiting = metric(admin, "llmq_worker_provider_calls_waiting", 0)
            return fake.peak_in_flight, final, spans, waiting
        finally:
            stack.stop()


def test_hundreds_of_calls_at_once_to_one_host(pg_url, brokers, log_dir):
    # 400 calls of 4 s, submitted in about a second: nearly all of them in flight together,
    # beyond the 256 connections a host had before
    start = time.time()
    peak, final, _, _ = run(pg_url, brokers, log_dir, "many", 400, 4.0, {"worker.max_inflight": 1024})
    assert peak >= 350, peak
    assert time.time() - start < 90
    assert [j["status"] for j in final] == ["succeeded"] * 400


def test_max_host_connections_bounds_them(pg_url, brokers, log_dir):
    peak, final, _, waiting = run(pg_url, brokers, log_dir, "bounded", 120, 0.5,
                                  {"worker.max_inflight": 1024, "provider.max_host_connections": 20})
    assert peak <= 20, peak
    assert [j["status"] for j in final] == ["succeeded"] * 120
    assert waiting == 0


def test_a_call_waiting_for_a_connection_is_not_timed_out(pg_url, brokers, log_dir, db):
    # 32 calls of 1 s through 4 connections: the last wait about 7 s for theirs, far past the
    # connect timeout (1 s) and the first-byte timeout (3 s). Those timeouts count from when a
    # call is sent; while libcurl held the waiting calls, its connect timeout counted the wait,
    # the calls failed as if the provider had not answered, and the breaker opened.
    peak, final, spans, waiting = run(
        pg_url, brokers, log_dir, "conwait", 32, 1.0,
        {"worker.max_inflight": 1024, "provider.max_host_connections": 4,
         "provider.connect_timeout_ms": 1000, "provider.first_byte_timeout_ms": 3000}, db=db)
    assert peak <= 4, peak
    assert [(j["status"], j.get("error")) for j in final] == [("succeeded", None)] * 32
    assert waiting == 0
    # one attempt each, and the wait is on the trace
    assert sorted(int(s["attrs"]["attempts"]) for s in spans) == [1] * 32
    waits = sorted(int(s["attrs"].get("host_wait_ms", 0)) for s in spans)
    assert waits[-1] >= 5000, waits
