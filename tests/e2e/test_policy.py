"""The prompt policy end to end: secrets in prompts blocked (400 naming the policy, never the
secret; an audit entry) or masked before they are stored or sent; blocked keywords; per-project
overrides; credentials in answers masked and named in the trace."""
import json
import os
import subprocess
import uuid

import pytest
import requests

from conftest import BUILD, openai_stack, poll
from fake_providers import OpenAIServer

AWS = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_0123456789abcdefghijABCDEFGHIJ0123456789"


def ctl(pg_url, *args):
    return subprocess.run([os.path.join(BUILD, "llmqctl"), "--pg", pg_url, *args],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def fake():
    f = OpenAIServer()
    yield f
    f.close()


@pytest.fixture(scope="module")
def pstack(pg_url, brokers, log_dir, fake):
    s = openai_stack(pg_url, brokers, log_dir, fake, "pol")
    yield s
    s.stop()


@pytest.fixture()
def org(pg_url):
    t = "p" + uuid.uuid4().hex[:10]
    ctl(pg_url, "tenant", "create", t)
    return t, ctl(pg_url, "key", "create", "--tenant", t, "--role", "admin")


def chat(stack, key, text, model="gpt-4o-mini"):
    return requests.post(f"{stack.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                         json={"model": model, "messages": [{"role": "system", "content": "be brief"},
                                                            {"role": "user", "content": text}]},
                         timeout=60)


def set_policy(stack, key, tenant, policy, project=None):
    path = f"/admin/v1/tenants/{tenant}" + (f"/projects/{project}" if project else "") + "/policy"
    r = requests.put(f"{stack.url}{path}", headers={"Authorization": f"Bearer {key}"}, json=policy, timeout=30)
    assert r.status_code == 200, r.text


def test_a_secret_in_a_prompt_is_blocked_by_default(pstack, fake, org, db):
    tenant, key = org
    marker = uuid.uuid4().hex
    r = chat(pstack, key, f"{marker} please deploy with {AWS} now")
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "policy_violation" and err["param"] == "messages[1]"
    assert "secret_detected" in err["message"] and "aws_access_key" in err["message"]
    assert AWS not in r.text
    assert not [c for c in fake.calls if marker in json.dumps(c[2])]  # never reached a provider
    row = poll(lambda: db.execute("SELECT action, target, details FROM audit_log WHERE tenant_id = %s"
                                  " AND action = 'policy.block'", (tenant,)).fetchone(),
               lambda v: v is not None, 5)
    assert row and row[1] == "secret_detected" and row[2]["found"] == "aws_access_key"
    assert AWS not in json.dumps(row[2])
    # a private key block, a GitHub token: the same
    assert chat(pstack, key, "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----").status_code == 400
    assert chat(pstack, key, f"token {GITHUB}").status_code == 400
    assert chat(pstack, key, "nothing secret here, just a task-force-alpha-bravo-charlie").status_code == 200


def test_redact_policy_masks_before_anything_is_stored(pstack, fake, org):
    tenant, key = org
    set_policy(pstack, key, tenant, {"kinds": {"aws_access_key": "redact"}})
    marker = uuid.uuid4().hex
    # the node learns the new policy within a second (the change notification)
    r = poll(lambda: chat(pstack, key, f"{marker} key {AWS}"), lambda r: r.status_code == 200, 5)
    assert r.status_code == 200, r.text
    sent = [c for c in fake.calls if marker in json.dumps(c[2])][-1][2]["messages"][-1]["content"]
    assert AWS not in sent and "AKIA**************LE" in sent  # the provider got it masked
    assert AWS not in r.text


def test_blocked_keywords_and_project_overrides(pstack, org, pg_url):
    tenant, key = org
    set_policy(pstack, key, tenant, {"blocked_keywords": ["Project Bluebird"]})
    r = poll(lambda: chat(pstack, key, "status of project bluebird?"), lambda r: r.status_code == 400, 5)
    assert r.status_code == 400 and "blocked_keyword" in r.json()["error"]["message"]
    assert chat(pstack, key, "status of project bluebirds?").status_code == 200  # whole words only
    # a project with its own policy: its keys follow it instead
    ctl(pg_url, "project", "create", "--tenant", tenant, "lab")
    lab_key = ctl(pg_url, "key", "create", "--tenant", tenant, "--project", "lab")
    set_policy(pstack, key, tenant, {"secrets": "allow"}, project="lab")
    r = poll(lambda: chat(pstack, lab_key, "project bluebird and " + AWS), lambda r: r.status_code == 200, 5)
    assert r.status_code == 200, r.text
    # bad policies are refused
    r = requests.put(f"{pstack.url}/admin/v1/tenants/{tenant}/policy", headers={"Authorization": f"Bearer {key}"},
                     json={"secrets": "maybe"}, timeout=30)
    assert r.status_code == 400
    dev = ctl(pg_url, "key", "create", "--tenant", tenant)
    r = requests.put(f"{pstack.url}/admin/v1/tenants/{tenant}/policy", headers={"Authorization": f"Bearer {dev}"},
                     json={}, timeout=30)
    assert r.status_code == 403


def test_credentials_in_answers_are_masked_and_flagged(pstack, org, db):
    tenant, key = org
    set_policy(pstack, key, tenant, {"kinds": {"github_token": "allow"}})
    # the fake echoes the prompt: an answer carrying a token
    r = poll(lambda: chat(pstack, key, f"repeat {GITHUB}"), lambda r: r.status_code == 200, 5)
    assert r.status_code == 200, r.text
    content = r.json()["choices"][0]["message"]["content"]
    assert GITHUB not in content and "ghp_" in content and "*" in content
    job_id = r.json()["id"][len("chatcmpl-"):]
    row = poll(lambda: db.execute("SELECT spans FROM traces WHERE job_id = %s", (job_id,)).fetchone(),
               lambda v: v is not None, 10)
    provider = [s for s in row[0] if s["name"] == "provider"][0]
    assert provider["attrs"]["output_findings"] == "github_token"
    stored = poll(lambda: db.execute("SELECT result FROM jobs WHERE id = %s", (job_id,)).fetchone(),
                  lambda v: v is not None and v[0] is not None, 10)
    assert GITHUB not in json.dumps(stored[0])


OPENAI_KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345"


def chat_parts(stack, key, parts, model="gpt-4o-mini"):
    return requests.post(f"{stack.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                         json={"model": model, "messages": [{"role": "user", "content": parts}]}, timeout=60)


def test_a_key_split_across_text_parts_is_found(pstack, fake, org):
    tenant, key = org
    marker = uuid.uuid4().hex
    # the model reads the parts as one text: the key is blocked though neither part holds it
    parts = [{"type": "text", "text": f"{marker} use {OPENAI_KEY[:12]}"},
             {"type": "text", "text": OPENAI_KEY[12:] + " now"}]
    r = chat_parts(pstack, key, parts)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "policy_violation" and err["param"] == "messages[0]"
    assert "openai_key" in err["message"] and OPENAI_KEY[12:] not in r.text
    assert not [c for c in fake.calls if marker in json.dumps(c[2])]
    # redact: masked across both parts, as one secret
    set_policy(pstack, key, tenant, {"kinds": {"openai_key": "redact"}})
    r = poll(lambda: chat_parts(pstack, key, parts), lambda r: r.status_code == 200, 5)
    assert r.status_code == 200, r.text
    sent = [c for c in fake.calls if marker in json.dumps(c[2])][-1][2]["messages"][-1]["content"]
    assert isinstance(sent, list) and len(sent) == 2
    joined = "".join(p["text"] for p in sent)
    assert OPENAI_KEY[4:-2] not in joined and OPENAI_KEY[12:] not in json.dumps(sent)
    assert f"sk-p{'*' * (len(OPENAI_KEY) - 6)}45 now" in joined


def test_a_credential_split_across_streamed_deltas_never_reaches_the_client(pstack, fake, org, db):
    """The fake streams an answer whose key is cut in two deltas: the streaming client (the
    official openai SDK) gets the masked form, the trace names the kind."""
    import openai
    tenant, key = org
    secret = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    fake.answer_pieces = ["Your ", "key ", "is ", secret[:13], secret[13:], " and ", "that ", "is ", "all."]
    try:
        stream = openai.OpenAI(base_url=f"{pstack.url}/v1", api_key=key, max_retries=0, timeout=60) \
            .chat.completions.create(model="gpt-4o-mini", stream=True,
                                     messages=[{"role": "user", "content": "what is my key?"}])
        deltas, chunk_id = [], None
        for chunk in stream:
            chunk_id = chunk.id
            if chunk.choices and chunk.choices[0].delta.content:
                deltas.append(chunk.choices[0].delta.content)
    finally:
        fake.answer_pieces = None
    text = "".join(deltas)
    assert len(deltas) > 1
    assert text == "Your key is sk-p" + "*" * (len(secret) - 6) + "45 and that is all.", text
    assert not any(secret[:13][4:] in d or secret[13:-2] in d for d in deltas)
    job_id = chunk_id[len("chatcmpl-"):]
    row = poll(lambda: db.execute("SELECT spans FROM traces WHERE job_id = %s", (job_id,)).fetchone(),
               lambda v: v is not None, 10)
    provider = [s for s in row[0] if s["name"] == "provider"][0]
    assert provider["attrs"]["output_findings"] == "openai_key"
