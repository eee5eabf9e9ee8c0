"""The Kafka broker restarted under async and sync load (docs/reliability.md): while it is
down a request is answered 503 with Retry-After, never 202; once it is back the nodes go on
by themselves, and every request that was accepted ends once, counted once."""
import os
import threading
import time
import uuid

import requests

from conftest import BUILD, ROOT, Stack, create_tenant, poll, run


def kafka(action, kdir):
    out = run([os.path.join(ROOT, "ops", "kafka.sh"), action, kdir], timeout=600).stdout
    lines = out.strip().splitlines()
    return lines[-1] if lines else None


def test_broker_restarted_under_load_loses_nothing(pg_url, log_dir, state_dir, db):
    kdir = os.path.join(state_dir, "kafka-restart")
    brokers = kafka("start", kdir)
    prefix = "brk" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "2",
         "--prefix", prefix])
    stack = Stack(pg_url, brokers, log_dir, prefix=prefix, ingest_settings={"ingest.enqueue_timeout_ms": 3000},
                  worker_settings={"mock.latency_ms": 20}).start()
    try:
        _, key = create_tenant(pg_url)
        auth = {"Authorization": f"Bearer {key}"}
        body = {"model": "mock", "messages": [{"role": "user", "content": "through a restart"}]}
        results, stop, down = [], threading.Event(), threading.Event()

        def load(path):
            with requests.Session() as s:
                while not stop.is_set():
                    try:
                        r = s.post(f"{stack.url}{path}", headers=auth, json=body, timeout=90)
                        results.append((path, down.is_set(), r.status_code, r.headers.get("Retry-After"),
                                        r.headers.get("x-llmq-job-id"), r.json()))
                    except requests.RequestException as e:  # a connection cut is no answer
                        results.append((path, down.is_set(), None, None, None, str(e)))
                    time.sleep(0.02)

        threads = [threading.Thread(target=load, args=(p,)) for p in ("/v1/jobs", "/v1/jobs",
                                                                      "/v1/chat/completions")]
        for t in threads:
            t.start()
        time.sleep(4)
        down.set()
        kafka("stop", kdir)
        time.sleep(8)
        kafka("start", kdir)
        down.clear()
        back_at = time.time()
        # the nodes reconnect by themselves: async submits are accepted again
        ok_again = poll(lambda: [r for r in results if r[0] == "/v1/jobs" and r[2] == 202 and
                                 not r[1] and r[-1].get("created_at", 0) >= int(back_at)],
                        lambda rs: len(rs) >= 5, 90, interval=0.5)
        recovered = time.time() - back_at
        stop.set()
        for t in threads:
            t.join()
        assert len(ok_again) >= 5, "no request was accepted after the broker came back"
        statuses = {r[2] for r in results}
        assert statuses <= {200, 202, 503, 504, None}, statuses
        for path, _, status, retry_after, _, answer in results:
            if status == 503:
                assert retry_after, answer
        accepted = [r[-1]["id"] for r in results if r[0] == "/v1/jobs" and r[2] == 202]
        answered = [r[4] for r in results if r[0] == "/v1/chat/completions" and r[2] == 200]
        refused = sum(1 for r in results if r[2] == 503)
        ids = accepted + answered
        n = poll(lambda: db.execute("SELECT count(*) FROM usage_events WHERE job_id = ANY(%s::uuid[])",
                                    (ids,)).fetchone()[0], lambda v: v == len(ids), 60, interval=0.5)
        # results and usage come on different topics: the jobs' rows may follow a moment later
        finals = poll(lambda: db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[])"
                                         " AND status = 'succeeded'", (ids,)).fetchone()[0],
                      lambda v: v == len(ids), 60, interval=0.5)
        dup = db.execute("SELECT count(*) - count(DISTINCT job_id) FROM usage_events WHERE job_id = ANY(%s::uuid[])",
                         (ids,)).fetchone()[0]
        print(f"accepted {len(accepted)} async + {len(answered)} sync, refused {refused} (503), "
              f"persisted {n}, accepting again {recovered:.1f}s after the broker's start returned")
        assert n == len(ids) and finals == len(ids) and dup == 0, (n, finals, dup, len(ids))
        assert refused > 0, "nothing was refused while the broker was down"
    finally:
        stack.stop()
        kafka("stop", kdir)
