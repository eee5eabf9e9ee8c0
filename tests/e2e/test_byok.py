"""Tenants' own provider keys: stored encrypted (AES-256-GCM under the master key), shown
masked, used by workers for that tenant's requests only, revocable within seconds, audited,
and re-encrypted under a new master key by llmqctl provider-key rotate."""
import os
import subprocess
import uuid

import pytest
import requests

from conftest import BUILD, Stack, poll, run
from fake_providers import OpenAIServer

MASTER = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
NEW_MASTER = "f0e0d0c0b0a090807060504030201000f0e0d0c0b0a090807060504030201000"


def ctl(pg_url, *args, stdin=None, check=True, env=None):
    return subprocess.run([os.path.join(BUILD, "llmqctl"), "--pg", pg_url, *args], input=stdin,
                          capture_output=True, text=True, check=check, env=env)


@pytest.fixture(scope="module")
def fake():
    f = OpenAIServer(api_key="sk-tenant-own-0123456789abcdef")
    yield f
    f.close()


@pytest.fixture(scope="module")
def keyfiles(state_dir):
    paths = {}
    for name, value in (("master", MASTER), ("new", NEW_MASTER)):
        p = os.path.join(state_dir, f"byok-{name}.key")
        with open(p, "w") as fp:
            fp.write(value + "\n")
        os.chmod(p, 0o600)
        paths[name] = p
    return paths


@pytest.fixture(scope="module")
def bstack(pg_url, brokers, log_dir, fake, keyfiles):
    prefix = "byok" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "1",
         "--prefix", prefix])
    s = Stack(pg_url, brokers, log_dir, prefix=prefix,
              ingest_settings={"secrets.master_key_file": keyfiles["master"]},
              # the installation's own OpenAI key is not one the provider accepts
              worker_settings={"openai.base_url": fake.base_url, "provider.max_attempts": 1,
                               "secrets.master_key_file": keyfiles["master"]},
              worker_env={"LLMQ_OPENAI_API_KEY": "sk-installation-not-accepted-here"}).start()
    yield s
    s.stop()


def tenant_with_admin(pg_url):
    t = "k" + uuid.uuid4().hex[:10]
    ctl(pg_url, "tenant", "create", t)
    return t, ctl(pg_url, "key", "create", "--tenant", t, "--role", "admin").stdout.strip()


def chat(stack, key):
    return requests.post(f"{stack.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                         json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                         timeout=60)


def test_a_tenants_own_key_is_used_for_its_requests_only(bstack, fake, pg_url, db):
    a, akey = tenant_with_admin(pg_url)
    b, bkey = tenant_with_admin(pg_url)
    # without a key of its own, the installation's key is used (and refused here)
    assert chat(bstack, akey).status_code == 502
    r = requests.post(f"{bstack.url}/admin/v1/tenants/{a}/provider-keys", headers={"Authorization": f"Bearer {akey}"},
                      json={"endpoint": "openai", "key": fake.api_key}, timeout=30)
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["masked"] == "sk-t…ef" and fake.api_key not in r.text
    # the worker reloads the tenant's keys when the database notifies it
    r = poll(lambda: chat(bstack, akey), lambda r: r.status_code == 200, 10)
    assert r.status_code == 200, r.text
    assert fake.calls[-1][1]["Authorization"] == f"Bearer {fake.api_key}"
    assert chat(bstack, bkey).status_code == 502  # tenant b still uses the installation's key
    job = r.json()["id"][len("chatcmpl-"):]
    row = poll(lambda: db.execute("SELECT spans FROM traces WHERE job_id = %s", (job,)).fetchone(),
               lambda v: v is not None, 10)
    assert [s for s in row[0] if s["name"] == "provider"][0]["attrs"]["key"] == "tenant"
    # never stored or shown in clear; another tenant cannot even list them
    raw = db.execute("SELECT ciphertext, masked, master_key_id FROM provider_keys WHERE id = %s",
                     (stored["id"],)).fetchone()
    assert fake.api_key.encode() not in bytes(raw[0]) and raw[1] == "sk-t…ef"
    listed = requests.get(f"{bstack.url}/admin/v1/tenants/{a}/provider-keys",
                          headers={"Authorization": f"Bearer {akey}"}, timeout=30)
    assert listed.status_code == 200 and fake.api_key not in listed.text
    assert requests.get(f"{bstack.url}/admin/v1/tenants/{a}/provider-keys",
                        headers={"Authorization": f"Bearer {bkey}"}, timeout=30).status_code == 404
    actions = [x[0] for x in db.execute("SELECT action FROM audit_log WHERE tenant_id = %s ORDER BY seq",
                                        (a,)).fetchall()]
    assert "provider_key.set" in actions and "provider_key.list" in actions
    assert fake.api_key not in str(db.execute("SELECT details FROM audit_log WHERE tenant_id = %s", (a,)).fetchall())
    # revoked: back to the installation's key within seconds
    r = requests.delete(f"{bstack.url}/admin/v1/tenants/{a}/provider-keys/{stored['id']}",
                        headers={"Authorization": f"Bearer {akey}"}, timeout=30)
    assert r.status_code == 200
    assert poll(lambda: chat(bstack, akey).status_code, lambda s: s == 502, 10) == 502
    for name in ("worker0", "ingest"):
        log = (bstack.workers[0] if name == "worker0" else bstack.ingest).log_text()
        assert fake.api_key not in log


def test_moving_a_ciphertext_to_another_tenant_does_not_open_it(bstack, fake, pg_url, db):
    a, akey = tenant_with_admin(pg_url)
    b, bkey = tenant_with_admin(pg_url)
    # without a master key llmqctl refuses to store a provider key
    no_key = {k: v for k, v in os.environ.items() if k != "LLMQ_MASTER_KEY"}
    r = ctl(pg_url, "provider-key", "set", "--tenant", a, "--endpoint", "openai", stdin=fake.api_key + "\n",
            check=False, env=no_key)
    assert r.returncode != 0 and "master key" in r.stderr
    env = dict(os.environ, LLMQ_MASTER_KEY=MASTER)
    ctl(pg_url, "provider-key", "set", "--tenant", a, "--endpoint", "openai", stdin=fake.api_key + "\n", env=env)
    assert poll(lambda: chat(bstack, akey).status_code, lambda s: s == 200, 10) == 200
    # someone with database access copies a's encrypted key onto b's row
    ctl(pg_url, "provider-key", "set", "--tenant", b, "--endpoint", "openai", stdin="sk-b-own-key-123456\n", env=env)
    db.execute("UPDATE provider_keys AS tb SET nonce = ta.nonce, ciphertext = ta.ciphertext, tag = ta.tag"
               " FROM provider_keys ta WHERE ta.tenant_id = %s AND ta.revoked_at IS NULL"
               " AND tb.tenant_id = %s AND tb.revoked_at IS NULL", (a, b))
    # b's requests do not get a's key: the value is bound to its row and does not decrypt
    assert poll(lambda: chat(bstack, bkey).status_code, lambda s: s == 502, 10) == 502
    assert chat(bstack, akey).status_code == 200
    assert "does not decrypt" in bstack.workers[0].log_text()
    db.execute("DELETE FROM provider_keys WHERE tenant_id = %s", (b,))  # leave no broken row behind


def test_rotating_the_master_key(bstack, pg_url, db, keyfiles):
    a, _ = tenant_with_admin(pg_url)
    env = dict(os.environ, LLMQ_MASTER_KEY=MASTER)
    ctl(pg_url, "provider-key", "set", "--tenant", a, "--endpoint", "anthropic", stdin="sk-ant-xyz-0123456789\n", env=env)
    before = db.execute("SELECT master_key_id, ciphertext FROM provider_keys WHERE tenant_id = %s", (a,)).fetchone()
    # the wrong old key: refused, nothing changes
    bad = ctl(pg_url, "provider-key", "rotate", "--old-key-file", keyfiles["new"], "--new-key-file",
              keyfiles["master"], check=False)
    assert "re-encrypted 0" in bad.stdout or bad.returncode != 0
    out = ctl(pg_url, "provider-key", "rotate", "--old-key-file", keyfiles["master"], "--new-key-file",
              keyfiles["new"]).stdout
    assert "re-encrypted" in out
    after = db.execute("SELECT master_key_id, ciphertext FROM provider_keys WHERE tenant_id = %s", (a,)).fetchone()
    assert after[0] != before[0] and bytes(after[1]) != bytes(before[1])
    assert "provider_key.rotate" in [x[0] for x in db.execute(
        "SELECT action FROM audit_log WHERE tenant_id = %s", (a,)).fetchall()]
    # back again, so the module's stack (old master key) keeps working for other tests
    ctl(pg_url, "provider-key", "rotate", "--old-key-file", keyfiles["new"], "--new-key-file", keyfiles["master"])
    assert ctl(pg_url, "audit", "verify", "--tenant", a).returncode == 0
