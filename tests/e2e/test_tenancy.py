"""Tenants, roles and the admin API end to end: RBAC on every route, two tenants that never
see each other (404), changes reaching a running ingest node within seconds, the
tamper-evident audit log."""
import os
import subprocess
import time
import uuid

import psycopg
import pytest
import requests

from conftest import BUILD, poll

ROLES = ["viewer", "developer", "admin", "owner"]


def ctl(pg_url, *args, check=True):
    return subprocess.run([os.path.join(BUILD, "llmqctl"), "--pg", pg_url, *args],
                          capture_output=True, text=True, check=check)


def new_tenant(pg_url):
    t = "t" + uuid.uuid4().hex[:10]
    ctl(pg_url, "tenant", "create", t)
    keys = {r: ctl(pg_url, "key", "create", "--tenant", t, "--role", r).stdout.strip() for r in ROLES}
    return t, keys


@pytest.fixture(scope="module")
def world(pg_url):
    a, akeys = new_tenant(pg_url)
    b, bkeys = new_tenant(pg_url)
    ops = "ops" + uuid.uuid4().hex[:8]
    ctl(pg_url, "tenant", "create", ops)
    platform = ctl(pg_url, "key", "create", "--tenant", ops, "--role", "platform").stdout.strip()
    return {"a": a, "akeys": akeys, "b": b, "bkeys": bkeys, "platform": platform}


def call(stack, method, path, key, body=None):
    return requests.request(method, f"{stack.url}{path}", headers={"Authorization": f"Bearer {key}"},
                            json=body, timeout=30)


def test_me_names_the_caller(stack, world):
    for role, key in world["akeys"].items():
        r = call(stack, "GET", "/admin/v1/me", key)
        assert r.status_code == 200, r.text
        assert r.json()["role"] == role and r.json()["tenant"] == world["a"]


def test_viewers_read_developers_use_the_api(stack, world):
    body = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
    r = call(stack, "POST", "/v1/chat/completions", world["akeys"]["viewer"], body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_role"
    r = call(stack, "POST", "/v1/jobs", world["akeys"]["viewer"], body)
    assert r.status_code == 403
    for role in ("developer", "admin", "owner"):
        r = call(stack, "POST", "/v1/chat/completions", world["akeys"][role], body)
        assert r.status_code == 200, (role, r.text)
    job = call(stack, "POST", "/v1/jobs", world["akeys"]["developer"], body).json()["id"]
    # a viewer of the tenant reads its jobs; nobody of another tenant does, whatever the role
    r = poll(lambda: call(stack, "GET", f"/v1/jobs/{job}", world["akeys"]["viewer"]),
             lambda r: r.status_code == 200, 10)
    assert r.status_code == 200
    for role in ROLES:
        assert call(stack, "GET", f"/v1/jobs/{job}", world["bkeys"][role]).status_code == 404


# (method, path under /admin/v1/tenants/{t}, body, the least role that may)
TENANT_ROUTES = [
    ("GET", "", None, "viewer"),
    ("GET", "/projects", None, "viewer"),
    ("POST", "/projects", {"id": "p-{n}"}, "admin"),
    ("PATCH", "/projects/p-fixed", {"name": "renamed"}, "admin"),
    ("GET", "/users", None, "viewer"),
    ("POST", "/users", {"id": "dev-{n}", "role": "developer"}, "admin"),
    ("POST", "/users", {"id": "adm-{n}", "role": "admin"}, "owner"),
    ("PATCH", "/users/u-fixed", {"name": "Renamed"}, "admin"),
    ("GET", "/keys", None, "viewer"),
    ("POST", "/keys", {"role": "developer"}, "admin"),
    ("POST", "/keys", {"role": "admin"}, "owner"),
    ("GET", "/audit", None, "admin"),
    ("GET", "/audit/verify", None, "admin"),
]


def test_every_tenant_route_by_role_and_tenant(stack, world, pg_url):
    a = world["a"]
    ctl(pg_url, "project", "create", "--tenant", a, "p-fixed", check=False)
    ctl(pg_url, "user", "create", "--tenant", a, "u-fixed", "--role", "developer", check=False)
    n = 0
    for method, sub, body, least in TENANT_ROUTES:
        for role in ROLES:
            n += 1
            b = {k: v.replace("{n}", str(n)) if isinstance(v, str) else v for k, v in (body or {}).items()} \
                if body else None
            r = call(stack, method, f"/admin/v1/tenants/{a}{sub}", world["akeys"][role], b)
            allowed = ROLES.index(role) >= ROLES.index(least)
            want = (201 if method == "POST" else 200) if allowed else 403
            assert r.status_code == want, (method, sub, role, r.status_code, r.text)
            # another tenant's caller, whatever its role, finds nothing there
            r = call(stack, method, f"/admin/v1/tenants/{a}{sub}", world["bkeys"][role], b)
            assert r.status_code == 404, (method, sub, "other tenant", role, r.text)
        # the platform operator may do everything
        n += 1
        b = {k: v.replace("{n}", str(n)) if isinstance(v, str) else v for k, v in (body or {}).items()} \
            if body else None
        r = call(stack, method, f"/admin/v1/tenants/{a}{sub}", world["platform"], b)
        assert r.status_code in (200, 201), (method, sub, "platform", r.text)


def test_platform_routes(stack, world):
    t = "n" + uuid.uuid4().hex[:8]
    for role in ROLES:
        assert call(stack, "GET", "/admin/v1/tenants", world["akeys"][role]).status_code == 403
        assert call(stack, "POST", "/admin/v1/tenants", world["akeys"][role], {"id": t}).status_code == 403
        assert call(stack, "PATCH", f"/admin/v1/tenants/{world['a']}", world["akeys"][role],
                    {"tier": "pro"}).status_code == 403
    r = call(stack, "POST", "/admin/v1/tenants", world["platform"], {"id": t, "name": "New", "tier": "pro"})
    assert r.status_code == 201 and r.json()["tier"] == "pro", r.text
    assert call(stack, "POST", "/admin/v1/tenants", world["platform"], {"id": t}).status_code == 409
    r = call(stack, "PATCH", f"/admin/v1/tenants/{t}", world["platform"], {"limits": {"rpm": 600}})
    assert r.status_code == 200 and r.json()["limits"] == {"rpm": 600}
    ids = [x["id"] for x in call(stack, "GET", "/admin/v1/tenants", world["platform"]).json()["data"]]
    assert t in ids and world["a"] in ids
    r = call(stack, "POST", "/admin/v1/tenants", world["platform"], {"id": "Bad Id!"})
    assert r.status_code == 400
    r = call(stack, "PATCH", f"/admin/v1/tenants/{t}", world["platform"], {"owner": "x"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_parameter"


def test_created_key_works_once_shown_and_revocation_reaches_the_node_fast(stack, world):
    admin = world["akeys"]["admin"]
    r = call(stack, "POST", f"/admin/v1/tenants/{world['a']}/keys", admin, {"name": "ci", "role": "developer"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["key"].startswith("llmq-") and created["prefix"] == created["key"][:12]
    listed = call(stack, "GET", f"/admin/v1/tenants/{world['a']}/keys", admin).json()["data"]
    mine = [k for k in listed if k["id"] == created["id"]][0]
    assert "key" not in mine and mine["prefix"] == created["prefix"]  # never shown again
    assert call(stack, "GET", "/admin/v1/me", created["key"]).status_code == 200  # cached now
    r = call(stack, "DELETE", f"/admin/v1/tenants/{world['a']}/keys/{created['id']}", admin)
    assert r.status_code == 200, r.text
    # the node cached the key for up to 30 s; the database's notification clears it at once
    t0 = time.time()
    r = poll(lambda: call(stack, "GET", "/admin/v1/me", created["key"]),
             lambda r: r.status_code == 401, 5)
    assert r.status_code == 401 and time.time() - t0 < 5
    # an admin cannot revoke an owner's key; another tenant's admin cannot find it
    owner_keys = [k for k in listed if k["role"] == "owner"]
    r = call(stack, "DELETE", f"/admin/v1/tenants/{world['a']}/keys/{owner_keys[0]['id']}", admin)
    assert r.status_code == 403
    r = call(stack, "DELETE", f"/admin/v1/tenants/{world['a']}/keys/{owner_keys[0]['id']}",
             world["bkeys"]["owner"])
    assert r.status_code == 404


def test_disabled_tenant_and_project_and_user_stop_their_keys(stack, pg_url, world):
    t, keys = new_tenant(pg_url)
    dev = keys["developer"]
    assert call(stack, "GET", "/admin/v1/me", dev).status_code == 200
    r = call(stack, "PATCH", f"/admin/v1/tenants/{t}", world["platform"], {"disabled": True})
    assert r.status_code == 200
    assert poll(lambda: call(stack, "GET", "/admin/v1/me", dev).status_code, lambda s: s == 401, 5) == 401
    call(stack, "PATCH", f"/admin/v1/tenants/{t}", world["platform"], {"disabled": False})
    assert poll(lambda: call(stack, "GET", "/admin/v1/me", dev).status_code, lambda s: s == 200, 5) == 200
    # a key bound to a project stops with the project; one bound to a user with the user
    ctl(pg_url, "project", "create", "--tenant", t, "proj")
    ctl(pg_url, "user", "create", "--tenant", t, "carol", "--role", "developer")
    pkey = ctl(pg_url, "key", "create", "--tenant", t, "--project", "proj").stdout.strip()
    ukey = ctl(pg_url, "key", "create", "--tenant", t, "--user", "carol").stdout.strip()
    assert call(stack, "GET", "/admin/v1/me", pkey).json()["project"] == "proj"
    assert call(stack, "GET", "/admin/v1/me", ukey).json()["user"] == "carol"
    ctl(pg_url, "project", "disable", "--tenant", t, "proj")
    ctl(pg_url, "user", "disable", "--tenant", t, "carol")
    assert poll(lambda: call(stack, "GET", "/admin/v1/me", pkey).status_code, lambda s: s == 401, 5) == 401
    assert poll(lambda: call(stack, "GET", "/admin/v1/me", ukey).status_code, lambda s: s == 401, 5) == 401
    assert call(stack, "GET", "/admin/v1/me", dev).status_code == 200


def test_expiry_and_scopes(stack, world):
    admin = world["akeys"]["admin"]
    r = call(stack, "POST", f"/admin/v1/tenants/{world['a']}/keys", admin,
             {"role": "developer", "expires_at": int(time.time()) + 2})
    key = r.json()["key"]
    assert call(stack, "GET", "/admin/v1/me", key).status_code == 200
    assert poll(lambda: call(stack, "GET", "/admin/v1/me", key).status_code, lambda s: s == 401, 8) == 401
    r = call(stack, "POST", f"/admin/v1/tenants/{world['a']}/keys", admin, {"role": "developer", "scopes": ["jobs"]})
    key = r.json()["key"]
    body = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
    r = call(stack, "POST", "/v1/chat/completions", key, body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert call(stack, "POST", "/v1/jobs", key, body).status_code == 202
    assert call(stack, "GET", f"/admin/v1/tenants/{world['a']}", key).status_code == 403
    r = call(stack, "POST", f"/admin/v1/tenants/{world['a']}/keys", admin, {"scopes": ["everything"]})
    assert r.status_code == 400


def test_audit_log_records_changes_and_verify_finds_tampering(stack, pg_url, world):
    t, keys = new_tenant(pg_url)
    call(stack, "POST", f"/admin/v1/tenants/{t}/projects", keys["admin"], {"id": "audited"})
    entries = call(stack, "GET", f"/admin/v1/tenants/{t}/audit", keys["admin"]).json()["data"]
    actions = [e["action"] for e in entries]
    assert actions[0] == "project.create" and actions.count("key.create") == 4 and actions[-1] == "tenant.create"
    assert entries[0]["actor"].startswith("key:")
    ok = ctl(pg_url, "audit", "verify", "--tenant", t)
    assert ok.returncode == 0 and "intact" in ok.stdout
    v = call(stack, "GET", f"/admin/v1/tenants/{t}/audit/verify", keys["admin"]).json()
    assert v["intact"] is True and v["entries"] == len(entries), v
    # the log refuses edits through SQL...
    with psycopg.connect(pg_url, autocommit=True) as db:
        with pytest.raises(psycopg.Error):
            db.execute("UPDATE audit_log SET actor = 'someone else' WHERE tenant_id = %s", (t,))
        # ...so someone with full access goes behind its back
        db.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        try:
            db.execute("UPDATE audit_log SET details = '{\"role\": \"viewer\"}' WHERE tenant_id = %s AND seq = 3",
                       (t,))
        finally:
            db.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    bad = ctl(pg_url, "audit", "verify", "--tenant", t, check=False)
    assert bad.returncode == 1 and f'tenant "{t}" entry 3' in bad.stdout, bad.stdout
    v = call(stack, "GET", f"/admin/v1/tenants/{t}/audit/verify", keys["admin"]).json()
    assert v["intact"] is False and v["broken_seq"] == 3, v


def test_row_level_security_is_a_second_wall(stack, world, pg_url):
    """The role the API's reads run as sees one tenant's rows, whatever the query says."""
    body = {"model": "mock", "messages": [{"role": "user", "content": "rls"}]}
    for t in ("akeys", "bkeys"):
        assert call(stack, "POST", "/v1/chat/completions", world[t]["developer"], body).status_code == 200
    tables = ["jobs", "usage_events", "traces", "api_keys", "audit_log"]
    with psycopg.connect(pg_url, autocommit=True) as db:
        poll(lambda: db.execute("SELECT count(DISTINCT tenant_id) FROM usage_events WHERE tenant_id IN (%s, %s)",
                                (world["a"], world["b"])).fetchone()[0], lambda n: n == 2, 10)
        db.execute("SET ROLE llmq_tenant_reader")
        try:
            for table in tables:
                db.execute("SELECT set_config('llmq.tenant', %s, false)", (world["a"],))
                seen = {r[0] for r in db.execute(f"SELECT DISTINCT tenant_id FROM {table}").fetchall()}
                assert seen == {world["a"]}, (table, seen)  # no WHERE clause, one tenant
                db.execute("SELECT set_config('llmq.tenant', '', false)")
                assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
        finally:
            db.execute("RESET ROLE")


def test_usage_and_traces_name_the_user_and_key(stack, pg_url, db):
    t = "u" + uuid.uuid4().hex[:10]
    ctl(pg_url, "tenant", "create", t)
    ctl(pg_url, "user", "create", "--tenant", t, "dora", "--role", "developer")
    key = ctl(pg_url, "key", "create", "--tenant", t, "--user", "dora").stdout.strip()
    key_id = call(stack, "GET", "/admin/v1/me", key).json()["key_id"]
    r = call(stack, "POST", "/v1/chat/completions", key,
             {"model": "mock", "messages": [{"role": "user", "content": "who"}]})
    job = r.json()["id"][len("chatcmpl-"):]
    usage = poll(lambda: db.execute("SELECT user_id, api_key_id::text FROM usage_events WHERE job_id = %s",
                                    (job,)).fetchone(), lambda v: v is not None, 10)
    assert usage == ("dora", key_id)
    trace = poll(lambda: db.execute("SELECT user_id, api_key_id::text FROM traces WHERE job_id = %s",
                                    (job,)).fetchone(), lambda v: v is not None, 10)
    assert trace == ("dora", key_id)


def test_llmqctl_day_one(pg_url):
    """What a new operator does on day one, with llmqctl alone."""
    t = "d" + uuid.uuid4().hex[:10]
    assert ctl(pg_url, "tenant", "create", t, "--name", "Day One", "--tier", "pro").returncode == 0
    assert ctl(pg_url, "tenant", "create", t).returncode == 0  # again: nothing changes, no error
    ctl(pg_url, "tenant", "set", t, "--limits", '{"rpm": 60}')
    ctl(pg_url, "project", "create", "--tenant", t, "web")
    ctl(pg_url, "user", "create", "--tenant", t, "ann", "--role", "owner", "--email", "ann@example.org")
    key = ctl(pg_url, "key", "create", "--tenant", t, "--role", "owner", "--user", "ann", "--scopes", "admin",
              "--expires-in-days", "30").stdout.strip()
    assert key.startswith("llmq-")
    ctl(pg_url, "policy", "set", "--tenant", t, '{"blocked_keywords": ["secret project"]}')
    tenants = ctl(pg_url, "tenant", "list").stdout
    assert t in tenants and '"rpm": 60' in tenants and "pro" in tenants
    assert "web" in ctl(pg_url, "project", "list", "--tenant", t).stdout
    assert "ann@example.org" in ctl(pg_url, "user", "list", "--tenant", t).stdout
    keys = ctl(pg_url, "key", "list", "--tenant", t).stdout
    assert key[:12] in keys and key not in keys and "owner" in keys and "{admin}" in keys
    assert "secret project" in ctl(pg_url, "policy", "show", "--tenant", t).stdout
    key_id = [line.split("\t")[0] for line in keys.splitlines()[1:]][0]
    ctl(pg_url, "key", "revoke", key_id)
    assert ctl(pg_url, "key", "revoke", key_id, check=False).returncode != 0  # already revoked
    ctl(pg_url, "tenant", "disable", t)
    audit = ctl(pg_url, "audit", "list", "--tenant", t).stdout
    for action in ("tenant.create", "tenant.update", "project.create", "user.create", "key.create",
                   "policy.set", "key.revoke"):
        assert action in audit, action
    assert ctl(pg_url, "audit", "verify", "--tenant", t).returncode == 0


def test_a_key_never_reaches_further_than_its_user_or_creator(stack, world, pg_url):
    t, keys = new_tenant(pg_url)
    ctl(pg_url, "user", "create", "--tenant", t, "eve", "--role", "owner")
    eve = ctl(pg_url, "key", "create", "--tenant", t, "--role", "owner", "--user", "eve").stdout.strip()
    assert call(stack, "GET", "/admin/v1/me", eve).json()["role"] == "owner"
    # eve is demoted: her owner key acts as a developer at once
    r = call(stack, "PATCH", f"/admin/v1/tenants/{t}/users/eve", keys["owner"], {"role": "developer"})
    assert r.status_code == 200, r.text
    assert poll(lambda: call(stack, "GET", "/admin/v1/me", eve).json()["role"], lambda v: v == "developer", 5) \
        == "developer"
    assert call(stack, "POST", f"/admin/v1/tenants/{t}/keys", eve, {"role": "developer"}).status_code == 403
    # a project's admin key creates keys of its project only, with its scopes and expiry at most
    ctl(pg_url, "project", "create", "--tenant", t, "p1")
    ctl(pg_url, "project", "create", "--tenant", t, "p2")
    padmin = ctl(pg_url, "key", "create", "--tenant", t, "--role", "admin", "--project", "p1",
                 "--scopes", "admin,jobs", "--expires-in-days", "1").stdout.strip()
    r = call(stack, "POST", f"/admin/v1/tenants/{t}/keys", padmin, {"role": "developer", "project": "p2"})
    assert r.status_code == 403
    r = call(stack, "POST", f"/admin/v1/tenants/{t}/keys", padmin, {"role": "developer", "scopes": ["chat"]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    r = call(stack, "POST", f"/admin/v1/tenants/{t}/keys", padmin, {"role": "developer"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["project"] == "p1" and sorted(made["scopes"]) == ["admin", "jobs"]
    assert made["expires_at"] is not None and made["expires_at"] <= int(time.time()) + 86400 + 5
    # scopes llmq does not know are refused, not silently ignored
    assert ctl(pg_url, "key", "create", "--tenant", t, "--scopes", "chats", check=False).returncode != 0


def test_unknown_fields_are_refused_not_ignored(stack, world):
    admin = world["akeys"]["admin"]
    # a typo of expires_at must not create a key that never expires
    r = call(stack, "POST", f"/admin/v1/tenants/{world['a']}/keys", admin,
             {"role": "developer", "expire_at": int(time.time()) + 60})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "unknown_parameter" and err["param"] == "expire_at"
    assert err["type"] == "invalid_request_error" and "expire_at" in err["message"]
    keys = call(stack, "GET", f"/admin/v1/tenants/{world['a']}/keys", admin).json()["data"]
    r = call(stack, "POST", f"/admin/v1/tenants/{world['a']}/projects", admin, {"id": "p-x", "nme": "typo"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "nme"
    assert len(call(stack, "GET", f"/admin/v1/tenants/{world['a']}/keys", admin).json()["data"]) == len(keys)


def test_wrong_method_on_an_admin_path_is_405_with_allow(stack, world):
    admin = world["akeys"]["admin"]
    r = call(stack, "PUT", f"/admin/v1/tenants/{world['a']}/keys", admin, {})
    assert r.status_code == 405, r.text
    assert r.headers["Allow"] == "GET, POST"
    assert r.json()["error"]["code"] == "method_not_allowed"
    r = call(stack, "POST", "/admin/v1/me", admin)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    # another tenant's path stays invisible, whatever the method
    r = call(stack, "PUT", f"/admin/v1/tenants/{world['a']}/keys", world["bkeys"]["owner"], {})
    assert r.status_code == 404 and "Allow" not in r.headers
    r = call(stack, "GET", f"/admin/v1/tenants/{world['a']}/nothing", admin)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
