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

    statuses = [rec["status"] for _, rec in has("llmq.responses", SCHEMAS["chat_response"], 2)]
    assert "RUNNING" in statuses and "SUCCEEDED" in statuses

    usage = has("llmq.usage", SCHEMAS["usage_event"])
    assert usage[0][1]["completion_tokens"] == 5 and usage[0][1]["event_id"] == job_id
    assert usage[0][1]["cost_usd"] == 0.0  # the mock is in the price table, at zero

    trace = has("llmq.traces", SCHEMAS["trace_event"])
    assert [s["name"] for s in trace[0][1]["spans"]] == ["queue", "provider", "attempt"]


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
