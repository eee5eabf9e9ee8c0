"""Scale and faults: a worker killed mid-run loses nothing; Kafka unavailable means 503."""
import concurrent.futures
import os
import re
import time
import uuid

import requests

from conftest import (BUILD, Daemon, Stack, count_jobs, count_usage, create_tenant, free_port, poll,
                      run, wait_job)


def test_sigkill_worker_mid_run(pg_url, brokers, log_dir, db):
    """Two workers, 1000 async jobs from 10 tenants, one worker SIGKILLed mid-run: every
    job still succeeds and PostgreSQL holds exactly 1000 usage rows."""
    prefix = "kill" + uuid.uuid4().hex[:6]
    # topics of its own, 8 partitions so both workers get some
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "8",
         "--prefix", prefix])
    stack = Stack(pg_url, brokers, log_dir, prefix=prefix, workers=2,
                  worker_settings={"mock.latency_ms": 300, "worker.max_inflight": 16})
    stack.start()
    try:
        tenants = [create_tenant(pg_url) for _ in range(10)]
        session = requests.Session()

        def submit(i):
            tenant_id, key = tenants[i % 10]
            r = session.post(f"{stack.url}/v1/jobs", headers={"Authorization": f"Bearer {key}"},
                             json={"model": "mock", "messages": [{"role": "user", "content": f"job {i}"}]},
                             timeout=30)
            assert r.status_code == 202, r.text
            return r.json()["id"], key

        # submit in the background; kill one worker while work is in flight: after some jobs
        # finished, well before all (however slowly or quickly the submissions go)
        accepted = []

        def submit_and_keep(i):
            accepted.append(submit(i))

        pool = concurrent.futures.ThreadPoolExecutor(16)
        futures = [pool.submit(submit_and_keep, i) for i in range(1000)]
        victim = stack.workers[0]
        seen = []

        def worker_done(w):
            text = requests.get(f"http://127.0.0.1:{w.settings['admin.port']}/metrics", timeout=5).text
            m = re.search(r'^llmq_worker_jobs_total\{status="succeeded"\} (\d+)', text, re.M)
            return int(m.group(1)) if m else 0

        def probe():
            # the workers' own counts: PostgreSQL lags by the sinks' batching
            seen.append((round(time.time() - t0, 2), len(accepted),
                         sum(worker_done(w) for w in stack.workers)))
            return seen[-1][2]

        t0 = time.time()
        finished = poll(probe, lambda n: n >= 150, 60, 0.05)
        assert victim.proc.poll() is None
        victim.kill()
        assert finished < 700, f"the kill came too late to matter ({finished} jobs already done): {seen[-20:]}"
        for f in futures:
            f.result()
        pool.shutdown()
        jobs = list(accepted)
        assert len({j for j, _ in jobs}) == 1000
        ids = [j for j, _ in jobs]
        # every job reaches succeeded
        done, usage = poll(lambda: (count_jobs(db, ids, "succeeded"), count_usage(db, ids)),
                           lambda v: v == (1000, 1000), 120, 0.5)
        assert done == 1000, f"{done} of 1000 jobs succeeded"
        assert usage == 1000
        # exactly one usage row per job, all 10 tenants present, rollup consistent
        per_tenant = db.execute(
            "SELECT tenant_id, count(*) FROM usage_events WHERE job_id = ANY(%s::uuid[]) GROUP BY 1",
            (ids,)).fetchall()
        assert sorted(c for _, c in per_tenant) == [100] * 10
        rollup = db.execute("SELECT sum(requests) FROM usage_daily WHERE tenant_id = ANY(%s)",
                            ([t for t, _ in tenants],)).fetchone()[0]
        assert rollup == 1000
        # the API agrees
        j, key = jobs[-1]
        assert wait_job(stack.url, key, j)["status"] == "succeeded"
    finally:
        stack.stop()


def test_kafka_unavailable_gives_503(pg_url, log_dir, tmp_path):
    """When Kafka cannot take a request in time the client gets 503 with Retry-After,
    never a 202 for a request that was not stored."""
    import subprocess
    _, key = create_tenant(pg_url)
    bootstrap_file = tmp_path / "bootstrap"
    cluster = subprocess.Popen([os.path.join(BUILD, "llmq-kafka-embedded"), "--bootstrap-file",
                                str(bootstrap_file)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline and not (bootstrap_file.exists() and bootstrap_file.read_text().strip()):
            time.sleep(0.05)
        port = free_port()
        ingest = Daemon("kafka-gone-ingest", "llmq-ingest",
                        {"kafka.brokers": bootstrap_file.read_text().strip(), "pg.url": pg_url,
                         "http.port": port, "ingest.enqueue_timeout_ms": 1500,
                         "ingest.node_id": "kafkagone"}, log_dir)
        ingest.start()
        from conftest import wait_http
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/readyz", 60, ingest)
        body = {"model": "mock", "messages": [{"role": "user", "content": "x"}]}
        ok = requests.post(f"{url}/v1/jobs", json=body, headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 202
        cluster.terminate()
        cluster.wait(10)
        t0 = time.time()
        r = requests.post(f"{url}/v1/jobs", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "1"
        assert r.json()["error"]["code"] == "enqueue_failed"
        assert time.time() - t0 < 10
        s = requests.post(f"{url}/v1/chat/completions", json=body,
                          headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert s.status_code == 503
        ingest.stop()
    finally:
        if cluster.poll() is None:
            cluster.kill()


def test_sigterm_drains_worker(pg_url, brokers, log_dir, db):
    """SIGTERM: the worker finishes what it started, publishes it, commits and exits 0;
    what it had not started is picked up by the next worker; nothing is done twice."""
    prefix = "drain" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "2",
         "--prefix", prefix])
    stack = Stack(pg_url, brokers, log_dir, prefix=prefix, workers=1,
                  worker_settings={"mock.latency_ms": 1500, "worker.max_inflight": 20})
    stack.start()
    try:
        _, key = create_tenant(pg_url)
        ids = []
        for i in range(60):
            r = requests.post(f"{stack.url}/v1/jobs", headers={"Authorization": f"Bearer {key}"},
                              json={"model": "mock", "messages": [{"role": "user", "content": f"d{i}"}]})
            assert r.status_code == 202
            ids.append(r.json()["id"])
        # wait until the worker has work in flight, then ask it to stop
        poll(lambda: count_jobs(db, ids, "running"), lambda n: n >= 10, 30, 0.05)
        t0 = time.time()
        rc = stack.workers[0].stop()
        assert rc == 0
        assert time.time() - t0 < 15
        assert "drained (0 left)" in stack.workers[0].log_text()
        first_id = stack.workers[0].settings["worker.id"]
        # a new worker (another id) takes the rest
        stack.workers[0].settings["worker.id"] = first_id + "-b"
        stack.workers[0].start()
        done, usage = poll(lambda: (count_jobs(db, ids, "succeeded"), count_usage(db, ids)),
                           lambda v: v == (60, 60), 90, 0.2)
        assert done == 60
        assert usage == 60
        # the jobs the first worker finished were committed: the second one did not run them again
        poll(lambda: db.execute("SELECT count(*) FROM traces WHERE job_id = ANY(%s::uuid[])", (ids,)).fetchone()[0],
             lambda n: n == 60, 30, 0.2)
        done_by_first = db.execute("SELECT count(*) FROM traces WHERE job_id = ANY(%s::uuid[]) AND worker_id = %s",
                                   (ids, first_id)).fetchone()[0]
        assert done_by_first >= 10
        second = requests.get(f"http://127.0.0.1:{stack.workers[0].settings['admin.port']}/metrics").text
        ran_again = int(re.search(r'llmq_worker_jobs_total\{status="succeeded"\} (\d+)', second).group(1))
        assert ran_again == 60 - done_by_first
    finally:
        stack.stop()
