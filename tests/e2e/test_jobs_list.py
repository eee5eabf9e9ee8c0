"""Listing a tenant's jobs and reading one whole (GET /v1/jobs, GET /v1/jobs/{id}/trace): newest
first with a status filter and a cursor, the request as sent (masked where the policy
redacts), the result, the trace with its spans; another tenant's job is not found. And the
operators' view of the queue (GET /admin/v1/queue): each worker's state as it wrote it."""
import os

import openai
import requests

from conftest import BUILD, create_tenant, poll, run


def get(stack, path, key, **params):
    return requests.get(f"{stack.url}{path}", params=params, headers={"Authorization": f"Bearer {key}"},
                        timeout=10)


def test_list_and_trace(stack, pg_url):
    _, key = create_tenant(pg_url)
    _, other = create_tenant(pg_url)
    client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0)
    ids = []
    for i in range(5):
        r = client.chat.completions.with_raw_response.create(
            model="mock", messages=[{"role": "user", "content": f"list me {i}"}])
        ids.append(r.headers["x-llmq-job-id"])
    try:
        client.chat.completions.create(model="mock-error", messages=[{"role": "user", "content": "x"}])
    except openai.BadRequestError as e:
        failed = e.response.headers["x-llmq-job-id"]
    page = poll(lambda: get(stack, "/v1/jobs", key, limit="100").json(),
                lambda p: len(p["data"]) == 6 and all(j["status"] != "queued" for j in p["data"]), 30)
    assert [j["id"] for j in page["data"]][:6] == [failed] + ids[::-1]
    assert page["object"] == "list" and page["has_more"] is False
    # filter and cursor
    f = get(stack, "/v1/jobs", key, status="failed").json()
    assert [j["id"] for j in f["data"]] == [failed]
    p1 = get(stack, "/v1/jobs", key, limit="2").json()
    p2 = get(stack, "/v1/jobs", key, limit="2", after=p1["last_id"]).json()
    assert p1["has_more"] and [j["id"] for j in p1["data"] + p2["data"]] == ([failed] + ids[::-1])[:4]
    assert get(stack, "/v1/jobs", key, status="done").status_code == 400
    # one job whole
    t = poll(lambda: get(stack, f"/v1/jobs/{ids[0]}/trace", key).json(),
             lambda t: t.get("trace") is not None, 30)
    assert t["request"]["messages"] == [{"role": "user", "content": "list me 0"}]
    assert t["result"]["choices"][0]["message"]["content"]
    assert t["trace"]["route"] and t["trace"]["spans"] and t["trace"]["total_ms"] >= 0
    e = get(stack, f"/v1/jobs/{failed}/trace", key).json()
    assert e["status"] == "failed" and e["error"]["code"] == "mock_error"
    # another tenant sees nothing
    assert get(stack, "/v1/jobs", other).json()["data"] == []
    r = get(stack, f"/v1/jobs/{ids[0]}/trace", other)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_queue_status_for_platform_keys(stack, pg_url):
    ops, key = create_tenant(pg_url)
    platform = run([os.path.join(BUILD, "llmqctl"), "--pg", pg_url, "key", "create", "--tenant", ops,
                    "--role", "platform"]).stdout.strip()
    assert get(stack, "/admin/v1/queue", key).status_code == 403
    worker_id = stack.workers[0].settings["worker.id"]
    q = poll(lambda: get(stack, "/admin/v1/queue", platform).json(),
             lambda q: any(w["worker_id"] == worker_id for w in q.get("workers", [])), 20)
    w = [w for w in q["workers"] if w["worker_id"] == worker_id][0]
    assert w["max_inflight"] > 0 and w["inflight"] >= 0 and w["seen_s_ago"] < 15
    topics = {p["topic"] for p in w["partitions"]}
    assert f"{stack.prefix}.requests" in topics and f"{stack.prefix}.requests.batch" in topics
    assert all(b["state"] in ("closed", "open", "half_open", "half-open") for b in w["breakers"])
    assert q["dead_letters"] is not None and q["dead_letters"] >= 0
