"""W3C trace context and OTLP span export: a caller's traceparent reaches the provider (as the
parent span of the call), the spans of ingest and worker arrive at an OTLP/HTTP collector as one
tree with GenAI attributes, and the job's stored trace names the trace id."""
import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import BUILD, Stack, create_tenant, poll, run, wait_job
from fake_openai import FakeOpenAI


class Collector:
    """A small OTLP/HTTP receiver (JSON encoding): keeps every span with its service name."""

    def __init__(self):
        self.spans = []
        self.posts = 0
        self.lock = threading.Lock()
        col = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ok = self.path == "/v1/traces" and self.headers.get("Content-Type", "").startswith(
                    "application/json")
                if ok:
                    body = json.loads(data)
                    with col.lock:
                        col.posts += 1
                        for rs in body["resourceSpans"]:
                            attrs = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}
                            service = attrs["service.name"]["stringValue"]
                            for ss in rs["scopeSpans"]:
                                for sp in ss["spans"]:
                                    col.spans.append((service, sp))
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def trace(self, trace_id):
        with self.lock:
            return [(svc, sp) for svc, sp in self.spans if sp["traceId"] == trace_id]

    def close(self):
        self.server.shutdown()


def attrs(span):
    out = {}
    for a in span.get("attributes", []):
        v = a["value"]
        out[a["key"]] = v.get("stringValue", v.get("intValue", v.get("doubleValue")))
    return out


@pytest.fixture(scope="module")
def collector():
    c = Collector()
    yield c
    c.close()


@pytest.fixture(scope="module")
def fake():
    f = FakeOpenAI()
    yield f
    f.close()


@pytest.fixture(scope="module")
def traced(pg_url, brokers, log_dir, fake, collector):
    prefix = "trace" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "1",
         "--prefix", prefix])
    tracing = {"tracing.otlp_endpoint": collector.url}
    s = Stack(pg_url, brokers, log_dir, prefix=prefix, ingest_settings=tracing,
              worker_settings={"openai.base_url": fake.base_url, **tracing},
              worker_env={"LLMQ_OPENAI_API_KEY": fake.api_key}).start()
    yield s
    s.stop()


def call_of(fake, prompt):
    return [h for h, b in fake.requests if b["messages"][-1]["content"] == prompt]


def chat(stack, key, prompt, model="gpt-4o-mini", headers=None):
    r = requests.post(f"{stack.url}/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}", **(headers or {})},
                      json={"model": model, "messages": [{"role": "user", "content": prompt}]})
    assert r.status_code == 200, r.text
    return r.json()


def stored_trace_id(stack, key, job_id):
    r = poll(lambda: requests.get(f"{stack.url}/v1/jobs/{job_id}/trace", timeout=5,
                                  headers={"Authorization": f"Bearer {key}"}),
             lambda r: r.status_code == 200 and (r.json().get("trace") or {}).get("otel_trace_id"), 20)
    assert r.status_code == 200, r.text
    return r.json()["trace"]["otel_trace_id"]


def test_caller_trace_reaches_provider_and_collector(traced, fake, collector, pg_url):
    _, key = create_tenant(pg_url)
    trace_id, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    prompt = "traced " + uuid.uuid4().hex
    body = chat(traced, key, prompt, model="flaky-429",
                headers={"traceparent": f"00-{trace_id}-{parent}-01", "tracestate": "app=checkout,x=1"})
    job_id = body["id"].removeprefix("chatcmpl-")

    # the provider saw two calls (a 429, then the answer), each with the trace and its own span
    calls = call_of(fake, prompt)
    assert len(calls) == 2
    sent = [h["traceparent"].split("-") for h in calls]
    assert all(v == "00" and t == trace_id and f == "01" for v, t, _, f in sent)
    assert sent[0][2] != sent[1][2]
    assert all(h["tracestate"] == "app=checkout,x=1" for h in calls)

    spans = poll(lambda: collector.trace(trace_id), lambda s: len(s) >= 7, 20)
    by_kind = {}
    for svc, sp in spans:
        by_kind.setdefault((svc, sp["kind"]), []).append(sp)
    server = by_kind[("llmq-ingest", 2)][0]
    produce = by_kind[("llmq-ingest", 4)][0]
    consume = by_kind[("llmq-worker", 5)][0]
    clients = sorted(by_kind[("llmq-worker", 3)], key=lambda s: int(s["startTimeUnixNano"]))
    assert server["parentSpanId"] == parent
    assert server["name"] == "POST /v1/chat/completions"
    assert attrs(server)["http.response.status_code"] == "200"
    assert attrs(server)["llmq.job_id"] == job_id
    assert produce["parentSpanId"] == server["spanId"]
    assert consume["parentSpanId"] == produce["spanId"]
    # the calls' spans are the ones the provider was told about, children of the job's span
    assert [c["spanId"] for c in clients] == [s[2] for s in sent]
    assert all(c["parentSpanId"] == consume["spanId"] for c in clients)
    first, last = attrs(clients[0]), attrs(clients[1])
    assert clients[0]["status"]["code"] == 2 and first["error.type"] == "rate_limit_exceeded"
    assert "status" not in clients[1] or clients[1]["status"].get("code", 0) != 2
    assert clients[1]["name"] == "chat flaky-429"
    assert last["gen_ai.operation.name"] == "chat" and last["gen_ai.provider.name"] == "openai"
    assert last["gen_ai.request.model"] == "flaky-429"
    assert (last["gen_ai.usage.input_tokens"], last["gen_ai.usage.output_tokens"]) == ("11", "7")
    assert attrs(consume)["llmq.attempts"] == "2"
    names = {sp["name"] for _, sp in spans}
    assert "llmq.queue" in names and any(n.startswith("send ") and n.endswith(".responses") for n in names)
    # spans nest in time (one clock: the cluster's)
    for c in clients:
        assert int(consume["startTimeUnixNano"]) <= int(c["startTimeUnixNano"]) <= int(c["endTimeUnixNano"])
    assert int(server["startTimeUnixNano"]) <= int(produce["startTimeUnixNano"])

    # the stored trace names the trace id; its attempt spans name the exported span ids
    assert stored_trace_id(traced, key, job_id) == trace_id


def test_trace_started_without_traceparent(traced, fake, collector, pg_url):
    _, key = create_tenant(pg_url)
    for header in (None, "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "garbage"):
        prompt = "untraced " + uuid.uuid4().hex
        body = chat(traced, key, prompt, headers={"traceparent": header} if header else None)
        (h,) = call_of(fake, prompt)
        _, trace_id, span_id, flags = h["traceparent"].split("-")
        assert trace_id != "0" * 32 and flags == "01"
        assert "tracestate" not in h
        spans = poll(lambda: collector.trace(trace_id), lambda s: len(s) >= 6, 20)
        server = [sp for svc, sp in spans if svc == "llmq-ingest" and sp["kind"] == 2][0]
        assert "parentSpanId" not in server or not server["parentSpanId"]  # a root
        assert span_id in {sp["spanId"] for _, sp in spans}
        assert stored_trace_id(traced, key, body["id"].removeprefix("chatcmpl-")) == trace_id


def test_unsampled_trace_is_carried_not_exported(traced, fake, collector, pg_url):
    _, key = create_tenant(pg_url)
    trace_id = uuid.uuid4().hex
    prompt = "unsampled " + uuid.uuid4().hex
    chat(traced, key, prompt, headers={"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-00"})
    (h,) = call_of(fake, prompt)
    assert h["traceparent"].startswith(f"00-{trace_id}-") and h["traceparent"].endswith("-00")
    # a sampled request after it is exported: then the unsampled one would have been too
    sampled = uuid.uuid4().hex
    chat(traced, key, "after " + prompt, headers={"traceparent": f"00-{sampled}-{uuid.uuid4().hex[:16]}-01"})
    poll(lambda: collector.trace(sampled), lambda s: len(s) >= 6, 20)
    assert collector.trace(trace_id) == []


def test_async_job_spans(traced, fake, collector, pg_url):
    _, key = create_tenant(pg_url)
    trace_id = uuid.uuid4().hex
    r = requests.post(f"{traced.url}/v1/jobs", timeout=10,
                      headers={"Authorization": f"Bearer {key}",
                               "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"},
                      json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "async"}]})
    assert r.status_code == 202, r.text
    job = wait_job(traced.url, key, r.json()["id"])
    assert job["status"] == "succeeded"
    spans = poll(lambda: collector.trace(trace_id), lambda s: len(s) >= 6, 20)
    server = [sp for svc, sp in spans if sp["kind"] == 2][0]
    assert attrs(server)["http.response.status_code"] == "202"
    assert server["name"] == "POST /v1/jobs"
    assert any(sp["kind"] == 3 for _, sp in spans)


def test_provider_headers_off(pg_url, brokers, log_dir, fake):
    """tracing.provider_headers = false: trace ids stay inside llmq."""
    prefix = "notrace" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "1",
         "--prefix", prefix])
    s = Stack(pg_url, brokers, log_dir, prefix=prefix,
              worker_settings={"openai.base_url": fake.base_url, "tracing.provider_headers": "false"},
              worker_env={"LLMQ_OPENAI_API_KEY": fake.api_key}).start()
    try:
        _, key = create_tenant(pg_url)
        prompt = "private " + uuid.uuid4().hex
        trace_id = uuid.uuid4().hex
        body = chat(s, key, prompt, headers={"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01",
                                             "tracestate": "app=1"})
        (h,) = call_of(fake, prompt)
        assert "traceparent" not in h and "tracestate" not in h
        # the job still ran in the caller's trace
        assert stored_trace_id(s, key, body["id"].removeprefix("chatcmpl-")) == trace_id
    finally:
        s.stop()
