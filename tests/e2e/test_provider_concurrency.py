"""Many calls in flight to one provider host: over HTTP/1.1 each holds a connection, and the
worker opens as many as its calls need (worker.max_inflight bounds them), unless
provider.max_host_connections bounds them lower; the calls past that bound wait inside the
worker, and every job still ends."""
import time

import requests

from conftest import create_tenant, openai_stack, poll
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


def run(pg_url, brokers, log_dir, name, jobs, delay, worker_settings):
    """Submit jobs async jobs to a fake provider answering after delay seconds; the most calls
    it held at once, once all are answered."""
    with OpenAIServer() as fake:
        fake.delay_first_token = delay
        stack = openai_stack(pg_url, brokers, log_dir, fake, name, worker_settings=worker_settings)
        try:
            # spread over tenants: each tenant's share of the fair queue is bounded too
            keys = [create_tenant(pg_url)[1] for _ in range(4)]
            for k, key in enumerate(keys):
                submit(stack, key, jobs // len(keys), f"{name}{k}")
            poll(lambda: fake.completed, lambda n: n >= jobs, 120)
            return fake.peak_in_flight
        finally:
            stack.stop()


def test_hundreds_of_calls_at_once_to_one_host(pg_url, brokers, log_dir):
    # 400 calls of 4 s, submitted in about a second: nearly all of them in flight together,
    # beyond the 256 connections a host had before
    start = time.time()
    peak = run(pg_url, brokers, log_dir, "many", 400, 4.0, {"worker.max_inflight": 1024})
    assert peak >= 350, peak
    assert time.time() - start < 90


def test_max_host_connections_bounds_them(pg_url, brokers, log_dir):
    peak = run(pg_url, brokers, log_dir, "bounded", 120, 0.5,
               {"worker.max_inflight": 1024, "provider.max_host_connections": 20})
    assert peak <= 20, peak
