"""The HTTP API end to end, with the official OpenAI SDK and plain HTTP."""
import uuid

import openai
import pytest
import requests

from conftest import create_tenant, poll, wait_job


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def test_sdk_chat_completion(stack, tenant, db):
    tenant_id, key = tenant
    client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0)
    r = client.chat.completions.create(model="mock", messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello from the OpenAI SDK"}])
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason == "stop"
    assert len(r.choices[0].message.content.split()) == 16
    assert r.usage.completion_tokens == 16
    assert r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + 16
    # the same prompt gives the same mock text: deterministic
    r2 = client.chat.completions.create(model="mock", messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello from the OpenAI SDK"}])
    assert r2.choices[0].message.content == r.choices[0].message.content
    # max_tokens below the mock's length: truncated
    r3 = client.chat.completions.create(model="mock", max_tokens=3,
                                        messages=[{"role": "user", "content": "x"}])
    assert r3.choices[0].finish_reason == "length"
    assert r3.usage.completion_tokens == 3
    # the job and its usage reach PostgreSQL
    job_id = r.id[len("chatcmpl-"):]
    row, usage = poll(lambda: (
        db.execute("SELECT status, mode FROM jobs WHERE id = %s", (job_id,)).fetchone(),
        db.execute("SELECT prompt_tokens, completion_tokens, tenant_id FROM usage_events WHERE job_id = %s",
                   (job_id,)).fetchone()), lambda v: v[0] and v[0][0] == "succeeded" and v[1], 15)
    assert row == ("succeeded", "sync")
    assert usage == (r.usage.prompt_tokens, 16, tenant_id)


def test_sdk_errors(stack, tenant):
    _, key = tenant
    bad = openai.OpenAI(base_url=f"{stack.url}/v1", api_key="llmq-not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="mock", messages=[{"role": "user", "content": "hi"}])
    client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="mock", messages=[])
    assert e.value.body["param"] == "messages"
    # a provider refusal fails the job with the provider's status and a clear message
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="mock-error", messages=[{"role": "user", "content": "hi"}])
    assert "mock provider refused" in str(e.value)


def test_async_job_lifecycle(stack, tenant, db):
    tenant_id, key = tenant
    r = requests.post(f"{stack.url}/v1/jobs", headers=auth(key),
                      json={"model": "mock", "messages": [{"role": "user", "content": "async please"}],
                            "metadata": {"ticket": "42"}})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["object"] == "job" and job["status"] == "queued" and job["model"] == "mock"
    assert r.headers["Location"] == f"/v1/jobs/{job['id']}"
    # a poll right away never 404s, whether or not the sink has written the job yet
    r0 = requests.get(f"{stack.url}/v1/jobs/{job['id']}", headers=auth(key))
    assert r0.status_code == 200 and r0.json()["status"] in ("queued", "running", "succeeded")
    done = wait_job(stack.url, key, job["id"])
    assert done["status"] == "succeeded"
    assert done["result"]["object"] == "chat.completion"
    assert done["result"]["usage"]["completion_tokens"] == 16
    assert done["completed_at"] >= done["created_at"]
    assert done["error"] is None
    row = db.execute("SELECT tenant_id, mode, provider FROM jobs WHERE id = %s", (job["id"],)).fetchone()
    assert row == (tenant_id, "async", "mock")


def test_failed_job_has_clear_error(stack, tenant):
    _, key = tenant
    r = requests.post(f"{stack.url}/v1/jobs", headers=auth(key),
                      json={"model": "mock-error", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 202
    done = wait_job(stack.url, key, r.json()["id"])
    assert done["status"] == "failed"
    assert done["result"] is None
    assert done["error"]["type"] == "invalid_request_error"
    assert "refused" in done["error"]["message"]


def test_tenant_isolation(stack, pg_url):
    _, key_a = create_tenant(pg_url)
    _, key_b = create_tenant(pg_url)
    r = requests.post(f"{stack.url}/v1/jobs", headers=auth(key_a),
                      json={"model": "mock", "messages": [{"role": "user", "content": "mine"}]})
    job_id = r.json()["id"]
    wait_job(stack.url, key_a, job_id)
    other = requests.get(f"{stack.url}/v1/jobs/{job_id}", headers=auth(key_b))
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"
    # also while the job is only known in memory (just accepted)
    r = requests.post(f"{stack.url}/v1/jobs", headers=auth(key_a),
                      json={"model": "mock", "messages": [{"role": "user", "content": "mine too"}]})
    assert requests.get(f"{stack.url}/v1/jobs/{r.json()['id']}", headers=auth(key_b)).status_code == 404


@pytest.mark.parametrize("body,status,code,param", [
    (b"{not json", 400, "invalid_json", None),
    (b"[1,2]", 400, "invalid_json", None),
    (b'{"messages":[{"role":"user","content":"x"}]}', 400, "missing_required_parameter", "model"),
    (b'{"model":"mock"}', 400, "missing_required_parameter", "messages"),
    (b'{"model":"mock","messages":[{"role":"robot","content":"x"}]}', 400, "invalid_value", "messages[0].role"),
    (b'{"model":"mock","messages":[{"role":"user","content":"x"}],"temperature":9}', 400, "invalid_value", "temperature"),
    (b'{"model":"mock","messages":[{"role":"user","content":"x"}],"n":3}', 400, "unsupported_value", "n"),
])
def test_bad_requests(stack, tenant, body, status, code, param):
    _, key = tenant
    for path in ("/v1/chat/completions", "/v1/jobs"):
        r = requests.post(f"{stack.url}{path}", headers={**auth(key), "Content-Type": "application/json"}, data=body)
        assert r.status_code == status, r.text
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error"
        assert err["code"] == code
        assert err["param"] == param
        assert err["message"]


def test_auth_errors(stack):
    body = {"model": "mock", "messages": [{"role": "user", "content": "x"}]}
    r = requests.post(f"{stack.url}/v1/jobs", json=body)
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
    r = requests.post(f"{stack.url}/v1/jobs", json=body, headers=auth("llmq-" + "0" * 48))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    r = requests.get(f"{stack.url}/v1/jobs/{uuid.uuid4()}", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


def test_revoked_key_is_refused(stack, pg_url, db):
    import subprocess, os
    from conftest import BUILD
    tenant_id, key = create_tenant(pg_url)
    key_id = db.execute("SELECT id FROM api_keys WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
    subprocess.run([os.path.join(BUILD, "llmqctl"), "--pg", pg_url, "key", "revoke", str(key_id)], check=True)
    r = requests.post(f"{stack.url}/v1/jobs", headers=auth(key),
                      json={"model": "mock", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 401


def test_unknown_job_and_paths(stack, tenant):
    _, key = tenant
    r = requests.get(f"{stack.url}/v1/jobs/{uuid.uuid4()}", headers=auth(key))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = requests.get(f"{stack.url}/v1/jobs/not-a-uuid", headers=auth(key))
    assert r.status_code == 404
    r = requests.get(f"{stack.url}/v1/nothing", headers=auth(key))
    assert r.status_code == 404 and "error" in r.json()
    r = requests.get(f"{stack.url}/v1/chat/completions", headers=auth(key))
    assert r.status_code == 405


def test_body_limit(stack, tenant):
    _, key = tenant
    big = "x" * (1024 * 1024 + 10)
    r = requests.post(f"{stack.url}/v1/jobs", headers=auth(key),
                      json={"model": "mock", "messages": [{"role": "user", "content": big}]})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"


def test_health_ready_metrics(stack, tenant):
    assert requests.get(f"{stack.url}/healthz").json() == {"status": "ok"}
    ready = requests.get(f"{stack.url}/readyz")
    assert ready.status_code == 200 and ready.json()["kafka"] and ready.json()["postgres"]
    _, key = tenant
    requests.post(f"{stack.url}/v1/jobs", headers=auth(key),
                  json={"model": "mock", "messages": [{"role": "user", "content": "m"}]})
    text = requests.get(f"{stack.url}/metrics").text
    assert '# TYPE llmq_ingest_requests_total counter' in text
    assert 'llmq_ingest_requests_total{route="/v1/jobs",status="202"}' in text
    assert 'llmq_ingest_request_duration_seconds_bucket{route="/v1/jobs",le="+Inf"}' in text
    assert "llmq_ingest_inflight_requests" in text
    w = stack.workers[0]
    wtext = requests.get(f"http://127.0.0.1:{w.settings['admin.port']}/metrics").text
    assert 'llmq_worker_jobs_total{status="succeeded"}' in wtext


def test_routes_answer_unknown_paths_and_methods_alike(stack, tenant):
    _, key = tenant
    for method, path in (("GET", "/v1/nothing"), ("POST", "/v2/chat/completions"), ("GET", "/"),
                         ("DELETE", "/admin/v1")):
        r = requests.request(method, f"{stack.url}{path}", headers=auth(key))
        assert r.status_code == 404, (method, path, r.text)
        err = r.json()["error"]
        assert set(err) == {"message", "type", "param", "code"} and err["code"] == "not_found"
    r = requests.post(f"{stack.url}/v1/jobs/x", headers=auth(key), json={})
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    assert r.json()["error"]["code"] == "method_not_allowed"
    r = requests.put(f"{stack.url}/v1/jobs", headers=auth(key))
    assert r.status_code == 405 and r.headers["Allow"] == "POST, GET", r.headers.get("Allow")
    r = requests.post(f"{stack.url}/healthz")
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    assert "Allow" not in requests.get(f"{stack.url}/v1/nothing").headers


def test_a_nul_or_control_byte_makes_a_path_no_route(stack, tenant):
    """libmicrohttpd decodes %XX before the handler sees the path: a %00 must not cut
    "/healthz%00x" down to "/healthz"."""
    _, key = tenant
    job = requests.post(f"{stack.url}/v1/jobs", headers=auth(key),
                        json={"model": "mock", "messages": [{"role": "user", "content": "nul"}]}).json()["id"]
    for path in ("/healthz%00x", "/healthz%00", f"/v1/jobs/{job}%00/x", f"/v1/jobs/{job}%00",
                 "/v1/jobs/abc%00/x", "/readyz%01", "/metrics%0a", "/admin/v1/me%00"):
        r = requests.get(f"{stack.url}{path}", headers=auth(key))
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "not_found", path
    text = requests.get(f"{stack.url}/metrics").text
    assert 'llmq_ingest_requests_total{route="other",status="404"}' in text


def test_bearer_key_with_trailing_whitespace(stack, tenant):
    _, key = tenant
    for header in (f"Bearer {key}  ", f"Bearer {key}\t", f"bearer   {key} \t "):
        r = requests.get(f"{stack.url}/v1/jobs/{uuid.uuid4()}", headers={"Authorization": header})
        assert r.status_code == 404, (repr(header), r.text)  # authenticated: the job is unknown
