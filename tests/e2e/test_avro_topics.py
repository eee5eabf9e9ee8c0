"""The Kafka topics as a batch consumer sees them, read with independent clients
(confluent-kafka and fastavro): Avro single-object encoding, fingerprints, keys."""
import io
import json
import os
import struct
import time
import uuid

import fastavro
import requests
from confluent_kafka import Consumer
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from conftest import ROOT, create_tenant, poll, wait_job

SCHEMAS = {name: parse_schema(json.load(open(os.path.join(ROOT, "schemas", f"{name}.avsc"))))
           for name in ("chat_request", "chat_response", "usage_event", "trace_event")}


def fp_of(schema):
    # fastavro writes the fingerprint's bytes little-endian, as single-object encoding does
    return int.from_bytes(bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")), "little")


def decode(value, schema):
    assert value[:2] == b"\xc3\x01", "not Avro single-object encoding"
    (fp,) = struct.unpack("<Q", value[2:10])
    assert fp == fp_of(schema), "fingerprint is not CRC-64-AVRO of the schema's canonical form"
    return fastavro.schemaless_reader(io.BytesIO(value[10:]), schema)


def read_topic(brokers, topic, want, seconds=30):
    c = Consumer({"bootstrap.servers": brokers, "group.id": "avro-check-" + uuid.uuid4().hex,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    found = []
    deadline = time.time() + seconds
    try:
        while time.time() < deadline and not want(found):
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            found.append(m)
    finally:
        c.close()
    return found


def test_topics_readable_by_independent_avro_reader(stack, brokers):
    tenant_id, key = create_tenant(stack.pg_url)
    r = requests.post(f"{stack.url}/v1/jobs", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "mock", "max_tokens": 5, "temperature": 0.3,
                            "messages": [{"role": "user", "content": "avro"}], "tools": []})
    job_id = r.json()["id"]
    wait_job(stack.url, key, job_id)

    def has(topic, schema, n=1):
        msgs = read_topic(brokers, topic, lambda ms: sum(
            m.key() == tenant_id.encode() and decode(m.value(), schema)["job_id"] == job_id for m in ms) >= n)
        return [(m, decode(m.value(), schema)) for m in msgs
                if m.key() == tenant_id.encode() and decode(m.value(), schema)["job_id"] == job_id]

    req = has("llmq.requests", SCHEMAS["chat_request"])
    assert len(req) == 1
    rec = req[0][1]
    assert rec["tenant_id"] == tenant_id and rec["mode"] == "ASYNC" and rec["model"] == "mock"
    assert rec["max_tokens"] == 5 and abs(rec["temperature"] - 0.3) < 1e-9
    assert rec["messages"][0] == {"role": "user", "content": "avro", "content_json": None,
                                  "name": None, "extra_json": None}
    assert json.loads(rec["extra_json"]) == {"tools": []}

    responses = [rec for _, rec in has("llmq.responses", SCHEMAS["chat_response"], 2)]
    statuses = [rec["status"] for rec in responses]
    assert "RUNNING" in statuses and "SUCCEEDED" in statuses
    assert all(rec["usage"] is None and rec["trace"] is None
               for rec in responses if rec["status"] == "RUNNING")

    # the final response carries the job's usage and trace: one record for the sinks
    final = next(rec for rec in responses if rec["status"] == "SUCCEEDED")
    usage = final["usage"]
    assert usage["completion_tokens"] == 5 and usage["event_id"] == job_id
    assert usage["cost_usd"] == 0.0  # the mock is in the price table, at zero
    assert [s["name"] for s in final["trace"]["spans"]] == ["queue", "provider", "attempt"]
    assert final["trace"]["trace_id"] == job_id and final["trace"]["status"] == "SUCCEEDED"
    # the queue span split into hops (ms; one machine's clock here): to the producer, through
    # Kafka, in the worker's queue; they add up to the span (each truncated to the ms)
    queue = final["trace"]["spans"][0]
    hops = [int(queue["attrs"][k]) for k in ("admission_ms", "kafka_ms", "worker_wait_ms")]
    assert all(h >= 0 for h in hops) and abs(sum(hops) - queue["duration_ms"]) <= 2, queue


def test_event_topics_on_request(pg_url, brokers, log_dir, db):
    """worker.event_topics: usage and trace on their own topics too, for their consumers; the
    sink, reading both copies, stores each row once."""
    import subprocess
    from conftest import BUILD, Stack
    prefix = "events" + uuid.uuid4().hex[:6]
    subprocess.run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create",
                    "--partitions", "1", "--prefix", prefix], check=True, capture_output=True)
    s = Stack(pg_url, brokers, log_dir, prefix=prefix,
              worker_settings={"worker.event_topics": "true"}).start()
    try:
        tenant_id, key = create_tenant(pg_url)
        r = requests.post(f"{s.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                          json={"model": "mock", "max_tokens": 4,
                                "messages": [{"role": "user", "content": "events"}]})
        assert r.status_code == 200, r.text
        job_id = r.headers["x-llmq-job-id"]

        def one(topic, schema):
            msgs = read_topic(brokers, topic, lambda ms: any(
                decode(m.value(), schema)["job_id"] == job_id for m in ms))
            return [decode(m.value(), schema) for m in msgs
                    if decode(m.value(), schema)["job_id"] == job_id]

        usage = one(f"{prefix}.usage", SCHEMAS["usage_event"])
        assert len(usage) == 1 and usage[0]["completion_tokens"] == 4
        trace = one(f"{prefix}.traces", SCHEMAS["trace_event"])
        assert len(trace) == 1 and trace[0]["spans"][0]["name"] == "queue"
        final = [rec for rec in one(f"{prefix}.responses", SCHEMAS["chat_response"])
                 if rec["status"] == "SUCCEEDED"]
        assert final[0]["usage"] == usage[0]
        count = "SELECT count(*) FROM {} WHERE job_id = %s"
        assert poll(lambda: db.execute(count.format("traces"), (job_id,)).fetchone()[0],
                    lambda n: n >= 1, 30) == 1
        time.sleep(2)  # the sink reads the four topics in one consumer: both copies are in
        assert db.execute(count.format("usage_events"), (job_id,)).fetchone()[0] == 1
        assert db.execute(count.format("traces"), (job_id,)).fetchone()[0] == 1
    finally:
        s.stop()


def test_fingerprints_match_an_independent_implementation():
    """Our C canonical form + CRC-64-AVRO equals fastavro's for every shipped schema."""
    import subprocess
    from conftest import BUILD
    out = subprocess.run([os.path.join(BUILD, "tests", "test_codec"), "--print-fingerprints"],
                         capture_output=True, text=True, check=True).stdout
    ours = dict(line.split() for line in out.splitlines() if line.strip())
    for name, schema in SCHEMAS.items():
        assert int(ours[name], 16) == fp_of(schema), name


def test_reply_topic_keeps_an_hour(stack, brokers):
    """Each ingest node creates its reply topic with a short retention."""
    from confluent_kafka.admin import AdminClient, ConfigResource
    admin = AdminClient({"bootstrap.servers": brokers})
    res = ConfigResource(ConfigResource.Type.TOPIC, "llmq.replies.llmq-n1")
    cfg = admin.describe_configs([res])[res].result(timeout=20)
    assert cfg["retention.ms"].value == "3600000"


def test_record_postgres_refuses_goes_to_dead_letters(stack, brokers, db):
    """A record that decodes but that PostgreSQL refuses (here an event id that is no UUID)
    is kept in dead_letters with the server's message; the records around it are written."""
    from confluent_kafka import Producer
    tenant_id, key = create_tenant(stack.pg_url)
    schema = SCHEMAS["usage_event"]
    header = b"\xc3\x01" + struct.pack("<Q", fp_of(schema))

    def usage(event_id):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, {
            "event_id": event_id, "job_id": event_id, "tenant_id": tenant_id, "project_id": None,
            "api_key_id": None, "model": "mock", "provider": "mock", "provider_model": None,
            "status": "SUCCEEDED", "prompt_tokens": 1, "completion_tokens": 2, "cost_usd": None,
            "latency_ms": 3, "ts_ms": int(time.time() * 1000)})
        return header + buf.getvalue()

    good = [str(uuid.uuid4()) for _ in range(2)]
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 50})
    for event_id in (good[0], "not-a-uuid", good[1]):  # one batch, most likely
        p.produce("llmq.usage", key=tenant_id.encode(), value=usage(event_id))
    assert p.flush(10) == 0
    rows, dead = poll(lambda: (
        db.execute("SELECT count(*) FROM usage_events WHERE tenant_id = %s", (tenant_id,)).fetchone()[0],
        db.execute("SELECT error, payload FROM dead_letters WHERE topic = 'llmq.usage'"
                   " AND convert_from(payload, 'UTF8') LIKE %s", (f'%{tenant_id}%',)).fetchall()),
        lambda v: v[0] == 2 and v[1], 30, 0.2)
    assert rows == 2
    assert len(dead) == 1
    assert "uuid" in dead[0][0]
    assert json.loads(bytes(dead[0][1]))["event_id"] == "not-a-uuid"
