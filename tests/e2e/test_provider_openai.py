"""The OpenAI-compatible provider against a fake server speaking OpenAI's wire format."""
import uuid

import openai
import pytest
import requests

from conftest import Stack, create_tenant, openai_stack, poll, wait_job
from fake_openai import FakeOpenAI


@pytest.fixture(scope="module")
def fake():
    f = FakeOpenAI()
    yield f
    f.close()


@pytest.fixture(scope="module")
def provider_stack(pg_url, brokers, log_dir, fake):
    s = openai_stack(pg_url, brokers, log_dir, fake, "oai", partitions=2,
                     worker_settings={"provider.max_attempts": 3})
    yield s
    s.stop()


def test_completion_through_provider(provider_stack, fake, pg_url, db):
    tenant_id, key = create_tenant(pg_url)
    client = openai.OpenAI(base_url=f"{provider_stack.url}/v1", api_key=key, max_retries=0)
    r = client.chat.completions.create(
        model="gpt-4o-mini", temperature=0.5, max_tokens=20, stop=["END"], user="u-1",
        messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "hello provider"}],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    assert r.choices[0].message.content == "echo: hello provider"
    assert r.model == "gpt-4o-mini-2024-08-06"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (11, 7)
    headers, body = [x for x in fake.requests if x[1]["messages"][-1]["content"] == "hello provider"][0]
    assert headers["Authorization"] == f"Bearer {fake.api_key}"
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0.5 and body["max_tokens"] == 20 and body["stop"] == ["END"]
    assert body["user"] == "u-1"
    assert body["tools"][0]["function"]["name"] == "f"
    assert "stream" not in body
    # the tenant's API key never reaches the provider
    assert key not in str(headers) and key not in str(body)


def test_tool_calls_pass_through(provider_stack, pg_url):
    _, key = create_tenant(pg_url)
    client = openai.OpenAI(base_url=f"{provider_stack.url}/v1", api_key=key, max_retries=0)
    r = client.chat.completions.create(model="tool-call", messages=[{"role": "user", "content": "weather?"}])
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.choices[0].message.content is None
    assert r.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_retry_after_429(provider_stack, fake, pg_url, db):
    _, key = create_tenant(pg_url)
    prompt = "flaky " + uuid.uuid4().hex
    client = openai.OpenAI(base_url=f"{provider_stack.url}/v1", api_key=key, max_retries=0)
    r = client.chat.completions.create(model="flaky-429", messages=[{"role": "user", "content": prompt}])
    assert r.choices[0].message.content == f"echo: {prompt}"
    assert fake.seen[prompt] == 2
    job_id = r.id[len("chatcmpl-"):]
    row = poll(lambda: db.execute("SELECT spans FROM traces WHERE job_id = %s", (job_id,)).fetchone(),
               lambda v: v is not None, 10)
    provider_span = [s for s in row[0] if s["name"] == "provider"][0]
    assert provider_span["attrs"]["attempts"] == "2"
    assert provider_span["duration_ms"] >= 1000  # honoured Retry-After: 1


def test_provider_errors_fail_the_job_clearly(provider_stack, fake, pg_url):
    _, key = create_tenant(pg_url)
    client = openai.OpenAI(base_url=f"{provider_stack.url}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="bad-request", messages=[{"role": "user", "content": "x"}])
    assert "Invalid value for 'temperature'" in str(e.value)
    prompt = "overloaded " + uuid.uuid4().hex
    r = requests.post(f"{provider_stack.url}/v1/jobs", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "always-503", "messages": [{"role": "user", "content": prompt}]})
    job = wait_job(provider_stack.url, key, r.json()["id"], seconds=60)
    assert job["status"] == "failed"
    assert job["error"]["type"] == "provider_error"
    assert "overloaded" in job["error"]["message"]
    assert fake.seen[prompt] == 3  # provider.max_attempts


def test_wrong_provider_key_is_not_the_clients_fault(pg_url, brokers, log_dir, fake):
    import os
    from conftest import BUILD, run
    prefix = "badkey" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "1",
         "--prefix", prefix])
    s = Stack(pg_url, brokers, log_dir, prefix=prefix,
              worker_settings={"openai.base_url": fake.base_url},
              worker_env={"LLMQ_OPENAI_API_KEY": "sk-wrong-secret"}).start()
    try:
        _, key = create_tenant(pg_url)
        r = requests.post(f"{s.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                          json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}, timeout=60)
        assert r.status_code == 502, r.text
        assert r.json()["error"]["type"] == "provider_auth_error", r.text
        assert "sk-wrong-secret" not in r.text
        assert "sk-wrong-secret" not in s.workers[0].log_text()
    finally:
        s.stop()
