"""Clock skew between nodes (docs/reliability.md, docs/limits.md): two ingest nodes whose wall
clocks are SKEW_S seconds ahead and SKEW_S seconds behind, and a worker SKEW_S seconds behind,
share one PostgreSQL and one Kafka. Each skewed daemon runs under libfaketime with only its
realtime clock moved (FAKETIME_DONT_FAKE_MONOTONIC=1): that is what a machine with a wrong
clock looks like; a monotonic clock is never compared across machines.

What must hold, whatever the skew (PostgreSQL's clock decides, and each node measures its own
offset to it at every exchange with the limit ledger: llmq_clock_offset_ms):
- a concurrency limit across both nodes is exact, and a killed node's slots come back within
  their lease (not SKEW_S later);
- a key past its expiry is refused by the node that is behind as soon as it expires;
- a tenant's rpm is exact across both nodes: no 60 s holds more admissions than the limit,
  measured on the test's own clock and on the admission times the jobs recorded;
- every job ends once with one usage row, and its recorded times keep their order:
  created_at <= started_at <= finished_at within ORDER_BOUND_S;
- a batch's lines are run only inside its window, judged on the database's clock;
- a batch held by one node's runner is never taken by the other while its lease runs, and
  the lease is placed on the database's clock.

Needs libfaketime (Debian's package `faketime`; LLMQ_LIBFAKETIME names the library where it is
somewhere else) and the shim tests/e2e/faketime_cnd.c, built with the project."""
import concurrent.futures
import email.utils
import glob
import io
import json
import os
import threading
import time
import uuid

import psycopg
import pytest
import requests

from conftest import BUILD, Daemon, Stack, create_tenant, free_port, metric, poll, run, wait_http

SKEW_S = 90          # more than a minute: a window placed by a node's clock would be another window
RPM = 120
ORDER_BOUND_S = 1.0  # the recorded times of a job keep their order within this
SLOT_LEASE_MS = 3000
LOAD_S = 66


def libfaketime():
    candidates = [os.environ.get("LLMQ_LIBFAKETIME", "")]
    candidates += sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    candidates += ["/usr/lib/faketime/libfaketime.so.1", "/usr/local/lib/faketime/libfaketime.so.1"]
    return next((p for p in candidates if p and os.path.exists(p)), None)


LIB = libfaketime()
SHIM = os.path.join(BUILD, "tests", "libfaketime_cnd.so")  # tests/e2e/faketime_cnd.c
pytestmark = pytest.mark.skipif(LIB is None, reason="libfaketime not installed (package faketime)")


def skewed(seconds):
    """The environment of a daemon whose wall clock is `seconds` off (monotonic untouched).
    libfaketime's "monotonic fix", on by default with glibc, makes a timed wait on a condition
    variable of CLOCK_MONOTONIC return at once: off. Its C11 waits (librdkafka's) need the shim."""
    assert os.path.exists(SHIM), f"{SHIM} not built"
    return {"LD_PRELOAD": f"{LIB} {SHIM}", "FAKETIME": f"{seconds:+d}s", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_FORCE_MONOTONIC_FIX": "0"}


def ctl(pg_url, *args):
    return run([os.path.join(BUILD, "llmqctl"), "--pg", pg_url, *args]).stdout.strip()


def limited_tenant(pg_url, limits):
    t, key = create_tenant(pg_url)
    ctl(pg_url, "tenant", "set", t, "--limits", limits)
    return t, key


def chat(url, key, session=None, timeout=30):
    return (session or requests).post(
        f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
        json={"model": "mock", "messages": [{"role": "user", "content": "hi"}]}, timeout=timeout)


def clock_of(url):
    """How far the daemon answering at url is from this machine's clock (its Date header), s."""
    r = requests.get(f"{url}/healthz", timeout=5)
    return email.utils.parsedate_to_datetime(r.headers["Date"]).timestamp() - time.time()


def most_in_window(times, window):
    """The most of `times` in any half-open interval of `window` seconds."""
    times, most, j = sorted(times), 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        most = max(most, i - j + 1)
    return most


@pytest.fixture(scope="module")
def skew(pg_url, brokers, log_dir):
    """ingest n1 SKEW_S ahead, ingest n2 SKEW_S behind, one worker SKEW_S behind."""
    prefix = "skew" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions",
         "4", "--prefix", prefix])
    s = Stack(pg_url, brokers, log_dir, prefix=prefix,
              worker_settings={"mock.latency_ms": 1500, "worker.max_inflight": 64},
              ingest_settings={"limits.slot_lease_ms": SLOT_LEASE_MS, "batches.poll_ms": 100},
              worker_env=skewed(-SKEW_S))
    s.ingest.env = skewed(SKEW_S)
    port = free_port()
    n2 = Daemon(f"{prefix}-ingest2", "llmq-ingest",
                {**s.ingest.settings, "http.port": port, "ingest.node_id": f"{prefix}-n2"}, log_dir,
                env=skewed(-SKEW_S))
    try:
        s.start()
        n2.start()
        n2.url = f"http://127.0.0.1:{port}"
        wait_http(f"{n2.url}/readyz", 60, n2)
        s.ingest.url = s.url
        s.n1, s.n2 = s.ingest, n2
        yield s
    finally:
        n2.stop()
        s.stop()


def offset_measured(url):
    """The node's llmq_clock_offset_ms: the database's clock minus its own, as it measured it."""
    return metric(url, "llmq_clock_offset_ms")


def test_the_nodes_clocks_are_skewed_and_measured(skew):
    worker = f"http://127.0.0.1:{skew.workers[0].settings['admin.port']}"
    urls = {"n1": skew.n1.url, "n2": skew.n2.url, "worker": worker}
    seen = {k: clock_of(u) for k, u in urls.items()}
    measured = {k: poll(lambda u=u: offset_measured(u), lambda v: v is not None, 10) for k, u in urls.items()}
    print("clocks (Date header) / offset each node measured to the database's: " +
          ", ".join(f"{k} {seen[k]:+.0f}s / {measured[k]:+.0f}ms" for k in urls))
    for k, want in (("n1", SKEW_S), ("n2", -SKEW_S), ("worker", -SKEW_S)):
        assert abs(seen[k] - want) <= 2, seen
        assert abs(measured[k] + want * 1000) <= 500, measured  # the database's clock is this machine's


def test_concurrency_slots_hold_and_come_back(pg_url, skew):
    _, key = limited_tenant(pg_url, '{"concurrent": 2}')
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        held = [pool.submit(chat, skew.n1.url, key) for _ in range(2)]
        time.sleep(0.5)  # both are with the slow provider, in the slots of the node ahead
        third = chat(skew.n2.url, key)
        assert third.status_code == 429 and "concurrent" in third.json()["error"]["message"], third.text
        assert [f.result().status_code for f in held] == [200, 200]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # given back: the node behind takes both
        again = [pool.submit(chat, skew.n2.url, key) for _ in range(2)]
        assert [f.result().status_code for f in again] == [200, 200]
    # the node ahead dies holding both: they are free again within their lease
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        held = [pool.submit(chat, skew.n1.url, key) for _ in range(2)]
        time.sleep(0.5)
        assert chat(skew.n2.url, key).status_code == 429
        skew.n1.kill()
        for f in held:
            with pytest.raises(requests.RequestException):
                f.result()
    killed = time.time()
    r = poll(lambda: chat(skew.n2.url, key), lambda r: r.status_code == 200, 20, interval=0.25)
    back = time.time() - killed
    print(f"slots of the killed node (clock {SKEW_S:+d}s) free again after {back:.1f}s "
          f"(lease {SLOT_LEASE_MS / 1000:.0f}s)")
    assert r.status_code == 200, r.text
    assert back <= SLOT_LEASE_MS / 1000 + 1.5 + 1.5, back
    skew.n1.start()
    wait_http(f"{skew.n1.url}/readyz", 60, skew.n1)


def test_an_expired_key_is_refused_by_the_node_behind(pg_url, skew, db):
    t, key = create_tenant(pg_url)
    db.execute("UPDATE api_keys SET expires_at = now() + interval '5 seconds' WHERE tenant_id = %s", (t,))
    expires = db.execute("SELECT extract(epoch FROM expires_at)::float8 FROM api_keys WHERE tenant_id = %s",
                         (t,)).fetchone()[0]
    time.sleep(1.5)  # the change has reached the nodes (their caches were flushed)
    assert chat(skew.n2.url, key).status_code == 200  # looked up, and cached on the node behind
    time.sleep(max(0.0, expires + 1.5 - time.time()))
    r = chat(skew.n2.url, key)
    assert r.status_code == 401, f"an expired key was accepted by the node behind: {r.status_code}"
    assert chat(skew.n1.url, key).status_code == 401


def submit_job(url, key, model="mock"):
    return requests.post(f"{url}/v1/jobs", headers={"Authorization": f"Bearer {key}"},
                         json={"model": model, "messages": [{"role": "user", "content": "hi there"}]},
                         timeout=30)


def batch_lines(n):
    return ("\n".join(json.dumps({"custom_id": f"line-{i}", "method": "POST", "url": "/v1/chat/completions",
                                  "body": {"model": "mock", "max_tokens": 20,
                                           "messages": [{"role": "user", "content": f"line {i}"}]}})
                      for i in range(n)) + "\n").encode()


def create_batch(url, key, lines, window):
    h = {"Authorization": f"Bearer {key}"}
    f = requests.post(f"{url}/v1/files", headers=h, data={"purpose": "batch"},
                      files={"file": ("in.jsonl", io.BytesIO(lines))}, timeout=30)
    assert f.status_code == 200, f.text
    b = requests.post(f"{url}/v1/batches", headers=h, timeout=30,
                      json={"input_file_id": f.json()["id"], "endpoint": "/v1/chat/completions",
                            "completion_window": window})
    assert b.status_code == 200, b.text
    return b.json()["id"]


class Load:
    """Clients of one rpm-limited tenant on both nodes for LOAD_S seconds."""

    def __init__(self, skew, key):
        self.skew, self.key = skew, key
        self.admitted, self.refused, self.lock = [], 0, threading.Lock()
        self.stop = time.time() + LOAD_S

    def client(self, i):
        url = (self.skew.n1, self.skew.n2)[i % 2].url
        with requests.Session() as session:
            while time.time() < self.stop:
                sent = time.time()
                r = chat(url, self.key, session)
                with self.lock:
                    if r.status_code == 200:
                        self.admitted.append((sent, r.headers["x-llmq-job-id"]))
                    else:
                        assert r.status_code == 429, r.text
                        self.refused += 1
                if r.status_code == 429:
                    time.sleep(0.2)


def watch_batch(pg_url, batch_id, until, seen):
    """The batch's runner and how long its lease still runs (database clock), until `until`."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        while time.time() < until:
            row = conn.execute("SELECT runner, extract(epoch FROM runner_until - now())::float8, status"
                               " FROM batches WHERE id = %s", (batch_id,)).fetchone()
            if row and row[0]:
                seen.append(row)
            time.sleep(0.5)


def job_times(db, ids):
    return db.execute(
        "SELECT id::text, status, extract(epoch FROM created_at)::float8,"
        " extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,"
        " (SELECT count(*) FROM usage_events u WHERE u.job_id = j.id)"
        " FROM jobs j WHERE id = ANY(%s::uuid[])", (ids,)).fetchall()


def order_errors(rows):
    """The most created_at runs after started_at, and started_at after finished_at (s)."""
    c_s = max((r[2] - r[3] for r in rows if r[3] is not None), default=0.0)
    s_f = max((r[3] - r[4] for r in rows if r[3] is not None and r[4] is not None), default=0.0)
    return c_s, s_f


def test_limits_jobs_and_batches_under_skew(pg_url, skew, db):
    _, rate_key = limited_tenant(pg_url, f'{{"rpm": {RPM}}}')
    _, async_key = create_tenant(pg_url)
    _, batch_key = limited_tenant(pg_url, '{"rpm": 5}')
    started = time.time()
    load = Load(skew, rate_key)
    # a batch of 10 lines at 5 a minute with a 40 s window: five run at once, five would wait
    # for the minute to pass and leave the window first
    batch_id = create_batch(skew.n2.url, batch_key, batch_lines(10), "40s")
    runners = []
    watcher = threading.Thread(target=watch_batch, args=(pg_url, batch_id, time.time() + LOAD_S, runners))
    watcher.start()
    async_ids = []
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        clients = [pool.submit(load.client, i) for i in range(8)]
        while time.time() < load.stop - 5:  # async jobs through both nodes meanwhile
            for node in (skew.n1, skew.n2):
                r = submit_job(node.url, async_key)
                assert r.status_code == 202, r.text
                async_ids.append(r.json()["id"])
            time.sleep(2)
        for f in clients:
            f.result()
    watcher.join()

    # the rpm, on the test's own clock: a request is admitted within a second of being sent, so
    # any 59 s of sending holds at most what 60 s of admitting may
    sent = [t for t, _ in load.admitted]
    ids = [j for _, j in load.admitted]
    most_sent = most_in_window(sent, 59)
    first_minute = sum(1 for t in sent if t < min(sent) + 60)
    all_ids = ids + async_ids
    rows = poll(lambda: job_times(db, all_ids),
                lambda rows: len(rows) == len(all_ids) and all(r[1] == "succeeded" and r[5] >= 1 for r in rows), 60)
    by_id = {r[0]: r for r in rows}
    most_recorded = most_in_window([by_id[j][2] for j in ids if j in by_id], 60)
    c_s, s_f = order_errors(rows)
    print(f"rpm {RPM} over {LOAD_S}s on both nodes: admitted {len(ids)}, refused {load.refused}, "
          f"most in a sliding minute {most_sent} (test's clock) / {most_recorded} (created_at), "
          f"first minute {first_minute}; {len(async_ids)} async jobs; created_at after started_at "
          f"by at most {c_s:+.3f}s, started_at after finished_at by at most {s_f:+.3f}s")
    assert most_sent <= RPM, most_sent
    assert most_recorded <= RPM, most_recorded
    assert first_minute >= 0.95 * RPM, first_minute
    assert len(rows) == len(all_ids), (len(rows), len(all_ids))
    bad = [r for r in rows if r[1] != "succeeded" or r[5] != 1]
    assert not bad, bad[:5]  # each ended once, with one usage row
    assert c_s <= ORDER_BOUND_S and s_f <= ORDER_BOUND_S, (c_s, s_f)

    # the batch: lines run only inside its window, on the database's clock
    final = poll(lambda: db.execute("SELECT status, extract(epoch FROM expires_at)::float8 FROM batches"
                                    " WHERE id = %s", (batch_id,)).fetchone(),
                 lambda b: b[0] in ("completed", "expired", "failed", "cancelled"), 60, 0.5)
    items = db.execute(
        "SELECT j.status, j.error->>'code', extract(epoch FROM j.started_at)::float8"
        " FROM batch_items i JOIN jobs j ON j.id = i.job_id WHERE i.batch_id = %s", (batch_id,)).fetchall()
    ran = [x for x in items if x[0] == "succeeded"]
    late = [x for x in ran if x[2] > final[1] + ORDER_BOUND_S]
    holders = {r[0] for r in runners}
    longest = max((r[1] for r in runners), default=0.0)
    print(f"batch: {final[0]}, {len(ran)} lines ran, {len(ran) - len(late)} inside the window, "
          f"{sum(1 for x in items if x[1] == 'batch_expired')} expired; held by {len(holders)} runner(s), "
          f"lease at most {longest:.1f}s ahead of the database's clock; test {time.time() - started:.0f}s")
    assert final[0] == "expired", final
    assert len(items) == 10 and len(ran) == 5 and not late, items
    assert len(holders) == 1, runners  # never taken over while its holder renews
    assert 0 < longest <= 30 + 1, longest
