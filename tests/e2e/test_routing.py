"""Providers, routing, resilience and streaming, end to end: llmq's worker against fake
provider servers that speak each provider's real wire format (tests/e2e/fake_providers.py),
clients through the official openai SDK."""
import json
import os
import time
import uuid

import openai
import pytest
import requests

from conftest import BUILD, Stack, create_tenant, poll, run, wait_job
from fake_providers import (AnthropicServer, GeminiServer, OpenAIServer, OpenRouterServer,
                            PerplexityServer)


@pytest.fixture(scope="module")
def fakes():
    f = {"openai": OpenAIServer(), "anthropic": AnthropicServer(), "gemini": GeminiServer(),
         "openrouter": OpenRouterServer(), "perplexity": PerplexityServer(),
         "flaky": OpenAIServer(), "slow": OpenAIServer(), "dlq": OpenAIServer(), "broken": OpenAIServer(),
         "odd": OpenAIServer(), "odd2": OpenAIServer(), "slowb": OpenAIServer()}
    yield f
    for s in f.values():
        s.close()


@pytest.fixture(scope="module")
def routed(pg_url, brokers, log_dir, fakes, state_dir):
    prefix = "rt" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "2",
         "--prefix", prefix])
    special_tenant, special_key = create_tenant(pg_url)
    env = {}
    endpoints = {}
    wires = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini", "openrouter": "openai",
             "perplexity": "openai", "flaky": "openai", "slow": "openai", "dlq": "openai",
             "broken": "openai", "odd": "openai", "odd2": "openai", "slowb": "openai"}
    for name, srv in fakes.items():
        env[f"TEST_{name.upper()}_KEY"] = srv.api_key
        endpoints[name] = {"wire": wires[name], "base_url": srv.base_url,
                           "api_key_env": f"TEST_{name.upper()}_KEY"}
    endpoints["openrouter"]["headers"] = {"HTTP-Referer": "https://llmq.test", "X-Title": "llmq tests"}
    table = {
        "endpoints": endpoints,
        "slash_models": "openrouter",
        "default_endpoint": "openai",
        "aliases": {"resilient": ["broken:always-503", "anthropic:claude-haiku-4-5"],
                    "guarded": ["flaky:gpt-4o", "openai:gpt-4o-mini"]},
        "rules": [
            {"name": "web", "if": {"words": ["search", "latest", "news"]}, "then": ["perplexity:sonar"]},
            {"name": "structured", "if": {"json": True}, "then": ["anthropic:claude-sonnet-4-5"]},
            {"name": "long", "if": {"min_messages": 7}, "then": ["gemini:gemini-2.5-pro"]},
        ],
        "tenants": {special_tenant: {"rules": [{"name": "tenant-default", "if": {"models": ["house"]},
                                                "then": ["gemini:gemini-2.5-flash"]}]}},
    }
    path = os.path.join(state_dir, f"{prefix}-routing.json")
    with open(path, "w") as fp:
        json.dump(table, fp)
    s = Stack(pg_url, brokers, log_dir, prefix=prefix, worker_env=env,
              worker_settings={"routing.file": path, "provider.max_attempts": 2,
                               "breaker.failures": 2, "breaker.open_ms": 1500,
                               "provider.first_byte_timeout_ms": 1500}).start()
    s.special = (special_tenant, special_key)
    yield s
    s.stop()


def client(stack, key):
    return openai.OpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0, timeout=60)


def trace_of(db, job_id):
    row = poll(lambda: db.execute("SELECT route, spans FROM traces WHERE job_id = %s", (job_id,)).fetchone(),
               lambda v: v is not None, 15)
    assert row, f"no trace for {job_id}"
    return row


def usage_of(db, job_id):
    return poll(lambda: db.execute("SELECT provider, cost_usd, prompt_tokens, completion_tokens FROM usage_events"
                                   " WHERE job_id = %s ORDER BY ts", (job_id,)).fetchall(),
                lambda v: len(v) > 0, 15)


@pytest.mark.parametrize("model,endpoint", [
    ("gpt-4o-mini", "openai"),
    ("claude-sonnet-4-5", "anthropic"),
    ("gemini-2.5-flash", "gemini"),
    ("meta-llama/llama-3.1-8b-instruct", "openrouter"),
    ("sonar", "perplexity"),
])
def test_every_provider_answers_in_openai_shape(routed, fakes, tenant, db, model, endpoint):
    _, key = tenant
    prompt = f"hello {endpoint} {uuid.uuid4().hex[:6]}"
    r = client(routed, key).chat.completions.create(
        model=model, max_tokens=50, messages=[{"role": "system", "content": "be brief"},
                                              {"role": "user", "content": prompt}])
    assert r.choices[0].message.content == f"echo: {prompt}"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == 11 and r.usage.completion_tokens == len(f"echo: {prompt}".split())
    fake = fakes[endpoint]
    path, headers, body = [c for c in fake.calls if prompt in json.dumps(c[2])][-1]
    assert key not in json.dumps(dict(headers)) and key not in json.dumps(body)  # tenant keys stay here
    if endpoint == "anthropic":
        assert headers.get("x-api-key") == fake.api_key and headers.get("anthropic-version")
        assert body["system"] == "be brief" and body["max_tokens"] == 50
    elif endpoint == "gemini":
        assert headers.get("x-goog-api-key") == fake.api_key and "key=" not in path
        assert body["systemInstruction"]["parts"][0]["text"] == "be brief"
    else:
        assert headers.get("Authorization") == f"Bearer {fake.api_key}"
    if endpoint == "openrouter":
        assert headers.get("X-Title") == "llmq tests" and headers.get("HTTP-Referer") == "https://llmq.test"
    if endpoint == "perplexity":
        assert r.model_extra.get("citations"), r.model_extra
    job_id = r.id[len("chatcmpl-"):]
    usage = usage_of(db, job_id)
    assert usage[0][0] == endpoint
    if endpoint == "openrouter":
        assert usage[0][1] is None  # not in the price table: unknown, not zero
    else:
        assert usage[0][1] is not None and float(usage[0][1]) > 0


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash",
                                   "meta-llama/llama-3.1-8b-instruct", "mock"])
def test_streaming_through_llmq(routed, tenant, model):
    _, key = tenant
    prompt = "stream these words please " + uuid.uuid4().hex[:6]
    stream = client(routed, key).chat.completions.create(
        model=model, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": prompt}])
    deltas, finish, usage = [], None, None
    for chunk in stream:
        if chunk.choices:
            if chunk.choices[0].delta.content:
                deltas.append(chunk.choices[0].delta.content)
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    text = "".join(deltas)
    if model == "mock":
        assert text and len(deltas) > 1
    else:
        assert text == f"echo: {prompt}" and len(deltas) > 1
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0


def test_stream_error_after_some_text_reaches_the_client(routed, tenant):
    _, key = tenant
    stream = client(routed, key).chat.completions.create(
        model="anthropic:stream-error-mid", stream=True,
        messages=[{"role": "user", "content": "two words and more"}])
    got = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                got.append(chunk.choices[0].delta.content)
    assert got  # part of the answer came before the error


def test_provider_error_before_streaming_is_a_plain_error(routed, tenant):
    _, key = tenant
    with pytest.raises(openai.BadRequestError) as e:
        client(routed, key).chat.completions.create(
            model="openai:bad-request", stream=True,
            messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 400


def test_content_rules_pick_the_route(routed, fakes, tenant, db):
    _, key = tenant
    c = client(routed, key)
    tag = uuid.uuid4().hex[:6]
    r = c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"latest news {tag}"}])
    assert r.model_extra.get("citations")  # perplexity answered
    route, _ = trace_of(db, r.id[len("chatcmpl-"):])
    assert route.startswith("rule web (global): perplexity:sonar"), route
    r = c.chat.completions.create(model="gpt-4o", response_format={"type": "json_object"},
                                  messages=[{"role": "user", "content": f"give me an object {tag}"}])
    route, _ = trace_of(db, r.id[len("chatcmpl-"):])
    assert route.startswith("rule structured"), route
    assert any(f"give me an object {tag}" in json.dumps(x[2]) for x in fakes["anthropic"].calls)
    msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} {tag}"} for i in range(7)]
    r = c.chat.completions.create(model="gpt-4o", messages=msgs)
    route, _ = trace_of(db, r.id[len("chatcmpl-"):])
    assert route.startswith("rule long"), route
    r = c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"plain {tag}"}])
    route, _ = trace_of(db, r.id[len("chatcmpl-"):])
    assert route.startswith("rule default (global): openai:gpt-4o"), route


def test_tenant_policy_applies_only_to_its_tenant(routed, tenant, db):
    special_tenant, special_key = routed.special
    r = client(routed, special_key).chat.completions.create(
        model="house", messages=[{"role": "user", "content": "hi"}])
    route, _ = trace_of(db, r.id[len("chatcmpl-"):])
    assert route.startswith(f"rule tenant-default (tenant:{special_tenant}): gemini:gemini-2.5-flash"), route
    # another tenant asking for "house" has no such rule: openai serves it by default
    _, key = tenant
    r = client(routed, key).chat.completions.create(model="house", messages=[{"role": "user", "content": "hi"}])
    route, _ = trace_of(db, r.id[len("chatcmpl-"):])
    assert route.startswith("rule default"), route


def test_fallback_when_the_primary_fails(routed, fakes, tenant, db):
    _, key = tenant
    prompt = "fall back " + uuid.uuid4().hex[:6]
    r = client(routed, key).chat.completions.create(model="resilient", messages=[{"role": "user", "content": prompt}])
    assert r.choices[0].message.content == f"echo: {prompt}"
    assert fakes["broken"].seen.get(prompt) == 2  # two attempts on the primary, then the next candidate
    route, spans = trace_of(db, r.id[len("chatcmpl-"):])
    assert "broken:always-503, anthropic:claude-haiku-4-5" in route
    provider = [s for s in spans if s["name"] == "provider"][0]
    assert provider["attrs"]["fallbacks"] == "1" and provider["attrs"]["endpoint"] == "anthropic"
    attempts = [s["attrs"] for s in spans if s["name"] == "attempt"]
    assert [a["endpoint"] for a in attempts] == ["broken", "broken", "anthropic"]
    assert attempts[-1]["outcome"] == "ok"


def test_circuit_breaker_opens_and_recovers(routed, fakes, tenant, db):
    _, key = tenant
    c = client(routed, key)
    flaky = fakes["flaky"]
    flaky.down = True
    try:
        r = c.chat.completions.create(model="guarded", messages=[{"role": "user", "content": "one"}])
        assert r.choices[0].message.content == "echo: one"  # served by the fallback
        calls = flaky.count()
        assert calls == 2
        r = c.chat.completions.create(model="guarded", messages=[{"role": "user", "content": "two"}])
        assert r.choices[0].message.content == "echo: two"
        assert flaky.count() == calls  # the open breaker kept the call away from flaky
        _, spans = trace_of(db, r.id[len("chatcmpl-"):])
        assert [s["attrs"]["outcome"] for s in spans if s["name"] == "attempt"][0] == "breaker_open"
    finally:
        flaky.down = False
    time.sleep(1.7)  # breaker.open_ms: then one probe goes through
    r = c.chat.completions.create(model="guarded", messages=[{"role": "user", "content": "three"}])
    assert flaky.count() == calls + 1
    _, spans = trace_of(db, r.id[len("chatcmpl-"):])
    assert [(s["attrs"]["endpoint"], s["attrs"]["outcome"]) for s in spans if s["name"] == "attempt"] == \
        [("flaky", "ok")]
    metrics = requests.get(f"http://127.0.0.1:{routed.workers[0].settings['admin.port']}/metrics").text
    assert 'llmq_worker_breaker_opened_total{endpoint="flaky"} 1' in metrics


def test_dead_lettered_request_is_replayed(routed, fakes, tenant, db, brokers):
    _, key = tenant
    fakes["dlq"].down = True
    try:
        r = requests.post(f"{routed.url}/v1/jobs", headers={"Authorization": f"Bearer {key}"},
                          json={"model": "dlq:gpt-4o-mini", "messages": [{"role": "user", "content": "replay me"}]})
        assert r.status_code == 202
        job_id = r.json()["id"]
        job = wait_job(routed.url, key, job_id)
        assert job["status"] == "failed" and "503" in job["error"]["message"], job
    finally:
        fakes["dlq"].down = False
    time.sleep(1.7)  # the endpoint's breaker opened on those failures: let it half-open
    out = run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "dlq", "replay", "--prefix", routed.prefix,
               "--group", routed.prefix + "-replay"]).stdout
    assert job_id in out and "replayed 1 request(s)" in out, out
    job = wait_job(routed.url, key, job_id, want=("succeeded",))
    assert job["result"]["choices"][0]["message"]["content"] == "echo: replay me"
    usage = poll(lambda: db.execute("SELECT status, completion_tokens FROM usage_events WHERE job_id = %s"
                                    " ORDER BY ts", (job_id,)).fetchall(), lambda v: len(v) == 2, 15)
    assert [u[0] for u in usage] == ["failed", "succeeded"]  # each run counted once
    # nothing left to replay
    out = run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "dlq", "replay", "--prefix", routed.prefix,
               "--group", routed.prefix + "-replay"]).stdout
    assert "replayed 0 request(s)" in out, out


def test_client_disconnect_cancels_the_provider_call(routed, fakes, tenant, db):
    _, key = tenant
    slow = fakes["slow"]
    slow.token_interval = 0.4
    before = slow.disconnects
    try:
        words = " ".join(f"w{i}" for i in range(40))
        r = requests.post(f"{routed.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                          json={"model": "slow:gpt-4o-mini", "stream": True,
                                "messages": [{"role": "user", "content": words}]}, stream=True, timeout=30)
        assert r.status_code == 200
        job_id = r.headers["x-llmq-job-id"]
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith(b"data: "))
        assert json.loads(first[6:])["object"] == "chat.completion.chunk"
        r.close()  # the client goes away mid-stream
        assert poll(lambda: slow.disconnects, lambda v: v > before, 15) > before  # llmq hung up too
    finally:
        slow.token_interval = 0.0
    row = poll(lambda: db.execute("SELECT status FROM jobs WHERE id = %s", (job_id,)).fetchone(),
               lambda v: v is not None and v[0] == "cancelled", 15)
    assert row and row[0] == "cancelled"


def test_first_byte_timeout_is_a_clear_504(routed, tenant):
    _, key = tenant
    r = requests.post(f"{routed.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "slow:slow-first-byte", "messages": [{"role": "user", "content": "x"}]},
                      timeout=60)
    assert r.status_code == 504, r.text
    assert r.json()["error"]["code"] == "provider_timeout"


def test_malformed_answers_fail_clearly(routed, fakes, tenant):
    _, key = tenant
    r = requests.post(f"{routed.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "odd:malformed", "messages": [{"role": "user", "content": "x y z"}]},
                      timeout=60)
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "bad_provider_response"
    # streamed: the garbage line comes after the first word, so the client has text already
    r = requests.post(f"{routed.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "odd2:malformed", "stream": True,
                            "messages": [{"role": "user", "content": "x y z"}]}, timeout=60)
    events = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
    assert json.loads(events[0])["object"] == "chat.completion.chunk"
    assert "error" in json.loads(events[-1]) and "[DONE]" not in events


def test_slow_bytes_still_arrive(routed, fakes, tenant):
    _, key = tenant
    fakes["slowb"].byte_interval = 0.003
    try:
        prompt = "slowly " + uuid.uuid4().hex[:4]
        r = client(routed, key).chat.completions.create(model="slowb:slow-bytes",
                                                        messages=[{"role": "user", "content": prompt}])
        assert r.choices[0].message.content == f"echo: {prompt}"
    finally:
        fakes["slowb"].byte_interval = 0.2
