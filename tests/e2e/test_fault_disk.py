"""The disk under PostgreSQL full (docs/reliability.md): PostgreSQL's data folder lives on a
small tmpfs, which is filled up under async load. The sink cannot commit its batches, so it
commits no offset and the backlog waits in Kafka; requests go on being accepted; when space
returns (and PostgreSQL with it, if it had to stop), the sink catches up: every accepted job
final, each counted once."""
import errno
import os
import subprocess
import time
import uuid

import psycopg
import pytest
import requests

from conftest import BUILD, Stack, create_tenant, free_port, metric, poll, run
from test_fault_postgres import AsyncLoad, assert_each_counted_once, pg

DISK_MB = 320  # room for initdb (~40 MB), WAL segments and a few thousand jobs
FULL_S = int(os.environ.get("LLMQ_DISK_FULL_S", "15"))


def fill(path):
    """Write path until the disk is full; returns the bytes written."""
    chunk, n = b"\0" * (1 << 20), 0
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                n += f.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
    # what is left of the last MiB, byte pages at a time
    with open(path, "ab", buffering=0) as f:
        try:
            while True:
                n += f.write(b"\0" * 4096)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
    return n


def pg_running(pg_dir):
    return subprocess.run(["bash", "-c", 'pg_ctl=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1); '
                           'runuser -u postgres -- "$pg_ctl" -D "$1" status >/dev/null', "_",
                           os.path.join(pg_dir, "data")]).returncode == 0


@pytest.fixture
def small_disk(state_dir):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = os.path.join(state_dir, f"pg-small-disk-{uuid.uuid4().hex[:6]}")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=0755", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", mnt])


def test_a_full_disk_under_postgres_loses_nothing(brokers, log_dir, small_disk):
    pg_dir = os.path.join(small_disk, "pg")
    port = free_port()
    url = pg("start", pg_dir, port)
    run([os.path.join(BUILD, "llmqctl"), "--pg", url, "migrate"])
    prefix = "diskfull" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "2",
         "--prefix", prefix])
    stack = Stack(url, brokers, log_dir, prefix=prefix, worker_settings={"mock.latency_ms": 20}).start()
    filler = os.path.join(small_disk, "filler")
    sink_metrics = f"http://127.0.0.1:{stack.sink.settings['admin.port']}"
    load = None
    try:
        tenant, key = create_tenant(url)
        auth = {"Authorization": f"Bearer {key}"}
        body = {"model": "mock", "messages": [{"role": "user", "content": "onto a full disk"}]}
        assert requests.post(f"{stack.url}/v1/jobs", headers=auth, json=body, timeout=30).status_code == 202
        load = AsyncLoad(stack.url, auth, body, pause=0.01)
        accepted, refused = load.accepted, load.refused
        time.sleep(3)
        failures_before = metric(sink_metrics, "llmq_sink_write_failures_total") or 0
        filled = fill(filler)
        full_at = time.time()
        during = len(accepted)
        with psycopg.connect(url, autocommit=True) as db:
            rows_full = db.execute("SELECT count(*) FROM usage_events").fetchone()[0]
        # the sink's writes fail from here: its failures count, its usage rows stop
        assert poll(lambda: (metric(sink_metrics, "llmq_sink_write_failures_total") or 0) - failures_before,
                    lambda v: v > 0, FULL_S + 10) > 0, "the sink never failed to write on a full disk"
        time.sleep(max(0, FULL_S - (time.time() - full_at)))
        accepted_while_full = len(accepted) - during
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=3) as db:
                rows_late = db.execute("SELECT count(*) FROM usage_events").fetchone()[0]
        except psycopg.OperationalError:
            rows_late = None  # PostgreSQL stopped itself: it could not write its WAL
        os.unlink(filler)
        back_at = time.time()
        restarted = False
        if not pg_running(pg_dir):
            restarted = True
            pg("start", pg_dir, port)
        time.sleep(2)
        load.stop()
        assert accepted_while_full > 0, "nothing was accepted while the disk was full"
        assert all(r.status_code == 503 for r in refused), {r.status_code for r in refused}
        ids = [r.json()["id"] for r in accepted]
        with psycopg.connect(url, autocommit=True) as db:
            usage = lambda: db.execute("SELECT count(*) FROM usage_events WHERE job_id = ANY(%s::uuid[])",
                                       (ids,)).fetchone()[0]
            n = poll(usage, lambda v: v == len(ids), 90, interval=0.5)
            caught_up = time.time() - back_at
            print(f"disk {DISK_MB} MB filled with {filled >> 20} MiB; full {FULL_S}s: accepted {len(ids)} "
                  f"({accepted_while_full} while full), refused {len(refused)}; usage rows {rows_full} when "
                  f"full, {rows_late} at its end; PostgreSQL {'restarted' if restarted else 'stayed up'}; "
                  f"persisted {n}, caught up {caught_up:.1f}s after space returned")
            assert n == len(ids)
            assert_each_counted_once(db, ids)
        assert caught_up <= 60, caught_up
    finally:
        if load:
            load.stop()
        stack.stop()
        if os.path.exists(filler):
            os.unlink(filler)
        pg("stop", pg_dir)
