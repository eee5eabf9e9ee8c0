"""The ingest node's producers: sync and streamed requests go through one that sends each
record at once while at most ingest.eager_inflight_max await their acknowledgement there (a
caller waits for the answer), else through one that lingers kafka.linger.ms (0.5 ms); async
submissions through one that lingers ingest.async_linger_ms (their caller waits for Kafka's
acknowledgement only, so their records are gathered longer). -1 puts async submissions on the
batched producer of sync requests.

  - a long async linger holds every 202 for at least the linger, and no sync answer;
  - -1: the 202 comes without that wait;
  - a lone sync request goes out eagerly, and none does with ingest.eager_inflight_max = 0;
  - either way every accepted job is processed and counted once."""
import time

import requests

from conftest import count_usage, metric, own_stack, poll, wait_job

LINGER_MS = 400
EAGER = "llmq_ingest_eager_produced_total"
ACKED = "llmq_ingest_enqueued_total"  # acknowledged by Kafka


def timed_post(stack, key, path, text, status):
    """POST a one-message request for model mock to path; (seconds until the answer, its JSON)."""
    t0 = time.monotonic()
    r = requests.post(f"{stack.url}{path}", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "mock", "max_tokens": 3, "messages": [{"role": "user", "content": text}]},
                      timeout=30)
    assert r.status_code == status, r.text
    return time.monotonic() - t0, r.json()


def submit(stack, key, text):
    """POST /v1/jobs; (seconds until the 202, the job's id)."""
    seconds, job = timed_post(stack, key, "/v1/jobs", text, 202)
    return seconds, job["id"]


def chat_seconds(stack, key, text):
    return timed_post(stack, key, "/v1/chat/completions", text, 200)[0]


def test_async_submissions_linger_on_their_own_producer(pg_url, brokers, log_dir, db):
    with own_stack(pg_url, brokers, log_dir, "asynclinger", {"ingest.async_linger_ms": LINGER_MS}) as (s, key):
        submits = [submit(s, key, f"held {i}") for i in range(3)]
        # a lower bound: the linger holds a lone record that long, however busy the machine
        assert min(t for t, _ in submits) >= 0.9 * LINGER_MS / 1000, submits
        # sync requests do not wait for it (the fastest of three, so a slow moment cannot fail it)
        assert min(chat_seconds(s, key, f"quick {i}") for i in range(3)) < 0.5 * LINGER_MS / 1000
        ids = [job_id for _, job_id in submits]
        for job_id in ids:
            assert wait_job(s.url, key, job_id)["status"] == "succeeded"
        assert poll(lambda: count_usage(db, ids), lambda n: n == len(ids), 30) == len(ids)


def test_off_shares_the_producer_of_sync_requests(pg_url, brokers, log_dir, db):
    with own_stack(pg_url, brokers, log_dir, "asyncshared", {"ingest.async_linger_ms": -1}) as (s, key):
        submits = [submit(s, key, f"shared {i}") for i in range(3)]
        assert min(t for t, _ in submits) < 0.5 * LINGER_MS / 1000, submits
        ids = [job_id for _, job_id in submits]
        for job_id in ids:
            assert wait_job(s.url, key, job_id)["status"] == "succeeded"
        assert poll(lambda: count_usage(db, ids), lambda n: n == len(ids), 30) == len(ids)


def test_a_lone_sync_request_goes_out_eagerly(pg_url, brokers, log_dir, db):
    """One request at a time finds nothing awaiting acknowledgement on the eager producer, so
    each is sent at once; with ingest.eager_inflight_max = 0 none is. Either way every request
    is answered and counted once."""
    for name, settings, expect_eager in (("eager", {}, True),
                                         ("noeager", {"ingest.eager_inflight_max": 0}, False)):
        with own_stack(pg_url, brokers, log_dir, name, settings) as (s, key):
            eager0 = metric(s.url, EAGER, 0.0)
            acked0 = metric(s.url, ACKED, 0.0)
            for i in range(5):
                chat_seconds(s, key, f"one at a time {i}")
                # the next one comes after this one's acknowledgement was counted, so nothing
                # awaits one on the eager producer
                poll(lambda: metric(s.url, ACKED, 0.0), lambda n, i=i: n > acked0 + i, 10)
            _, job_id = submit(s, key, "async goes to its own producer")
            assert wait_job(s.url, key, job_id)["status"] == "succeeded"
            assert metric(s.url, EAGER, 0.0) - eager0 == (5 if expect_eager else 0), name
            assert metric(s.url, ACKED, 0.0) - acked0 == 6, name  # each stored once
            assert poll(lambda: count_usage(db, [job_id]), lambda n: n == 1, 30) == 1
