"""The parts of OpenAI's surface a client expects around the calls: an x-request-id on every
answer (the SDK reads it), and Idempotency-Key on POST /v1/jobs — a retried submit returns the
same job, from any ingest node, never a second one."""
import time
import uuid

import openai
import pytest
import requests

from conftest import Daemon, create_tenant, free_port, poll, wait_http, wait_job


@pytest.fixture(scope="module")
def second_node(stack, log_dir):
    """Another ingest node of the session's stack (same topics, same database)."""
    port = free_port()
    d = Daemon("llmq-ingest-second", "llmq-ingest",
               {**stack.ingest.settings, "http.port": port, "ingest.node_id": "llmq-n2"}, log_dir).start()
    d.url = f"http://127.0.0.1:{port}"
    wait_http(f"{d.url}/readyz", 60, d)
    yield d
    d.stop()


def submit(url, key, idem=None, content="hi"):
    headers = {"Authorization": f"Bearer {key}"}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return requests.post(f"{url}/v1/jobs", headers=headers, timeout=30,
                         json={"model": "mock", "messages": [{"role": "user", "content": content}]})


def test_every_answer_has_a_request_id(stack, pg_url):
    _, key = create_tenant(pg_url)
    answers = [
        requests.post(f"{stack.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "mock", "messages": [{"role": "user", "content": "hi"}]}, timeout=30),
        requests.get(f"{stack.url}/v1/nothing-here", timeout=5),
        requests.get(f"{stack.url}/v1/limits", timeout=5),  # 401
        requests.get(f"{stack.url}/healthz", timeout=5),
    ]
    ids = [r.headers.get("x-request-id") for r in answers]
    assert all(i and i.startswith("req_") for i in ids), ids
    assert len(set(ids)) == len(ids)
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="mock", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-request-id"].startswith("req_")
    with client.chat.completions.with_streaming_response.create(
            model="mock", stream=True, messages=[{"role": "user", "content": "hi"}]) as r:
        assert r.headers["x-request-id"].startswith("req_")


def test_a_retried_submit_returns_the_same_job_from_any_node(stack, second_node, pg_url, db):
    tenant, key = create_tenant(pg_url)
    idem = "order-" + uuid.uuid4().hex
    first = submit(stack.url, key, idem)
    assert first.status_code == 202, first.text
    again = submit(second_node.url, key, idem)  # the client retried through another node
    assert again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Location"] == f"/v1/jobs/{first.json()['id']}"
    other = submit(stack.url, key, "order-" + uuid.uuid4().hex)
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    for job_id in (first.json()["id"], other.json()["id"]):
        assert wait_job(stack.url, key, job_id)["status"] == "succeeded"
    jobs = poll(lambda: db.execute("SELECT count(*) FROM jobs WHERE tenant_id = %s", (tenant,)).fetchone()[0],
                lambda n: n >= 2, 20)
    time.sleep(1)
    assert db.execute("SELECT count(*) FROM jobs WHERE tenant_id = %s", (tenant,)).fetchone()[0] == 2, jobs


def test_another_tenant_has_its_own_keys(stack, pg_url):
    _, a = create_tenant(pg_url)
    _, b = create_tenant(pg_url)
    idem = "shared-" + uuid.uuid4().hex
    ja = submit(stack.url, a, idem).json()["id"]
    jb = submit(stack.url, b, idem).json()["id"]
    assert ja != jb
    assert requests.get(f"{stack.url}/v1/jobs/{ja}", headers={"Authorization": f"Bearer {b}"},
                        timeout=5).status_code == 404


def test_a_bad_key_is_refused(stack, pg_url):
    _, key = create_tenant(pg_url)
    for bad in ("", "x" * 256, "has space"):
        r = submit(stack.url, key, bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["param"] == "Idempotency-Key"


def test_an_async_turn_with_a_key_is_one_turn(stack, pg_url):
    _, key = create_tenant(pg_url)
    auth = {"Authorization": f"Bearer {key}"}
    cid = requests.post(f"{stack.url}/v1/conversations", headers=auth, json={"model": "mock"},
                        timeout=10).json()["id"]
    idem = "turn-" + uuid.uuid4().hex
    body = {"content": "once", "async": True}
    first = requests.post(f"{stack.url}/v1/conversations/{cid}/messages", timeout=30, json=body,
                          headers={**auth, "Idempotency-Key": idem})
    assert first.status_code == 202, first.text
    again = requests.post(f"{stack.url}/v1/conversations/{cid}/messages", timeout=30, json=body,
                          headers={**auth, "Idempotency-Key": idem})
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"], again.text
    wait_job(stack.url, key, first.json()["id"])
    data = poll(lambda: requests.get(f"{stack.url}/v1/conversations/{cid}/messages", headers=auth,
                                     timeout=10).json()["data"], lambda d: len(d) >= 2, 20)
    assert [m["content"] for m in data if m["role"] == "user"] == ["once"]


def test_models_list_what_the_workers_serve(stack, pg_url, db):
    _, key = create_tenant(pg_url)
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key=key, max_retries=0)
    models = {m.id: m for m in client.models.list()}
    assert "mock" in models and models["mock"].owned_by == "mock"
    assert all(m.object == "model" for m in models.values())
    assert "gpt-4o-mini" in models  # priced, and routed (to the mock until a key is set)
    assert client.models.retrieve("mock").id == "mock"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")
    assert requests.get(f"{stack.url}/v1/models", timeout=5).status_code == 401
    # their context windows size a conversation's default window
    assert db.execute("SELECT model_context('gpt-4o-mini')").fetchone()[0] == 128000
