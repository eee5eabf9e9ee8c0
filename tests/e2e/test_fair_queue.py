"""Fair queueing in the worker: a tenant flooding the queue does not hold up a quiet one (no
head-of-line blocking: the flooder's excess is set aside to the deferred topic and read back),
backlogged tenants share the slots by their tiers' weights, and every job ends exactly once."""
import concurrent.futures
import os
import re
import time
import uuid

import requests

from conftest import BUILD, Stack, create_tenant, metric, poll, run


def fair_stack(pg_url, brokers, log_dir, name, latency_ms):
    """One worker with few slots and a small per-tenant queue, on one partition, so every
    tenant shares the same partition and the same slots."""
    prefix = name + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "1",
         "--prefix", prefix])
    return Stack(pg_url, brokers, log_dir, prefix=prefix,
                 worker_settings={"mock.latency_ms": latency_ms, "worker.max_inflight": 4,
                                  "worker.tenant_queue_max": 20, "worker.max_queued": 2000}).start()


def submit(session, url, key, text):
    r = session.post(f"{url}/v1/jobs", headers={"Authorization": f"Bearer {key}"},
                     json={"model": "mock", "messages": [{"role": "user", "content": text}]}, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def submit_many(url, key, n, accepted):
    """Submit n async jobs from 16 threads in the background; ids are appended to accepted."""
    session = requests.Session()
    pool = concurrent.futures.ThreadPoolExecutor(16)
    futures = [pool.submit(lambda i=i: accepted.append(submit(session, url, key, f"flood {i}")))
               for i in range(n)]
    return pool, futures


def queue_ms(db, ids):
    """The jobs' time from accepted to picked (traces.queue_ms), once every trace is stored."""
    rows = poll(lambda: db.execute("SELECT queue_ms FROM traces WHERE job_id = ANY(%s::uuid[])",
                                   (ids,)).fetchall(),
                lambda r: len(r) == len(ids), 120, 0.2)
    assert len(rows) == len(ids), f"{len(rows)} of {len(ids)} traces"
    return sorted(r[0] for r in rows)


def p90(values):
    return values[min(len(values) - 1, int(len(values) * 0.9))]


def worker_metric(stack, name):
    return int(metric(f"http://127.0.0.1:{stack.workers[0].settings['admin.port']}", name, 0))


def quiet_jobs(stack, session, key, n, spacing):
    ids = []
    for i in range(n):
        ids.append(submit(session, stack.url, key, f"quiet {i}"))
        time.sleep(spacing)
    return ids


def assert_final_once(db, ids):
    """Every job has one jobs row, succeeded, and one usage row."""
    want = (len(ids), len(ids), len(ids))
    got = poll(lambda: db.execute(
        "SELECT (SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND status = 'succeeded'),"
        " (SELECT count(*) FROM usage_events WHERE job_id = ANY(%s::uuid[])),"
        " (SELECT count(DISTINCT job_id) FROM usage_events WHERE job_id = ANY(%s::uuid[]))",
        (ids, ids, ids)).fetchone(), lambda v: tuple(v) == want, 180, 0.5)
    assert tuple(got) == want, f"succeeded, usage rows, jobs with usage: {tuple(got)}, want {want}"


def test_flooder_does_not_hold_up_a_quiet_tenant(pg_url, brokers, log_dir, db):
    """A quiet tenant's time in queue with a flooder (600 async jobs) on the same partition
    and the same 4 slots stays close to its time alone, while the flooder's own jobs wait
    seconds; the flooder's excess went through the deferred topic; every job ends once."""
    stack = fair_stack(pg_url, brokers, log_dir, "fq", latency_ms=100)
    try:
        _, quiet_key = create_tenant(pg_url)
        _, flood_key = create_tenant(pg_url)
        session = requests.Session()
        alone_ids = quiet_jobs(stack, session, quiet_key, 10, 0.15)
        alone = queue_ms(db, alone_ids)

        flood_ids = []
        pool, futures = submit_many(stack.url, flood_key, 600, flood_ids)
        poll(lambda: len(flood_ids), lambda n: n >= 200, 60)
        loaded_ids = quiet_jobs(stack, session, quiet_key, 12, 0.25)
        for f in futures:
            f.result()
        pool.shutdown()
        loaded = queue_ms(db, loaded_ids)

        print(f"quiet alone p90 {p90(alone)} ms, with a flooder {loaded} ms; flooder median "
              f"{flood[len(flood) // 2] if (flood := queue_ms(db, flood_ids)) else 0} ms, deferred "
              f"{worker_metric(stack, 'llmq_worker_deferred_total')}")
        # the backlog was real: the flooder's own jobs waited (600 jobs, 40 per second)
        flood = queue_ms(db, flood_ids)
        assert flood[len(flood) // 2] >= 2000, f"flooder's median wait {flood[len(flood) // 2]} ms"
        # the quiet tenant was not behind it: close to its time alone (one slot's turn at most)
        assert p90(loaded) <= 2 * p90(alone) + 1000, f"quiet alone {alone}, with a flooder {loaded}"
        assert worker_metric(stack, "llmq_worker_deferred_total") > 0
        assert_final_once(db, alone_ids + loaded_ids + flood_ids)
        assert worker_metric(stack, "llmq_worker_queued_jobs") == 0
    finally:
        stack.stop()


def backlogged_stretch(pg_url, brokers, log_dir, db, name, weight_b):
    """Tenant A (tier unlimited, weight 1) submits all of its jobs before tenant B (a tier of
    weight weight_b, without limits); once both are backlogged, what each finished over the
    same stretch of 120 completions."""
    stack = fair_stack(pg_url, brokers, log_dir, name, latency_ms=200)
    try:
        a, a_key = create_tenant(pg_url)
        b, b_key = create_tenant(pg_url)
        tier_b = f"fq-weight-{weight_b}"
        run([os.path.join(BUILD, "llmqctl"), "--pg", pg_url, "tier", "set", tier_b, "--weight",
             str(weight_b), "--limits", "{}"])
        run([os.path.join(BUILD, "llmqctl"), "--pg", pg_url, "tenant", "set", b, "--tier", tier_b])
        a_ids, b_ids = [], []
        for key, ids in ((a_key, a_ids), (b_key, b_ids)):
            pool, futures = submit_many(stack.url, key, 200, ids)
            for f in futures:
                f.result()
            pool.shutdown()

        def done():
            rows = db.execute("SELECT tenant_id, count(*) FROM jobs WHERE tenant_id IN (%s, %s)"
                              " AND status = 'succeeded' GROUP BY 1", (a, b)).fetchall()
            d = dict(rows)
            return d.get(a, 0), d.get(b, 0)

        a0, b0 = done()
        assert a0 < 120 and b0 < 120, f"not backlogged when measured: {a0}, {b0}"
        a1, b1 = poll(done, lambda v: v[0] + v[1] - a0 - b0 >= 120, 120, 0.2)
        da, db_ = a1 - a0, b1 - b0
        print(f"at the start A {a0}, B {b0}; over the stretch A {da}, B {db_}")
        assert da + db_ >= 120, (a0, b0, a1, b1)
        assert_final_once(db, a_ids + b_ids)
        return da, db_
    finally:
        stack.stop()


def test_two_backlogged_tenants_share_equally(pg_url, brokers, log_dir, db):
    """Equal weights (both 1): completions over the same stretch within 20 %."""
    da, db_ = backlogged_stretch(pg_url, brokers, log_dir, db, "fq2", 1)
    assert abs(da - db_) <= 0.2 * max(da, db_), f"A finished {da}, B {db_} over the same stretch"


def test_backlogged_tenants_share_by_their_tiers_weights(pg_url, brokers, log_dir, db):
    """B's tier (weight 4) against A's (weight 1): the ingest node puts the tier's
    weight in each request and the worker's fair queue gives B about four fifths."""
    da, db_ = backlogged_stretch(pg_url, brokers, log_dir, db, "fq3", 4)
    share = db_ / (da + db_)
    assert 0.65 <= share <= 0.9, f"A (weight 1) finished {da}, B (weight 4) {db_}: B's share {share:.2f}"


def test_worker_refuses_topics_of_different_partition_counts(pg_url, brokers, log_dir):
    """Requests, cancellations and deferred requests must be co-partitioned: a worker whose
    deferred topic has another partition count does not start, and says why."""
    two = "fqp" + uuid.uuid4().hex[:6]
    one = "fqq" + uuid.uuid4().hex[:6]
    for prefix, n in ((two, "2"), (one, "1")):
        run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", n,
             "--prefix", prefix])
    stack = Stack(pg_url, brokers, log_dir, prefix=two,
                  worker_settings={"topic.deferred": f"{one}.requests.deferred"})
    w = stack.workers[0].start()
    try:
        code = poll(lambda: w.proc.poll(), lambda c: c is not None, 60)
        assert code not in (None, 0), "the worker started"
        assert "must have the same number of partitions" in w.log_text()
    finally:
        w.stop()


def test_consumer_lag_is_exported_and_drains(pg_url, brokers, log_dir, db):
    """A worker whose queue is full pauses its partitions: the records it has not taken show
    as llmq_consumer_lag_records of its group, and fall to 0 once it caught up."""
    prefix = "lag" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "1",
         "--prefix", prefix])
    stack = Stack(pg_url, brokers, log_dir, prefix=prefix,
                  worker_settings={"mock.latency_ms": 300, "worker.max_inflight": 2,
                                   "worker.tenant_queue_max": 1000, "worker.max_queued": 4}).start()
    try:
        _, key = create_tenant(pg_url)
        accepted = []
        pool, futures = submit_many(stack.url, key, 60, accepted)
        for f in futures:
            f.result()
        pool.shutdown()
        group = f'group="{prefix}-workers"'
        series = f'llmq_consumer_lag_records{{{group},topic="{prefix}.requests",partition="0"}}'
        lag_sum = f"llmq_consumer_lag_sum_records{{{group}}}"
        lag = poll(lambda: worker_metric(stack, re.escape(lag_sum)), lambda v: v > 0, 20)
        assert lag > 0, "no lag seen while the worker's queue was full"
        text = requests.get(f"http://127.0.0.1:{stack.workers[0].settings['admin.port']}/metrics", timeout=5).text
        assert series in text, text
        assert_final_once(db, accepted)
        assert poll(lambda: worker_metric(stack, re.escape(lag_sum)), lambda v: v == 0, 10) == 0
        sink = stack.sink.settings["admin.port"]
        sink_lag = f'llmq_consumer_lag_sum_records{{group="{prefix}-sinks"}} 0'
        stext = poll(lambda: requests.get(f"http://127.0.0.1:{sink}/metrics", timeout=5).text,
                     lambda t: sink_lag in t, 10)  # (the gauge is a second old at most)
        assert sink_lag in stext, stext
    finally:
        stack.stop()
