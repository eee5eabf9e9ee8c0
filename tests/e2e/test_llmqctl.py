"""llmqctl's command line as its table of commands answers it (usage, unknown commands and
options, missing arguments named), and dead letters replayed onto their tenant's partition."""
import os
import subprocess
import time
import uuid
import zlib

import pytest
import requests
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from conftest import BUILD, create_tenant, openai_stack, wait_job
from fake_providers import OpenAIServer

CTL = os.path.join(BUILD, "llmqctl")
# nothing listens there: a command refused before it connects exits 2, one that tried exits 1
NO_PG = "postgresql://127.0.0.1:9/none?connect_timeout=2"
PARTITIONS = 4

COMMANDS = ["migrate", "tenant create", "tenant list", "tenant set", "tenant disable", "tenant enable",
            "project create", "project list", "project disable", "user create", "user list",
            "user disable", "key create", "key list", "key revoke", "provider-key set",
            "provider-key list", "provider-key revoke", "provider-key rotate", "policy set",
            "policy show", "audit list", "audit verify", "conversations purge", "topics create",
            "dlq replay"]


def ctl(*args):
    return subprocess.run([CTL, "--pg", NO_PG, *args], capture_output=True, text=True, timeout=30)


def test_help_lists_every_command():
    r = ctl("--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: llmqctl"), r
    for command in COMMANDS:
        assert f"\n  {command}" in r.stdout, command
    r = ctl("key", "create", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: llmqctl key create --tenant T [--role R]"), r


@pytest.mark.parametrize("args, missing", [
    (["key", "create", "--role", "owner"], "--tenant"),
    (["key", "list"], "--tenant"),
    (["key", "revoke"], "KEY_ID"),
    (["tenant", "create", "--name", "Acme"], "ID"),
    (["project", "create", "--tenant", "acme"], "ID"),
    (["user", "create", "ann", "--role", "owner"], "--tenant"),
    (["provider-key", "set", "--tenant", "acme"], "--endpoint"),
    (["provider-key", "rotate", "--old-key-file", "old.key"], "--new-key-file"),
    (["policy", "set", "--tenant", "acme"], "JSON"),
    (["audit", "list"], "--tenant"),
])
def test_a_missing_argument_is_named_with_the_commands_usage(args, missing):
    r = ctl(*args)
    command = " ".join(args[:2])
    assert r.returncode == 2, r
    assert f"llmqctl: {command}: missing {missing}\n" in r.stderr, r.stderr
    assert f"usage: llmqctl {command} " in r.stderr, r.stderr


def test_unknown_commands_options_and_arguments_are_refused():
    r = ctl("key", "frobnicate", "--tenant", "acme")
    assert r.returncode == 2 and "unknown command: key frobnicate" in r.stderr, r
    assert "\n  key create --tenant T" in r.stderr and "\n  dlq replay" in r.stderr  # the usage text
    r = ctl("key", "list", "--tenant", "acme", "--tennant", "acme")
    assert r.returncode == 2 and "llmqctl: key list: unknown option --tennant" in r.stderr, r
    r = ctl("tenant", "create", "acme", "extra")
    assert r.returncode == 2 and "llmqctl: tenant create: unexpected argument extra" in r.stderr, r
    r = ctl("key", "create", "--tenant")
    assert r.returncode == 2 and "--tenant needs a value" in r.stderr, r
    # a complete command line gets as far as the database
    assert ctl("key", "list", "--tenant", "acme").returncode == 1


def murmur2(data):
    """Kafka's murmur2 (its Java client's default partitioner hashes keys with it), unsigned."""
    m, seed = 0x5BD1E995, 0x9747B28C
    h = (seed ^ len(data)) & 0xFFFFFFFF
    whole = len(data) & ~3
    for i in range(0, whole, 4):
        k = (int.from_bytes(data[i:i + 4], "little") * m) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[whole:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h = ((h ^ tail[0]) * m) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


def kafka_partition(key, partitions):
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def test_murmur2_is_kafkas():
    # Apache Kafka's own expectations for Utils.murmur2 (signed 32-bit there)
    for data, want in [(b"21", -973932308), (b"foobar", -790332482),
                       (b"a-little-bit-long-string", -985981536), (b"abc", 479470107)]:
        assert murmur2(data) - (1 << 32 if murmur2(data) >= 1 << 31 else 0) == want, data


def tenants_librdkafkas_default_misplaces(n):
    """n new tenant ids whose partition under Kafka's partitioner (murmur2) differs from the
    one librdkafka's default partitioner (consistent_random: CRC-32) picks: a record keyed by
    one of them lands elsewhere unless its producer uses murmur2."""
    found = []
    while len(found) < n:
        t = "t" + uuid.uuid4().hex[:10]
        if kafka_partition(t, PARTITIONS) != zlib.crc32(t.encode()) % PARTITIONS:
            found.append(t)
    return found


def partitions_of(brokers, topic, keys, want, seconds=30):
    """{key: [partition of each record with that key]} from the whole topic, read until every
    key has `want` records."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": "partition-check-" + uuid.uuid4().hex,
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    found = {k: [] for k in keys}
    deadline = time.time() + seconds
    try:
        while time.time() < deadline and any(len(v) < want for v in found.values()):
            m = c.poll(0.5)
            if m is not None and not m.error() and m.key() and m.key().decode() in found:
                found[m.key().decode()].append(m.partition())
    finally:
        c.close()
    return found


@pytest.fixture(scope="module")
def fake():
    f = OpenAIServer()
    yield f
    f.close()


def test_replayed_dead_letter_lands_on_its_tenants_partition(pg_url, brokers, log_dir, fake):
    s = openai_stack(pg_url, brokers, log_dir, fake, "replaypart", partitions=PARTITIONS,
                     worker_settings={"provider.max_attempts": 1})
    try:
        keys = {t: create_tenant(pg_url, t)[1] for t in tenants_librdkafkas_default_misplaces(3)}
        jobs = {}
        fake.down = True
        try:
            for t, key in keys.items():
                r = requests.post(f"{s.url}/v1/jobs", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                                  json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": t}]})
                assert r.status_code == 202, r.text
                jobs[t] = r.json()["id"]
            for t, job_id in jobs.items():
                assert wait_job(s.url, keys[t], job_id, seconds=60)["status"] == "failed"
        finally:
            fake.down = False
        r = subprocess.run([CTL, "--brokers", brokers, "dlq", "replay", "--prefix", s.prefix,
                            "--group", s.prefix + "-replay"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert all(job_id in r.stdout for job_id in jobs.values()) and "replayed 3 request(s)" in r.stdout, r
        for t, job_id in jobs.items():
            assert wait_job(s.url, keys[t], job_id, want=("succeeded",))["status"] == "succeeded"
        # each tenant's request and its replay, both on the partition Kafka's partitioner picks
        found = partitions_of(brokers, f"{s.prefix}.requests", keys, 2)
        for t in keys:
            assert found[t] == [kafka_partition(t, PARTITIONS)] * 2, (t, found[t])
    finally:
        s.stop()


def test_a_replay_ends_even_when_its_copies_fail_again(pg_url, brokers, log_dir, fake):
    """A replay handles what the dead-letter topic held when it started: copies that fail again
    (the provider is still down) are dead-lettered behind it and wait for the next replay,
    instead of being replayed in a loop that never ends."""
    s = openai_stack(pg_url, brokers, log_dir, fake, "replayloop", worker_settings={"provider.max_attempts": 1})
    tenant, key = create_tenant(pg_url)
    replay = [CTL, "--brokers", brokers, "dlq", "replay", "--prefix", s.prefix, "--group", s.prefix + "-replay"]
    fake.down = True
    try:
        r = requests.post(f"{s.url}/v1/jobs", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                          json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "again"}]})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert wait_job(s.url, key, job_id, seconds=60)["status"] == "failed"
        first = subprocess.run(replay, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        assert "replayed 1 request(s)" in first.stdout, first.stdout[-2000:]
        # the copy failed again and waits in the dead-letter topic for the next replay
        fake.down = False
        second = subprocess.run(replay, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert "replayed 1 request(s)" in second.stdout and "(replay 2)" in second.stdout, second.stdout
        assert wait_job(s.url, key, job_id, want=("succeeded",))["status"] == "succeeded"
    finally:
        fake.down = False
        s.stop()
