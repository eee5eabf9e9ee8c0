"""Scale-out of llmq's workers and ingest nodes, measured (docs/benchmarks.md, "Scale-out").

    python3 tests/bench/scale_bench.py PG_URL BROKERS LOG_DIR [--quick]

Prints one line per part and a JSON object last. Every part has topics of its own (8
partitions) and a backlog of async jobs from 32 tenants queued *before* the workers start, so
what is measured is how fast workers drain it, not how fast a client submits:

1. workers: 1, 2 and 4 workers, each with worker.max_inflight slots against a provider that
   takes 200 ms (the built-in mock): completions per second over a steady window, and the
   ratio to one worker. The provider bounds each worker (slots / 0.2 s), so llmq should add
   throughput in proportion;
2. membership: two workers drain a backlog; a third joins, then one is SIGKILLed, then one is
   stopped (SIGTERM). The longest pause without any completion after each change is the
   rebalance pause; at the end every job succeeded exactly once (usage rows = jobs);
3. one tenant: the largest single-tenant throughput one worker sustains (one tenant's jobs
   share one partition), with an instant provider (mock at 0 ms) and 1,024 slots;
4. two ingest nodes on one address (http.port shared with SO_REUSEPORT, distinct node ids):
   sync requests over many connections are spread by the kernel; both nodes' CPU time and
   every answer are checked;
5. one worker's capacity: a backlog from 32 tenants drained by one worker with an instant
   provider and 4,096 slots (completions per second), then a backlog of 21,000 jobs against a
   provider that takes 15 s with 20,000 slots and a short queue, and the same with 10,000
   jobs: the jobs in flight at once, the worker's RSS then, and every job answered.

The e2e test tests/e2e/test_scale_out.py runs parts 1 (1 and 2 workers) and 2 with smaller
numbers (--quick does the same here).
"""
import concurrent.futures
import json
import os
import re
import signal
import sys
import threading
import time
import uuid

import psycopg
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from conftest import BUILD, Daemon, Stack, create_tenant, free_port, run, wait_http  # noqa: E402

PROVIDER_MS = 200
SLOTS = 16
PARTITIONS = 8
TENANTS = 32


def new_prefix(brokers, name):
    prefix = name + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions",
         str(PARTITIONS), "--prefix", prefix])
    return prefix


def make_stack(pg_url, brokers, log_dir, name, workers, slots=SLOTS, provider_ms=PROVIDER_MS):
    return Stack(pg_url, brokers, log_dir, prefix=new_prefix(brokers, name), workers=workers,
                 worker_settings={"mock.latency_ms": provider_ms, "worker.max_inflight": slots})


def start_front(stack):
    """The sink and the ingest node; the workers come later."""
    stack.sink.start()
    stack.ingest.start()
    wait_http(f"{stack.url}/readyz", 60, stack.ingest)


def start_worker(stack, w):
    w.start()
    wait_http(f"http://127.0.0.1:{w.settings['admin.port']}/readyz", 60, w)


def add_worker(stack):
    """One more worker like the stack's first."""
    i = len(stack.workers)
    settings = dict(stack.workers[0].settings)
    settings.update({"worker.id": f"{stack.prefix}-w{i}", "admin.port": free_port()})
    w = Daemon(f"{stack.prefix}-worker{i}", "llmq-worker", settings,
               os.path.dirname(stack.workers[0].log_path), env=stack.workers[0].env)
    stack.workers.append(w)
    return w


def backlog(stack, keys, n, threads=16):
    """Queue n async jobs spread over the tenants' keys; returns their ids."""
    local = threading.local()

    def submit(i):
        s = getattr(local, "s", None) or requests.Session()
        local.s = s
        r = s.post(f"{stack.url}/v1/jobs", headers={"Authorization": f"Bearer {keys[i % len(keys)]}"},
                   json={"model": "mock", "messages": [{"role": "user", "content": f"job {i}"}]}, timeout=30)
        assert r.status_code == 202, r.text
        return r.json()["id"]

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(submit, range(n)))


def submit_codes(stack, key, n, threads=16):
    """The status of each of n sync chat completions sent at once for one key (an async job
    over a rate limit is paced, not refused: docs/limits.md)."""
    def submit(i):
        r = requests.post(f"{stack.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                          json={"model": "mock", "messages": [{"role": "user", "content": f"j{i}"}]}, timeout=30)
        return r.status_code

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(submit, range(n)))


def poll_rows(db, sql, params, total, seconds=60):
    """Run sql until its rows' last column sums to total (or time runs out); the rows."""
    deadline = time.time() + seconds
    while True:
        rows = db.execute(sql, params).fetchall()
        if sum(r[-1] for r in rows) >= total or time.time() > deadline:
            return rows
        time.sleep(0.3)


def succeeded(w):
    """A worker's count of succeeded jobs (0 when it does not answer: stopped or dead)."""
    if w.proc is None or w.proc.poll() is not None:
        return None
    try:
        text = requests.get(f"http://127.0.0.1:{w.settings['admin.port']}/metrics", timeout=2).text
    except requests.RequestException:
        return None
    m = re.search(r'^llmq_worker_jobs_total\{status="succeeded"\} (\d+)', text, re.M)
    return int(m.group(1)) if m else 0


class Counter:
    """Samples the workers' completions every `every` s in the background: (t, total) pairs,
    the total carrying each worker's last count once it stops answering."""

    def __init__(self, stack, every=0.1):
        self.stack, self.every = stack, every
        self.last = {}
        self.samples = []
        self.stop_flag = False
        self.t0 = time.time()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop_flag:
            for w in list(self.stack.workers):
                n = succeeded(w)
                if n is not None:
                    self.last[w.name] = n
            self.samples.append((time.time() - self.t0, sum(self.last.values())))
            time.sleep(self.every)

    def stop(self):
        self.stop_flag = True
        self.thread.join()

    def total(self):
        return self.samples[-1][1] if self.samples else 0

    def rate(self, t_from, t_to):
        inside = [(t, n) for t, n in self.samples if t_from <= t <= t_to]
        if len(inside) < 2:
            return 0.0
        (t1, n1), (t2, n2) = inside[0], inside[-1]
        return (n2 - n1) / (t2 - t1)

    def longest_pause(self, t_from, t_to):
        """The longest time within [t_from, t_to] in which the total did not move."""
        longest, since, prev = 0.0, t_from, None
        for t, n in self.samples:
            if t < t_from or t > t_to:
                continue
            if prev is not None and n != prev:
                longest = max(longest, t - since)
                since = t
            prev = n
        return round(max(longest, (t_to - since) if prev is not None else 0.0), 2)


def tenants(pg_url, n=TENANTS):
    return [create_tenant(pg_url)[1] for _ in range(n)]


def part_workers(pg_url, brokers, log_dir, counts, window):
    """Completions per second with each number of workers."""
    keys = tenants(pg_url)
    out = {}
    for n in counts:
        stack = make_stack(pg_url, brokers, log_dir, f"scale{n}w", n)
        try:
            start_front(stack)
            per_worker = SLOTS * 1000 / PROVIDER_MS
            backlog(stack, keys, int(n * per_worker * (window + 6)))
            counter = Counter(stack)
            for w in stack.workers:
                w.start()
            for w in stack.workers:
                wait_http(f"http://127.0.0.1:{w.settings['admin.port']}/readyz", 60, w)
            # steady: from one second after the first completions, for `window` seconds
            deadline = time.time() + 60
            while counter.total() == 0 and time.time() < deadline:
                time.sleep(0.05)
            t_start = time.time() - counter.t0 + 1.0
            time.sleep(1.0 + window)
            counter.stop()
            rate = counter.rate(t_start, t_start + window)
            out[n] = round(rate, 1)
            print(f"workers={n}: {rate:.1f} jobs/s (bound {n * per_worker:.0f})", flush=True)
        finally:
            stack.stop()
    one = out[counts[0]] or 1.0
    return {"jobs_per_s": out, "ratio": {n: round(r / one, 2) for n, r in out.items()}}


def part_membership(pg_url, brokers, log_dir, jobs, step):
    """Add a worker, SIGKILL one, stop one, under load; every job counted once."""
    keys = tenants(pg_url)
    stack = make_stack(pg_url, brokers, log_dir, "member", 2)
    events = {}
    try:
        start_front(stack)
        ids = backlog(stack, keys, jobs)
        counter = Counter(stack)
        for w in stack.workers:
            start_worker(stack, w)
        time.sleep(step)
        third = add_worker(stack)
        events["added"] = time.time() - counter.t0
        third.start()
        time.sleep(step * 2)
        events["killed"] = time.time() - counter.t0
        stack.workers[0].kill()
        time.sleep(step * 1.5)
        events["stopped"] = time.time() - counter.t0
        stack.workers[1].stop()
        with psycopg.connect(pg_url, autocommit=True) as db:
            deadline = time.time() + 180
            while time.time() < deadline:
                done, usage = db.execute(
                    "SELECT (SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND status = 'succeeded'),"
                    " (SELECT count(*) FROM usage_events WHERE job_id = ANY(%s::uuid[]))", (ids, ids)).fetchone()
                if done == jobs and usage == jobs:
                    break
                time.sleep(0.5)
            dup = db.execute("SELECT count(*) FROM (SELECT job_id FROM usage_events WHERE job_id = ANY(%s::uuid[])"
                             " GROUP BY 1 HAVING count(*) > 1) d", (ids,)).fetchone()[0]
        events["end"] = time.time() - counter.t0
        counter.stop()
        out = {"jobs": jobs, "succeeded": done, "usage_rows": usage, "counted_twice": dup,
               "pause_after_add_s": counter.longest_pause(events["added"], events["killed"]),
               "pause_after_kill_s": counter.longest_pause(events["killed"], events["stopped"]),
               "pause_after_stop_s": counter.longest_pause(events["stopped"],
                                                           min(events["stopped"] + 3 * step, events["end"])),
               "rate_2_workers": round(counter.rate(1.0, events["added"]), 1),
               "rate_3_workers": round(counter.rate(events["added"] + step, events["killed"]), 1),
               "drained_s": round(events["end"], 1)}
        print(f"membership: {json.dumps(out)}", flush=True)
        return out
    finally:
        stack.stop()


def drain(stack, jobs):
    """Start the stack's first worker on a queued backlog and wait (up to 120 s) until it has
    finished jobs: its Counter, the jobs per second from its first completion to its last, and
    the deadline."""
    counter = Counter(stack, every=0.05)
    start_worker(stack, stack.workers[0])
    deadline = time.time() + 120
    while counter.total() < jobs and time.time() < deadline:
        time.sleep(0.1)
    counter.stop()
    first = next(t for t, n in counter.samples if n > 0)
    last = next(t for t, n in counter.samples if n >= counter.total())
    return counter, round(counter.rate(first, last), 1), deadline


def part_one_tenant(pg_url, brokers, log_dir, jobs):
    """One tenant, one worker, an instant provider: the tenant's ceiling on one worker."""
    tenant_id, key = create_tenant(pg_url)
    stack = make_stack(pg_url, brokers, log_dir, "onetenant", 1, slots=1024, provider_ms=0)
    try:
        start_front(stack)
        o0, i0, t0 = others_cpu(), cpu_s(stack.ingest), time.time()
        backlog(stack, [key], jobs, threads=32)
        o1, i1, t1 = others_cpu(), cpu_s(stack.ingest), time.time()
        s1 = cpu_s(stack.sink)
        with psycopg.connect(pg_url, autocommit=True) as db:
            wal0 = db.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
        counter, rate, deadline = drain(stack, jobs)
        with psycopg.connect(pg_url, autocommit=True) as db:  # the sink's share: until all are stored
            while time.time() < deadline and db.execute(
                    "SELECT count(*) FROM usage_events WHERE tenant_id = %s", (tenant_id,)).fetchone()[0] < jobs:
                time.sleep(0.2)
            wal = db.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", (wal0,)).fetchone()[0]
        o2 = others_cpu()
        per_job = lambda s: round(s * 1e6 / jobs)  # noqa: E731  (µs)
        out = {"jobs_per_s": rate, "jobs": jobs, "submitted_per_s": round(jobs / (t1 - t0)),
               "cpu_us_per_job_submit": {"ingest": per_job(i1 - i0), "broker": per_job(o1["broker"] - o0["broker"]),
                                         "postgres": per_job(o1["postgres"] - o0["postgres"])},
               "cpu_us_per_job_drain": {"worker": per_job(cpu_s(stack.workers[0])),
                                        "sink": per_job(cpu_s(stack.sink) - s1),
                                        "broker": per_job(o2["broker"] - o1["broker"]),
                                        "postgres": per_job(o2["postgres"] - o1["postgres"])},
               "wal_bytes_per_job": round(float(wal) / jobs),
               "kafka_bytes_per_job": kafka_bytes(stack.prefix, jobs)}
        print(f"one tenant on one worker: {json.dumps(out)}", flush=True)
        return out
    finally:
        stack.stop()


def metric(w, name):
    """One unlabelled gauge or counter of a worker (None when it does not answer)."""
    try:
        text = requests.get(f"http://127.0.0.1:{w.settings['admin.port']}/metrics", timeout=2).text
    except requests.RequestException:
        return None
    m = re.search(rf"^{name} (\S+)", text, re.M)
    return float(m.group(1)) if m else None


def rss_mb(d):
    with open(f"/proc/{d.proc.pid}/status") as f:
        return round(int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1)) / 1024, 1)


def part_one_worker(pg_url, brokers, log_dir, jobs, held):
    """One worker: completions per second with an instant provider, then how many jobs it holds
    in flight against a slow provider and what that costs in memory."""
    keys = tenants(pg_url)
    stack = make_stack(pg_url, brokers, log_dir, "oneworker", 1, slots=4096, provider_ms=0)
    stack.workers[0].settings.update({"worker.tenant_queue_max": 4096, "worker.max_queued": 50000})
    try:
        start_front(stack)
        backlog(stack, keys, jobs, threads=32)
        counter, rate, _ = drain(stack, jobs)
        instant = {"jobs": jobs, "succeeded": counter.total(), "jobs_per_s": rate,
                   "worker_cpu_us_per_job": round(cpu_s(stack.workers[0]) * 1e6 / jobs),
                   "rss_mb_after": rss_mb(stack.workers[0])}
        print(f"one worker, instant provider: {json.dumps(instant)}", flush=True)
    finally:
        stack.stop()
    held_runs = [hold_in_flight(pg_url, brokers, log_dir, keys, n) for n in (10000, held)]
    return {"instant_provider": instant, "held_in_flight": held_runs}


def hold_in_flight(pg_url, brokers, log_dir, keys, jobs, provider_ms=15000):
    """One worker with 20,000 slots takes a backlog of jobs against a provider that takes
    provider_ms: the most in flight at once, its RSS then, and every job answered. Its queue
    is short, so the jobs it holds are the ones in flight (the rest waits in Kafka)."""
    stack = make_stack(pg_url, brokers, log_dir, f"held{jobs}", 1, slots=20000, provider_ms=provider_ms)
    stack.workers[0].settings.update({"worker.max_queued": 256})
    try:
        start_front(stack)
        backlog(stack, keys, jobs, threads=32)
        start_worker(stack, stack.workers[0])
        rss0 = rss_mb(stack.workers[0])
        peak, rss_peak, done, t0 = 0, rss0, 0, time.time()
        while time.time() < t0 + provider_ms / 1000 + 60 and done < jobs:
            n = metric(stack.workers[0], "llmq_worker_inflight_jobs") or 0
            peak, rss_peak = max(peak, n), max(rss_peak, rss_mb(stack.workers[0]))
            done = succeeded(stack.workers[0]) or done
            time.sleep(0.2)
        out = {"jobs": jobs, "provider_ms": provider_ms, "peak_in_flight": int(peak), "rss_mb_idle": rss0,
               "rss_mb_peak": rss_peak, "kb_per_job_held": round((rss_peak - rss0) * 1024 / max(peak, 1), 1),
               "succeeded": done}
        print(f"one worker, jobs held in flight: {json.dumps(out)}", flush=True)
        return out
    finally:
        stack.stop()


def cpu_of(match):
    """CPU seconds used so far by every process whose command line contains one of match."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            if not any(m in cmd for m in match):
                continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


def kafka_bytes(prefix, jobs):
    """Bytes per job in each of the stack's topics (log segments on disk), when the broker's data
    folder is known (SCALE_KAFKA_DATA)."""
    data = os.environ.get("SCALE_KAFKA_DATA")
    if not data or not os.path.isdir(data):
        return None
    out = {}
    for d in os.listdir(data):
        if not d.startswith(prefix + "."):
            continue
        topic = d[len(prefix) + 1:].rsplit("-", 1)[0]
        size = sum(os.path.getsize(os.path.join(data, d, f)) for f in os.listdir(os.path.join(data, d))
                   if f.endswith(".log"))
        out[topic] = out.get(topic, 0) + size
    return {t: round(b / jobs) for t, b in sorted(out.items()) if b}


def others_cpu():
    """The broker's and PostgreSQL's CPU seconds so far."""
    # (server processes only: a client's command line may hold a postgresql:// URL)
    return {"broker": cpu_of(["kafka.Kafka"]), "postgres": cpu_of(["postgres: ", "/bin/postgres "])}


def cpu_s(d):
    with open(f"/proc/{d.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def part_two_ingest(pg_url, brokers, log_dir, requests_n):
    """Two ingest nodes sharing one port: both serve, every answer is right."""
    (key,) = tenants(pg_url, 1)
    stack = make_stack(pg_url, brokers, log_dir, "twoingest", 2, slots=256, provider_ms=5)
    second = Daemon(f"{stack.prefix}-ingest2", "llmq-ingest",
                    {**stack.ingest.settings, "ingest.node_id": f"{stack.prefix}-n2"},
                    os.path.dirname(stack.ingest.log_path))
    try:
        stack.start()
        second.start()
        time.sleep(2)
        assert second.proc.poll() is None, second.log_text()[-2000:]

        def call(i):
            with requests.Session() as s:  # a connection each: the kernel picks a node per connection
                r = s.post(f"{stack.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                           json={"model": "mock", "messages": [{"role": "user", "content": f"hi {i}"}]},
                           timeout=30)
                return r.status_code == 200 and r.json()["choices"][0]["message"]["content"] != ""

        before = [cpu_s(d) for d in (stack.ingest, second)]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            ok = sum(pool.map(call, range(requests_n)))
        used = [round(cpu_s(d) - b, 2) for d, b in zip((stack.ingest, second), before)]
        print(f"two ingest nodes on one port: {ok}/{requests_n} answered, CPU s per node {used}", flush=True)
        return {"requests": requests_n, "answered": ok, "node_cpu_s": used}
    finally:
        second.stop()
        stack.stop()


def main():
    pg_url, brokers, log_dir = sys.argv[1:4]
    quick = "--quick" in sys.argv
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    os.makedirs(log_dir, exist_ok=True)
    result = {"provider_ms": PROVIDER_MS, "slots_per_worker": SLOTS, "partitions": PARTITIONS}
    if only:  # one part, e.g. --only one_tenant
        result[only] = {"workers": lambda: part_workers(pg_url, brokers, log_dir, [1, 2, 4], 10),
                        "membership": lambda: part_membership(pg_url, brokers, log_dir, 4500, 4),
                        "one_tenant": lambda: part_one_tenant(pg_url, brokers, log_dir, 20000),
                        "two_ingest": lambda: part_two_ingest(pg_url, brokers, log_dir, 2000),
                        "one_worker": lambda: part_one_worker(pg_url, brokers, log_dir, 40000, 21000)}[only]()
    elif quick:
        result["workers"] = part_workers(pg_url, brokers, log_dir, [1, 2], 5)
        result["membership"] = part_membership(pg_url, brokers, log_dir, 3000, 3)
    else:
        result["workers"] = part_workers(pg_url, brokers, log_dir, [1, 2, 4], 10)
        result["membership"] = part_membership(pg_url, brokers, log_dir, 4500, 4)
        result["one_tenant"] = part_one_tenant(pg_url, brokers, log_dir, 20000)
        result["two_ingest"] = part_two_ingest(pg_url, brokers, log_dir, 2000)
        result["one_worker"] = part_one_worker(pg_url, brokers, log_dir, 40000, 21000)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
