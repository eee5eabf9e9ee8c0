"""End-to-end fixtures: a real PostgreSQL, a real Apache Kafka broker and the llmq daemons,
all on loopback, started once per test session (daemons per test where a test needs its own).

Environment:
  LLMQ_BUILD      build folder with the binaries (default <checkout>/build)
  LLMQ_TEST_DIR   where services keep their state (default a temporary folder)
  LLMQ_TEST_BROKERS  use this Kafka instead of starting one
"""
import contextlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import psycopg
import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("LLMQ_BUILD", os.path.join(ROOT, "build"))


_ports_given = set()


def free_port():
    """A port free now and not handed out before by this process: two daemons of one stack
    must never be given the same port (the kernel may offer a just-closed port again; the
    second daemon then cannot listen, and its /readyz is answered by the first)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def run(cmd, env=None, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, **kw)


@pytest.fixture(scope="session")
def state_dir():
    d = os.environ.get("LLMQ_TEST_DIR") or tempfile.mkdtemp(prefix="llmq-test-")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    yield d


@pytest.fixture(scope="session")
def pg_url(state_dir):
    port = free_port()
    pg_dir = os.path.join(state_dir, "pg")
    out = run(["bash", "-c", f'source "{ROOT}/ops/lib.sh"; llmq_pg_start "$1" "$2"', "_", pg_dir, str(port)])
    url = out.stdout.strip().splitlines()[-1]
    run([os.path.join(BUILD, "llmqctl"), "--pg", url, "migrate"])
    yield url
    subprocess.run(["bash", "-c", f'source "{ROOT}/ops/lib.sh"; llmq_pg_stop "$1"', "_", pg_dir])


@pytest.fixture(scope="session")
def brokers(state_dir):
    if os.environ.get("LLMQ_TEST_BROKERS"):
        yield os.environ["LLMQ_TEST_BROKERS"]
        return
    kdir = os.path.join(state_dir, "kafka")
    out = run([os.path.join(ROOT, "ops", "kafka.sh"), "start", kdir], timeout=600)
    bootstrap = out.stdout.strip().splitlines()[-1]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", bootstrap, "topics", "create", "--partitions", "8"])
    yield bootstrap
    subprocess.run([os.path.join(ROOT, "ops", "kafka.sh"), "stop", kdir])


class Daemon:
    """One llmq process with its settings, log file and (for HTTP daemons) port."""

    def __init__(self, name, binary, settings, log_dir, env=None):
        self.name = name
        self.binary = binary
        self.settings = settings
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.env = env
        self.proc = None

    def start(self):
        args = [os.path.join(BUILD, self.binary)]
        for k, v in self.settings.items():
            args += ["--set", f"{k}={v}"]
        env = dict(os.environ)
        env.update(self.env or {})
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def kill(self):
        return self.stop(signal.SIGKILL)

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class Stack:
    """ingest + workers + sink sharing one set of topics, PostgreSQL and Kafka."""

    def __init__(self, pg_url, brokers, log_dir, prefix="llmq", workers=1, worker_settings=None,
                 ingest_settings=None, sink_settings=None, worker_env=None):
        self.pg_url = pg_url
        self.brokers = brokers
        self.prefix = prefix
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        common = {
            "kafka.brokers": brokers,
            "pg.url": pg_url,
            "topic.requests": f"{prefix}.requests",
            "topic.responses": f"{prefix}.responses",
            "topic.usage": f"{prefix}.usage",
            "topic.traces": f"{prefix}.traces",
            "topic.dlq": f"{prefix}.requests.dlq",
            "topic.cancels": f"{prefix}.cancels",
            "topic.batch": f"{prefix}.requests.batch",
            "topic.replies_prefix": f"{prefix}.replies.",
        }
        self.sink = Daemon(f"{prefix}-sink", "llmq-sink",
                           {**common, "sink.group": f"{prefix}-sinks", "admin.port": free_port(),
                            **(sink_settings or {})}, log_dir)
        self.workers = []
        for i in range(workers):
            self.workers.append(Daemon(f"{prefix}-worker{i}", "llmq-worker",
                                       {**common, "worker.group": f"{prefix}-workers",
                                        "worker.id": f"{prefix}-w{i}", "admin.port": free_port(),
                                        "topic.deferred": f"{prefix}.requests.deferred",
                                        **(worker_settings or {})}, log_dir, env=worker_env))
        self.ingest = Daemon(f"{prefix}-ingest", "llmq-ingest",
                             {**common, "http.port": self.port, "ingest.node_id": f"{prefix}-n1",
                              **(ingest_settings or {})}, log_dir)

    def start(self, wait_workers=True):
        self.sink.start()
        for w in self.workers:
            w.start()
        self.ingest.start()
        wait_http(f"{self.url}/readyz", 60, self.ingest)
        if wait_workers:
            for w in self.workers:
                wait_http(f"http://127.0.0.1:{w.settings['admin.port']}/readyz", 60, w)
        return self

    def stop(self):
        self.ingest.stop()
        for w in self.workers:
            w.stop()
        self.sink.stop()


def openai_stack(pg_url, brokers, log_dir, fake, name, partitions=1, worker_settings=None,
                 ingest_settings=None):
    """A stack with its own topics whose worker sends every non-mock model to the fake
    OpenAI-compatible server `fake` (started; the caller stops it)."""
    prefix = name + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions",
         str(partitions), "--prefix", prefix])
    return Stack(pg_url, brokers, log_dir, prefix=prefix,
                 worker_settings={"openai.base_url": fake.base_url, **(worker_settings or {})},
                 ingest_settings=ingest_settings,
                 worker_env={"LLMQ_OPENAI_API_KEY": fake.api_key}).start()


@contextlib.contextmanager
def own_stack(pg_url, brokers, log_dir, name, ingest_settings):
    """A stack on topics of its own, its ingest node set up as given; yields (stack, key)."""
    prefix = name + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "1",
         "--prefix", prefix])
    s = Stack(pg_url, brokers, log_dir, prefix=prefix, ingest_settings=ingest_settings).start()
    try:
        yield s, create_tenant(pg_url)[1]
    finally:
        s.stop()


def wait_http(url, seconds, daemon=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if daemon and daemon.proc and daemon.proc.poll() is not None:
            raise AssertionError(f"{daemon.name} exited:\n{daemon.log_text()[-3000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready after {seconds}s" +
                         (f"\n{daemon.log_text()[-3000:]}" if daemon else ""))


def create_tenant(pg_url, tenant=None):
    """A fresh tenant (in the tier `unlimited`, as every tenant created without a tier) and an
    API key; returns (tenant_id, key)."""
    tenant = tenant or "t" + uuid.uuid4().hex[:10]
    ctl = os.path.join(BUILD, "llmqctl")
    run([ctl, "--pg", pg_url, "tenant", "create", tenant])
    key = run([ctl, "--pg", pg_url, "key", "create", "--tenant", tenant]).stdout.strip()
    return tenant, key


@pytest.fixture(scope="session")
def log_dir(state_dir):
    d = os.path.join(state_dir, "logs")
    os.makedirs(d, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def stack(pg_url, brokers, log_dir):
    s = Stack(pg_url, brokers, log_dir, prefix="llmq").start()
    yield s
    s.stop()


@pytest.fixture()
def tenant(pg_url):
    return create_tenant(pg_url)


@pytest.fixture()
def db(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


def poll(probe, done, seconds, interval=0.1):
    """Call probe() until done(value) is true or `seconds` pass; return the last value, for the
    caller to assert on (so a timeout fails with the value that was seen)."""
    deadline = time.time() + seconds
    while True:
        value = probe()
        if done(value) or time.time() >= deadline:
            return value
        time.sleep(interval)


def metric(url, name, default=None):
    """The value of the first sample of metric `name` (a regular expression; any labels) that
    the daemon at url shows on /metrics; `default` when it shows none."""
    text = requests.get(f"{url}/metrics", timeout=5).text
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else default


def count_jobs(db, ids, status):
    return db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND status = %s",
                      (ids, status)).fetchone()[0]


def count_usage(db, ids):
    return db.execute("SELECT count(*) FROM usage_events WHERE job_id = ANY(%s::uuid[])",
                      (ids,)).fetchone()[0]


def wait_job(url, key, job_id, seconds=30, want=("succeeded", "failed", "cancelled")):
    """Poll GET /v1/jobs/{id} until the job's status is one of `want`; return the job."""
    r = poll(lambda: requests.get(f"{url}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"},
                                  timeout=5),
             lambda r: r.status_code == 200 and r.json()["status"] in want, seconds)
    assert r.status_code == 200 and r.json()["status"] in want, f"job {job_id} not final: {r.status_code} {r.text}"
    return r.json()
