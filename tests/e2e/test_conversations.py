"""Conversations kept on the server, end to end with the official openai SDK: later turns see
the earlier ones without the client resending them, the window drops the oldest turns and
never a tool call's result without its call, the context reaches the prompt, turns run one at
a time, a failed turn leaves the history as it was, a worker killed mid-turn stores one reply,
and no caller sees another's conversation."""
import concurrent.futures
import json
import os
import subprocess
import time
import uuid

import openai
import pytest
import requests

from conftest import BUILD, Stack, create_tenant, openai_stack, poll, run, wait_http, wait_job
from fake_openai import FakeOpenAI


@pytest.fixture(scope="module")
def fake():
    f = FakeOpenAI()
    yield f
    f.close()


@pytest.fixture(scope="module")
def conv_stack(pg_url, brokers, log_dir, fake):
    s = openai_stack(pg_url, brokers, log_dir, fake, "conv", partitions=2)
    yield s
    s.stop()


def call(stack, method, path, key, body=None, **kw):
    return requests.request(method, f"{stack.url}{path}", headers={"Authorization": f"Bearer {key}"},
                            json=body, timeout=30, **kw)


def new_conversation(stack, key, **fields):
    r = call(stack, "POST", "/v1/conversations", key, fields)
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "conversation"
    return r.json()["id"]


def sent_prompt(fake, marker):
    """The messages of the provider call whose last message holds marker."""
    for _, body in reversed(fake.requests):
        last = body["messages"][-1].get("content") or ""
        if marker in last:
            return body["messages"]
    raise AssertionError(f"no provider call ended with {marker!r}")


def messages(stack, key, cid, **params):
    r = requests.get(f"{stack.url}/v1/conversations/{cid}/messages", params={"limit": 100, **params},
                     headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_later_turns_see_the_earlier_ones_through_the_sdk(conv_stack, fake, pg_url, db):
    _, key = create_tenant(pg_url)
    cid = new_conversation(conv_stack, key, title="memory", system_prompt="You are terse.",
                           model="gpt-4o-mini")
    client = openai.OpenAI(base_url=conv_stack.url + "/v1", api_key=key, max_retries=0)
    for i in range(20):
        marker = f"turn-{i}-{uuid.uuid4().hex[:6]}"
        r = client.chat.completions.create(model="gpt-4o-mini", extra_body={"conversation": cid},
                                           messages=[{"role": "user", "content": marker}])
        assert r.choices[0].message.content == f"echo: {marker}"
        prompt = sent_prompt(fake, marker)
        assert prompt[0] == {"role": "system", "content": "You are terse."}
        assert len(prompt) == 1 + 2 * i + 1, [m["role"] for m in prompt]
    # the 20th prompt held every earlier turn, in order, user then assistant
    users = [m["content"] for m in prompt if m["role"] == "user"]
    assert len(users) == 20 and users[0].startswith("turn-0-") and users[-1] == marker
    listed = messages(conv_stack, key, cid)
    assert [m["role"] for m in listed["data"]] == ["user", "assistant"] * 20
    assert listed["data"][-1]["content"] == f"echo: {marker}"
    conv = poll(lambda: call(conv_stack, "GET", f"/v1/conversations/{cid}", key).json(),
                lambda c: c["usage"]["total_tokens"] >= 20 * 18, 20)
    assert conv["message_count"] == 40 and conv["usage"]["total_tokens"] == 20 * 18, conv
    rows = db.execute("SELECT count(*) FROM usage_events WHERE conversation_id = %s", (cid,)).fetchone()[0]
    assert rows == 20


def sse_text(r):
    out = []
    for line in r.iter_lines():
        if line.startswith(b"data: ") and line != b"data: [DONE]":
            for ch in json.loads(line[6:])["choices"]:
                out.append(ch["delta"].get("content") or "")
    return "".join(out)


def test_a_turn_sync_streamed_or_async(conv_stack, pg_url):
    _, key = create_tenant(pg_url)
    cid = new_conversation(conv_stack, key, model="mock")
    path = f"/v1/conversations/{cid}/messages"
    r = call(conv_stack, "POST", path, key, {"content": "hello"})
    assert r.status_code == 200 and r.json()["object"] == "chat.completion", r.text
    with requests.post(f"{conv_stack.url}{path}", headers={"Authorization": f"Bearer {key}"},
                       json={"content": "stream it", "stream": True}, stream=True, timeout=30) as r:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        streamed = sse_text(r)
    assert streamed
    r = call(conv_stack, "POST", path, key, {"content": "later", "async": True})
    assert r.status_code == 202, r.text
    job = wait_job(conv_stack.url, key, r.json()["id"])
    assert job["status"] == "succeeded"
    data = poll(lambda: messages(conv_stack, key, cid)["data"], lambda d: len(d) == 6, 20)
    assert [m["content"] for m in data if m["role"] == "user"] == ["hello", "stream it", "later"]
    assert data[3]["content"] == streamed
    assert data[5]["job_id"] == r.json()["id"]
    # pagination: after, limit, has_more, order
    page = messages(conv_stack, key, cid, limit=4)
    assert page["has_more"] and len(page["data"]) == 4
    rest = messages(conv_stack, key, cid, after=page["last_id"])
    assert [m["seq"] for m in rest["data"]] == [5, 6] and not rest["has_more"]
    assert messages(conv_stack, key, cid, order="desc")["data"][0]["seq"] == 6


def test_the_window_drops_old_turns_never_a_tool_result_without_its_call(conv_stack, fake, pg_url):
    _, key = create_tenant(pg_url)
    cid = new_conversation(conv_stack, key, model="gpt-4o-mini", window={"last_n": 2})
    path = f"/v1/conversations/{cid}/messages"
    r = call(conv_stack, "POST", path, key, {"content": "weather in Paris?", "model": "tool-call"})
    assert r.status_code == 200, r.text
    call_id = r.json()["choices"][0]["message"]["tool_calls"][0]["id"]
    r = call(conv_stack, "POST", path, key,
             {"messages": [{"role": "tool", "tool_call_id": call_id, "content": "21 C, sunny"}]})
    assert r.status_code == 200, r.text
    marker = "third-" + uuid.uuid4().hex[:6]
    assert call(conv_stack, "POST", path, key, {"content": marker}).status_code == 200
    # stored: user, assistant(tool_calls), tool, assistant; the last two would start with the
    # tool result: it goes with its call
    prompt = sent_prompt(fake, marker)
    assert [m["role"] for m in prompt] == ["assistant", "user"], prompt
    turn = messages(conv_stack, key, cid)["data"][-2]  # what that turn's prompt carried
    assert turn["sent_with"] == {"from_seq": 4, "to_seq": 4, "sent": 1, "dropped": 3}, turn
    assert call(conv_stack, "PATCH", f"/v1/conversations/{cid}", key,
                {"window": {"last_n": 5}}).status_code == 200
    marker = "fourth-" + uuid.uuid4().hex[:6]
    assert call(conv_stack, "POST", path, key, {"content": marker}).status_code == 200
    prompt = sent_prompt(fake, marker)
    roles = [m["role"] for m in prompt]
    assert roles == ["assistant", "tool", "assistant", "user", "assistant", "user"], roles
    assert prompt[0]["tool_calls"][0]["id"] == call_id and prompt[1]["tool_call_id"] == call_id
    # a token budget: only as much history as fits
    assert call(conv_stack, "PATCH", f"/v1/conversations/{cid}", key,
                {"window": {"last_n": 50, "token_budget": 100}}).status_code == 200
    marker = "fifth-" + uuid.uuid4().hex[:6]
    assert call(conv_stack, "POST", path, key, {"content": marker}).status_code == 200
    assert len(sent_prompt(fake, marker)) < 6


def test_the_context_reaches_the_prompt(conv_stack, fake, pg_url):
    _, key = create_tenant(pg_url)
    cid = new_conversation(conv_stack, key, model="gpt-4o-mini", system_prompt="Coach chess.",
                           context={"board": "e4 e5"}, context_template="Board: {{board}}")
    path = f"/v1/conversations/{cid}/messages"
    marker = "m1-" + uuid.uuid4().hex[:6]
    assert call(conv_stack, "POST", path, key, {"content": marker}).status_code == 200
    assert sent_prompt(fake, marker)[:2] == [{"role": "system", "content": "Coach chess."},
                                             {"role": "system", "content": "Board: e4 e5"}]
    r = call(conv_stack, "PATCH", f"/v1/conversations/{cid}", key, {"context": {"board": "e4 e5 Nf3"}})
    assert r.status_code == 200 and r.json()["context"] == {"board": "e4 e5 Nf3"}
    marker = "m2-" + uuid.uuid4().hex[:6]
    assert call(conv_stack, "POST", path, key, {"content": marker}).status_code == 200
    assert sent_prompt(fake, marker)[1] == {"role": "system", "content": "Board: e4 e5 Nf3"}


def test_a_context_rendering_past_a_record_is_refused(conv_stack, pg_url):
    # within both 16 KiB limits, a template naming a long value three thousand times renders
    # to about 50 MB: refused at the turn with a 400 naming it, and the next turn goes on
    _, key = create_tenant(pg_url)
    cid = new_conversation(conv_stack, key, model="gpt-4o-mini", context={"a": "x" * 16000},
                           context_template="{{a}}" * 3000)
    path = f"/v1/conversations/{cid}/messages"
    r = call(conv_stack, "POST", path, key, {"content": "hello"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "context_too_large" and err["param"] == "context_template", err
    assert call(conv_stack, "PATCH", f"/v1/conversations/{cid}", key,
                {"context_template": "A: {{a}}"}).status_code == 200
    r = call(conv_stack, "POST", path, key, {"content": "hello"})
    assert r.status_code == 200, r.text
    assert len(messages(conv_stack, key, cid)["data"]) == 2  # only the turn that ran


def test_turns_run_one_at_a_time(conv_stack, pg_url):
    _, key = create_tenant(pg_url)
    cid = new_conversation(conv_stack, key, model="gpt-4o-mini")
    path = f"/v1/conversations/{cid}/messages"
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: call(conv_stack, "POST", path, key, {"content": f"c{i}"}),
                                range(4)))
    codes = [r.status_code for r in results]
    assert set(codes) <= {200, 409} and 200 in codes, codes
    for r in results:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "conversation_busy"
    data = messages(conv_stack, key, cid)["data"]
    assert len(data) == 2 * codes.count(200)
    for u, a in zip(data[0::2], data[1::2]):  # each turn's question and answer together
        assert u["role"] == "user" and a["role"] == "assistant" and u["job_id"] == a["job_id"]
        assert a["content"] == f"echo: {u['content']}"


def test_a_failed_turn_leaves_the_history_as_it_was(conv_stack, pg_url):
    _, key = create_tenant(pg_url)
    cid = new_conversation(conv_stack, key, model="gpt-4o-mini")
    path = f"/v1/conversations/{cid}/messages"
    assert call(conv_stack, "POST", path, key, {"content": "first"}).status_code == 200
    r = call(conv_stack, "POST", path, key, {"content": "boom", "model": "bad-request"})
    assert r.status_code == 400, r.text
    assert [m["content"] for m in messages(conv_stack, key, cid)["data"]] == ["first", "echo: first"]
    r = call(conv_stack, "POST", path, key, {"content": "again"})  # not busy
    assert r.status_code == 200, r.text
    # a turn refused before it was queued is undone too
    r = call(conv_stack, "POST", path, key, {"content": "x", "temperature": 9})
    assert r.status_code == 400
    assert len(messages(conv_stack, key, cid)["data"]) == 4
    assert call(conv_stack, "POST", path, key, {"content": "still free"}).status_code == 200


def test_who_sees_which_conversation(conv_stack, pg_url):
    ctl = os.path.join(BUILD, "llmqctl")
    t, admin = create_tenant(pg_url)
    for u in ("ann", "bob"):
        run([ctl, "--pg", pg_url, "user", "create", "--tenant", t, u])
    ann = run([ctl, "--pg", pg_url, "key", "create", "--tenant", t, "--user", "ann"]).stdout.strip()
    bob = run([ctl, "--pg", pg_url, "key", "create", "--tenant", t, "--user", "bob"]).stdout.strip()
    admin = run([ctl, "--pg", pg_url, "key", "create", "--tenant", t, "--role", "admin"]).stdout.strip()
    _, other = create_tenant(pg_url)
    cid = new_conversation(conv_stack, ann, model="mock", metadata={"topic": "openings"})
    for key, code in ((ann, 200), (bob, 404), (admin, 200), (other, 404)):
        assert call(conv_stack, "GET", f"/v1/conversations/{cid}", key).status_code == code
        assert call(conv_stack, "GET", f"/v1/conversations/{cid}/messages", key).status_code == code
        r = call(conv_stack, "POST", f"/v1/conversations/{cid}/messages", key, {"content": "hi"})
        assert r.status_code == code, (code, r.text)
        listed = [c["id"] for c in call(conv_stack, "GET", "/v1/conversations", key).json()["data"]]
        assert (cid in listed) == (code == 200)
    r = call(conv_stack, "GET", "/v1/conversations/not-an-id", ann)
    assert r.status_code == 404
    r = call(conv_stack, "POST", "/v1/chat/completions", ann,
             {"model": "mock", "conversation": "not-an-id", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "conversation", r.text
    r = call(conv_stack, "POST", "/v1/conversations", ann, {"titel": "typo"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "titel", r.text
    r = call(conv_stack, "POST", "/v1/conversations", ann, {"metadata": {"x": "y" * 17000}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "metadata", r.text
    assert call(conv_stack, "DELETE", f"/v1/conversations/{cid}", bob).status_code == 404
    r = call(conv_stack, "DELETE", f"/v1/conversations/{cid}", ann)
    assert r.status_code == 200 and r.json() == {"id": cid, "object": "conversation.deleted",
                                                 "deleted": True}
    assert call(conv_stack, "GET", f"/v1/conversations/{cid}", ann).status_code == 404


def test_a_worker_killed_mid_turn_stores_one_reply(pg_url, brokers, log_dir, db):
    prefix = "convkill" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions",
         "1", "--prefix", prefix])
    s = Stack(pg_url, brokers, log_dir, prefix=prefix, worker_settings={"mock.latency_ms": 3000}).start()
    try:
        _, key = create_tenant(pg_url)
        cid = new_conversation(s, key, model="mock")
        r = call(s, "POST", f"/v1/conversations/{cid}/messages", key, {"content": "slow", "async": True})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        time.sleep(1.5)  # the worker is in the provider call
        s.workers[0].kill()
        s.workers[0].start()
        wait_http(f"http://127.0.0.1:{s.workers[0].settings['admin.port']}/readyz", 60, s.workers[0])
        job = wait_job(s.url, key, job_id, seconds=60)
        assert job["status"] == "succeeded"
        data = poll(lambda: messages(s, key, cid)["data"], lambda d: len(d) >= 2, 20)
        time.sleep(1)
        data = messages(s, key, cid)["data"]
        assert [m["role"] for m in data] == ["user", "assistant"], data
        assert db.execute("SELECT count(*) FROM conversation_messages WHERE conversation_id = %s",
                          (cid,)).fetchone()[0] == 2
    finally:
        s.stop()


def test_old_conversations_are_purged(conv_stack, pg_url, db):
    t, key = create_tenant(pg_url)
    old = new_conversation(conv_stack, key, model="mock")
    fresh = new_conversation(conv_stack, key, model="mock")
    db.execute("UPDATE conversations SET updated_at = now() - interval '40 days' WHERE id = %s", (old,))
    out = run([os.path.join(BUILD, "llmqctl"), "--pg", pg_url, "conversations", "purge", "--days",
               "30", "--tenant", t]).stdout
    assert out.strip() == "1 conversation(s) deleted"
    assert call(conv_stack, "GET", f"/v1/conversations/{old}", key).status_code == 404
    assert call(conv_stack, "GET", f"/v1/conversations/{fresh}", key).status_code == 200


def test_a_tenants_retention_deletes_its_old_conversations(conv_stack, pg_url, db):
    t, key = create_tenant(pg_url)
    _, other_key = create_tenant(pg_url)
    ctl = os.path.join(BUILD, "llmqctl")
    out = run([ctl, "--pg", pg_url, "tenant", "set", t, "--conversation-retention-days", "30"]).stdout
    assert json.loads(out)["conversation_retention_days"] == 30
    old = new_conversation(conv_stack, key, model="mock")
    kept = new_conversation(conv_stack, key, model="mock")
    elsewhere = new_conversation(conv_stack, other_key, model="mock")  # no retention set
    db.execute("UPDATE conversations SET updated_at = now() - interval '40 days' WHERE id IN (%s, %s)",
               (old, elsewhere))
    db.execute("SELECT conversations_purge_due()")  # what the sinks run hourly
    assert call(conv_stack, "GET", f"/v1/conversations/{old}", key).status_code == 404
    assert call(conv_stack, "GET", f"/v1/conversations/{kept}", key).status_code == 200
    assert call(conv_stack, "GET", f"/v1/conversations/{elsewhere}", other_key).status_code == 200
    out = run([ctl, "--pg", pg_url, "tenant", "set", t, "--conversation-retention-days", "off"]).stdout
    assert json.loads(out)["conversation_retention_days"] is None
    bad = subprocess.run([ctl, "--pg", pg_url, "tenant", "set", t, "--conversation-retention-days", "0"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "conversation_retention_days" in bad.stderr, bad.stderr


def test_a_turn_whose_node_died_before_queuing_is_undone(conv_stack, pg_url, db):
    """A node that dies between beginning a turn and Kafka's acknowledgement leaves the turn's
    busy mark as a short lease: it runs out, the sinks undo the turn (its pending message goes)
    and the conversation takes turns again. A queued turn's mark lasts the turn's full time."""
    _, key = create_tenant(pg_url)
    cid = new_conversation(conv_stack, key, model="mock")
    lost = str(uuid.uuid4())
    # what a node leaves when it dies after conversation_turn_begin, before Kafka has the request
    db.execute("INSERT INTO conversation_messages (conversation_id, seq, job_id, role, message, state)"
               " VALUES (%s, 1, %s, 'user', '{\"role\": \"user\", \"content\": \"lost\"}', 'pending')",
               (cid, lost))
    db.execute("UPDATE conversations SET busy_job = %s, busy_until = now() + interval '2 seconds'"
               " WHERE id = %s", (lost, cid))
    r = call(conv_stack, "POST", f"/v1/conversations/{cid}/messages", key, {"content": "too soon"})
    assert r.status_code == 409, r.text
    pending = lambda: db.execute("SELECT count(*) FROM conversation_messages WHERE conversation_id = %s"
                                 " AND state = 'pending'", (cid,)).fetchone()[0]
    assert poll(pending, lambda n: n == 0, 15) == 0  # the lease ran out; a sink undid the turn
    assert db.execute("SELECT busy_job FROM conversations WHERE id = %s", (cid,)).fetchone()[0] is None
    r = call(conv_stack, "POST", f"/v1/conversations/{cid}/messages", key, {"content": "again"})
    assert r.status_code == 200, r.text
    assert [m["content"] for m in messages(conv_stack, key, cid)["data"] if m["role"] == "user"] == ["again"]
    # a queued turn's mark is extended to its full time
    db.execute("UPDATE conversations SET busy_job = %s, busy_until = now() + interval '2 seconds'"
               " WHERE id = %s", (lost, cid))
    db.execute("SELECT conversation_turn_queued(%s, 180000)", (lost,))
    left = db.execute("SELECT extract(epoch FROM busy_until - now()) FROM conversations WHERE id = %s",
                      (cid,)).fetchone()[0]
    assert 170 < left <= 180, left
    db.execute("UPDATE conversations SET busy_job = NULL, busy_until = NULL WHERE id = %s", (cid,))
