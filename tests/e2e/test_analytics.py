"""The analytics API end to end: after real traffic (sync, streamed, failing), usage by day,
hour, model and key, the top spenders, error rates and latency percentiles equal what the raw
usage and trace rows say; a viewer reads its tenant's, not another's; a platform key reads any
tenant's and all of them."""
import os
import time

import openai
import pytest
import requests

from conftest import BUILD, create_tenant, poll, run


def ctl(pg_url, *args):
    return run([os.path.join(BUILD, "llmqctl"), "--pg", pg_url, *args])


def get(stack, path, key, **params):
    return requests.get(f"{stack.url}{path}", params=params, headers={"Authorization": f"Bearer {key}"},
                        timeout=10)


@pytest.fixture(scope="module")
def traffic(stack, pg_url):
    """A tenant with two keys and a viewer key; some requests of each kind, written by the sinks."""
    tenant, key = create_tenant(pg_url)
    key2 = ctl(pg_url, "key", "create", "--tenant", tenant).stdout.strip()
    viewer = ctl(pg_url, "key", "create", "--tenant", tenant, "--role", "viewer").stdout.strip()
    c1 = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0)
    c2 = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=key2, max_retries=0)
    for i in range(12):
        c1.chat.completions.create(model="mock", messages=[{"role": "user", "content": f"hello {i} " * (i + 1)}])
    for i in range(5):
        for _ in c2.chat.completions.create(model="mock", stream=True,
                                            messages=[{"role": "user", "content": f"stream {i}"}]):
            pass
    for i in range(3):
        with pytest.raises(openai.BadRequestError):
            c2.chat.completions.create(model="mock-error", messages=[{"role": "user", "content": "x"}])
    return {"tenant": tenant, "key": key, "key2": key2, "viewer": viewer, "n": 20}


def raw(db, tenant, group):
    return {r[0]: r[1:] for r in db.execute(
        f"SELECT {group}, count(*), count(*) FILTER (WHERE status <> 'succeeded'), sum(prompt_tokens),"
        " sum(completion_tokens) FROM usage_events WHERE tenant_id = %s GROUP BY 1", (tenant,)).fetchall()}


def wait_rows(db, tenant, n):
    got = poll(lambda: db.execute("SELECT count(*) FROM usage_events WHERE tenant_id = %s", (tenant,)).fetchone()[0],
               lambda v: v >= n, 30)
    assert got == n
    poll(lambda: db.execute("SELECT count(*) FROM traces WHERE tenant_id = %s", (tenant,)).fetchone()[0],
         lambda v: v >= n, 30)


def test_usage_equals_the_raw_rows(stack, traffic, db):
    t = traffic["tenant"]
    wait_rows(db, t, traffic["n"])
    r = get(stack, "/v1/analytics/usage", traffic["viewer"], bucket_width="total", group_by="model")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list" and body["group_by"] == ["model"]
    got = {x["model"]: (x["requests"], x["failed"], x["prompt_tokens"], x["completion_tokens"]) for x in body["data"]}
    assert got == raw(db, t, "model")
    # by key: the two keys' shares
    r = get(stack, "/v1/analytics/usage", traffic["viewer"], bucket_width="1h", group_by="key")
    by_key = {}
    for x in r.json()["data"]:
        by_key.setdefault(x["api_key_id"], 0)
        by_key[x["api_key_id"]] += x["requests"]
    assert by_key == {k: v[0] for k, v in raw(db, t, "api_key_id::text").items()}
    # by day: today's bucket holds everything
    r = get(stack, "/v1/analytics/usage", traffic["viewer"])
    day = r.json()["data"]
    assert sum(x["requests"] for x in day) == traffic["n"]
    assert all(x["start_time"] % 86400 == 0 for x in day)


def test_top_errors_and_latency(stack, traffic, db):
    t = traffic["tenant"]
    wait_rows(db, t, traffic["n"])
    top = get(stack, "/v1/analytics/top", traffic["viewer"], by="key").json()["data"]
    raw_keys = raw(db, t, "api_key_id::text")
    assert {x["id"]: x["requests"] for x in top} == {k: v[0] for k, v in raw_keys.items()}
    errors = get(stack, "/v1/analytics/errors", traffic["viewer"]).json()["data"]
    e = {(x["provider"], x["model"]): x for x in errors}
    assert e[("mock", "mock-error")]["failed"] == 3 and e[("mock", "mock-error")]["error_rate"] == 1.0
    assert e[("mock", "mock")]["failed"] == 0 and e[("mock", "mock")]["requests"] == 17
    lat = get(stack, "/v1/analytics/latency", traffic["viewer"]).json()["data"]
    m = {x["model"]: x for x in lat}["mock"]
    assert m["latency_ms"]["count"] == 17
    assert 0 <= m["latency_ms"]["p50"] <= m["latency_ms"]["p95"] <= m["latency_ms"]["p99"]
    assert m["ttft_ms"]["count"] == 5  # the streams
    # the percentiles are within 5 % of the traces' own
    totals = sorted(r[0] for r in db.execute(
        "SELECT total_ms FROM traces WHERE tenant_id = %s AND status = 'succeeded'", (t,)).fetchall())
    p50 = totals[int(round(0.5 * (len(totals) - 1)))]
    assert abs(m["latency_ms"]["p50"] - p50) <= max(1.0, 0.06 * p50), (m, totals)


def test_isolation_and_platform(stack, traffic, pg_url, db):
    wait_rows(db, traffic["tenant"], traffic["n"])
    other, other_key = create_tenant(pg_url)
    r = get(stack, "/v1/analytics/usage", other_key, bucket_width="total")
    assert r.status_code == 200 and r.json()["data"] == []
    r = get(stack, "/v1/analytics/usage", other_key, tenant=traffic["tenant"])
    assert r.status_code == 403
    r = get(stack, "/v1/analytics/usage", other_key, group_by="tenant")
    assert r.status_code == 400
    ops, _ = create_tenant(pg_url)
    platform = ctl(pg_url, "key", "create", "--tenant", ops, "--role", "platform").stdout.strip()
    r = get(stack, "/v1/analytics/usage", platform, tenant=traffic["tenant"], bucket_width="total")
    assert r.status_code == 200 and r.json()["data"][0]["requests"] == traffic["n"]
    r = get(stack, "/v1/analytics/top", platform, by="tenant", limit="100")
    assert traffic["tenant"] in [x["id"] for x in r.json()["data"]]
    # bad parameters are named
    r = get(stack, "/v1/analytics/usage", traffic["viewer"], bucket_width="1w")
    assert r.status_code == 400 and "bucket_width" in r.json()["error"]["message"]
    r = get(stack, "/v1/analytics/usage", traffic["viewer"], start_time="yesterday")
    assert r.status_code == 400 and "start_time" in r.json()["error"]["message"]
    r = get(stack, "/v1/analytics/usage", traffic["viewer"], start_time=str(int(time.time()) - 500 * 86400))
    assert r.status_code == 400


def read_ocf(path):
    import fastavro
    with open(path, "rb") as f:
        reader = fastavro.reader(f)
        return reader.writer_schema, list(reader)


def test_exports_read_by_fastavro_equal_the_rows(stack, traffic, pg_url, db, tmp_path):
    """llmqctl export writes Avro object container files, in the topics' schemas, that an
    independent reader reads back as the database's rows."""
    t = traffic["tenant"]
    wait_rows(db, t, traffic["n"])
    common = ["--from", "2000-01-01", "--to", "2100-01-01", "--tenant", t]
    out = tmp_path / "usage.avro"
    r = ctl(pg_url, "export", "usage", *common, "--out", str(out))
    assert f"{traffic['n']} UsageEvent record(s)" in r.stdout
    schema, recs = read_ocf(out)
    assert schema["name"].endswith("UsageEvent")
    rows = db.execute("SELECT event_id::text, job_id::text, model, status, prompt_tokens, completion_tokens,"
                      " (extract(epoch FROM ts) * 1000)::bigint, api_key_id::text FROM usage_events"
                      " WHERE tenant_id = %s ORDER BY ts, event_id", (t,)).fetchall()
    assert [(x["event_id"], x["job_id"], x["model"], x["status"].lower(), x["prompt_tokens"], x["completion_tokens"],
             x["ts_ms"], x["api_key_id"]) for x in recs] == [tuple(r) for r in rows]
    assert all(x["tenant_id"] == t for x in recs)

    out = tmp_path / "traces.avro"
    ctl(pg_url, "export", "traces", *common, "--out", str(out))
    schema, recs = read_ocf(out)
    rows = db.execute("SELECT trace_id::text, total_ms, jsonb_array_length(spans) FROM traces"
                      " WHERE tenant_id = %s ORDER BY created_at, trace_id", (t,)).fetchall()
    assert [(x["trace_id"], x["total_ms"], len(x["spans"])) for x in recs] == [tuple(r) for r in rows]

    out = tmp_path / "jobs.avro"
    ctl(pg_url, "export", "jobs", *common, "--out", str(out))
    schema, recs = read_ocf(out)
    rows = db.execute("SELECT id::text, status, result->'choices'->0->'message'->>'content',"
                      " error->>'code' FROM jobs WHERE tenant_id = %s ORDER BY created_at, id", (t,)).fetchall()
    assert len(recs) == len(rows) == traffic["n"]
    assert [(x["job_id"], x["status"].lower(), x["choices"][0]["content"] if x["choices"] else None,
             (x["error"] or {}).get("code")) for x in recs] == [tuple(r) for r in rows]
    # an empty range is an empty file, still readable
    out = tmp_path / "none.avro"
    ctl(pg_url, "export", "usage", "--from", "2001-01-01", "--to", "2001-01-02", "--out", str(out))
    assert read_ocf(out)[1] == []
