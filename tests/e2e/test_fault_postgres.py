"""PostgreSQL stopped under load (docs/reliability.md): requests keep being accepted (keys
and limits known to the nodes go on, limits at each node's share), polling a job the node
does not remember answers 503, and when the database returns the sinks catch up: every
accepted job final, each counted once."""
import os
import threading
import time
import uuid

import psycopg
import requests

from conftest import BUILD, ROOT, Stack, create_tenant, free_port, metric, poll, run

OUTAGE_S = int(os.environ.get("LLMQ_PG_OUTAGE_S", "20"))


def pg(action, pg_dir, port=None):
    script = f'source "{ROOT}/ops/lib.sh"; llmq_pg_{action} "$1" ' + ('"$2"' if port else "")
    args = ["bash", "-c", script, "_", pg_dir] + ([str(port)] if port else [])
    out = run(args).stdout.strip().splitlines()
    return out[-1] if out else None


class AsyncLoad:
    """Clients submitting async jobs until stopped: 202s in accepted, the rest in refused."""

    def __init__(self, url, auth, body, clients=2, pause=0.02):
        self.accepted, self.refused, self._stop = [], [], threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(url, auth, body, pause))
                         for _ in range(clients)]
        for t in self._threads:
            t.start()

    def _run(self, url, auth, body, pause):
        with requests.Session() as s:
            while not self._stop.is_set():
                r = s.post(f"{url}/v1/jobs", headers=auth, json=body, timeout=30)
                (self.accepted if r.status_code == 202 else self.refused).append(r)
                time.sleep(pause)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join()


def assert_each_counted_once(db, ids):
    """Every job in ids succeeded, with exactly one usage row."""
    finals = db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND status = 'succeeded'",
                        (ids,)).fetchone()[0]
    assert finals == len(ids)
    dup = db.execute("SELECT count(*) - count(DISTINCT job_id) FROM usage_events WHERE job_id = ANY(%s::uuid[])",
                     (ids,)).fetchone()[0]
    assert dup == 0


def test_postgres_stopped_under_load_loses_nothing(brokers, log_dir, state_dir):
    pg_dir = os.path.join(state_dir, "pg-outage")
    port = free_port()
    url = pg("start", pg_dir, port)
    run([os.path.join(BUILD, "llmqctl"), "--pg", url, "migrate"])
    prefix = "pgout" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "2",
         "--prefix", prefix])
    stack = Stack(url, brokers, log_dir, prefix=prefix, worker_settings={"mock.latency_ms": 50}).start()
    try:
        tenant, key = create_tenant(url)
        run([os.path.join(BUILD, "llmqctl"), "--pg", url, "tenant", "set", tenant, "--limits",
             '{"rpm": 100000}'])
        auth = {"Authorization": f"Bearer {key}"}
        body = {"model": "mock", "messages": [{"role": "user", "content": "through an outage"}]}
        first = requests.post(f"{stack.url}/v1/jobs", headers=auth, json=body, timeout=30)
        assert first.status_code == 202  # the key is known to the node from here on
        load = AsyncLoad(stack.url, auth, body)
        accepted, refused = load.accepted, load.refused
        time.sleep(3)
        pg("stop", pg_dir)
        down_at = time.time()
        during = len(accepted)
        time.sleep(3)
        unknown = first.json()["id"][:-4] + ("0000" if not first.json()["id"].endswith("0000") else "1111")
        r = requests.get(f"{stack.url}/v1/jobs/{unknown}", headers=auth, timeout=10)
        assert r.status_code == 503 and r.headers.get("Retry-After"), r.text  # not remembered
        r = requests.get(f"{stack.url}/v1/jobs/{first.json()['id']}", headers=auth, timeout=10)
        assert r.status_code in (200, 503), r.text
        assert poll(lambda: metric(stack.url, "llmq_limits_degraded"), lambda v: v == 1, 10) == 1
        time.sleep(max(0, OUTAGE_S - (time.time() - down_at)))
        accepted_while_down = len(accepted) - during
        pg("start", pg_dir, port)
        up_at = time.time()
        time.sleep(3)
        load.stop()
        assert accepted_while_down > 0, "nothing was accepted while the database was down"
        assert all(r.status_code == 503 for r in refused), {r.status_code for r in refused}
        ids = [first.json()["id"]] + [r.json()["id"] for r in accepted]
        with psycopg.connect(url, autocommit=True) as db:
            usage = lambda: db.execute("SELECT count(*) FROM usage_events WHERE job_id = ANY(%s::uuid[])",
                                       (ids,)).fetchone()[0]
            n = poll(usage, lambda v: v == len(ids), 60, interval=0.5)
            caught_up = time.time() - up_at
            print(f"accepted {len(ids)} ({accepted_while_down} while down {OUTAGE_S}s), "
                  f"refused {len(refused)}, persisted {n}, caught up {caught_up:.1f}s after the return")
            assert n == len(ids)
            assert_each_counted_once(db, ids)
        assert caught_up <= 30, caught_up
        assert poll(lambda: metric(stack.url, "llmq_limits_degraded"), lambda v: v == 0, 15) == 0
    finally:
        stack.stop()
        pg("stop", pg_dir)
