"""Limits as data end to end: tiers read by everyone and set by operators, overrides on
tenants, projects, users and keys, their validation, GET /v1/limits resolving them for a
key, changes reaching a running node, tenant isolation, audit entries, llmqctl."""
import os
import subprocess
import uuid

import pytest
import requests

from conftest import BUILD, poll


def ctl(pg_url, *args, check=True):
    return subprocess.run([os.path.join(BUILD, "llmqctl"), "--pg", pg_url, *args],
                          capture_output=True, text=True, check=check)


def call(stack, method, path, key, body=None):
    return requests.request(method, f"{stack.url}{path}", headers={"Authorization": f"Bearer {key}"},
                            json=body, timeout=30)


def uid(prefix):
    return prefix + uuid.uuid4().hex[:10]


# a tier of these tests' own: the seeded ones are left as they are
TIER_LIMITS = {"tenant": {"rpm": 100, "rpd": 5000, "concurrent": 8},
               "project": {"tpm": 20000},
               "user": {"rpm": 10, "rpd": 200, "concurrent": 2},
               "key": {"rph": 300}}


@pytest.fixture(scope="module")
def world(pg_url, stack):
    ops = uid("ops")
    ctl(pg_url, "tenant", "create", ops)
    platform = ctl(pg_url, "key", "create", "--tenant", ops, "--role", "platform").stdout.strip()
    tier = uid("tier")
    r = call(stack, "PUT", f"/admin/v1/tiers/{tier}", platform,
             {"weight": 3, "limits": TIER_LIMITS, "description": "test tier"})
    assert r.status_code == 200, r.text
    tenants = {}
    for name in ("a", "b"):
        t = uid("t")
        r = call(stack, "POST", "/admin/v1/tenants", platform, {"id": t, "tier": tier})
        assert r.status_code == 201, r.text
        owner = call(stack, "POST", f"/admin/v1/tenants/{t}/keys", platform, {"role": "owner"}).json()["key"]
        admin = call(stack, "POST", f"/admin/v1/tenants/{t}/keys", owner, {"role": "admin"}).json()["key"]
        assert call(stack, "POST", f"/admin/v1/tenants/{t}/projects", admin, {"id": "p1"}).status_code == 201
        assert call(stack, "POST", f"/admin/v1/tenants/{t}/users", admin, {"id": "u1"}).status_code == 201
        # a viewer key narrowed to chat, bound to the project and the user
        k = call(stack, "POST", f"/admin/v1/tenants/{t}/keys", admin,
                 {"role": "viewer", "project": "p1", "user": "u1", "scopes": ["chat"]}).json()
        tenants[name] = {"id": t, "owner": owner, "admin": admin, "key": k["key"], "key_id": k["id"]}
    return {"platform": platform, "tier": tier, **tenants}


def limits_of(stack, key):
    r = call(stack, "GET", "/v1/limits", key)
    assert r.status_code == 200, r.text
    return r.json()


def test_tiers_are_readable_by_any_caller(stack, world):
    # any caller of the admin API (a key narrowed to chat is not one)
    assert call(stack, "GET", "/admin/v1/tiers", world["a"]["key"]).status_code == 403
    for key in (world["a"]["admin"], world["a"]["owner"], world["platform"]):
        r = call(stack, "GET", "/admin/v1/tiers", key)
        assert r.status_code == 200, r.text
        tiers = {t["name"]: t for t in r.json()["data"]}
        assert tiers["free"]["weight"] == 1 and tiers["pro"]["weight"] == 4
        assert tiers["enterprise"]["weight"] == 10
        assert tiers["free"]["limits"]["user"]["rpm"] == 20
        assert tiers[world["tier"]]["limits"] == TIER_LIMITS


def test_tiers_are_set_by_platform_only(stack, world):
    name = uid("x")
    r = call(stack, "PUT", f"/admin/v1/tiers/{name}", world["a"]["owner"], {"weight": 5})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_role"
    r = call(stack, "PUT", f"/admin/v1/tiers/{name}", world["platform"], {"weight": 5})
    assert r.status_code == 200 and r.json()["weight"] == 5 and r.json()["limits"] == {}, r.text
    # PUT replaces the whole tier
    r = call(stack, "PUT", f"/admin/v1/tiers/{name}", world["platform"], {"limits": {"key": {"rpm": 1}}})
    assert r.status_code == 200 and r.json()["weight"] == 1 and r.json()["limits"] == {"key": {"rpm": 1}}
    for body, param, code in [({"weight": 0}, "weight", "invalid_value"),
                              ({"weight": 1001}, "weight", "invalid_value"),
                              ({"weight": "2"}, "weight", "invalid_value"),
                              ({"wieght": 2}, "wieght", "unknown_parameter"),
                              ({"limits": {"team": {}}}, "limits.team", "unknown_parameter"),
                              ({"limits": {"user": {"rpmm": 1}}}, "limits.user.rpmm", "unknown_parameter"),
                              ({"limits": {"user": {"rpm": -1}}}, "limits.user.rpm", "invalid_value")]:
        r = call(stack, "PUT", f"/admin/v1/tiers/{name}", world["platform"], body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["param"] == param and r.json()["error"]["code"] == code, (body, r.text)


def test_resolved_limits_of_a_key(stack, world):
    a, p = world["a"], world["platform"]
    t = a["id"]
    assert call(stack, "PATCH", f"/admin/v1/tenants/{t}", p,
                {"limits": {"rpm": 150, "rpd": None}}).status_code == 200
    r = call(stack, "PATCH", f"/admin/v1/tenants/{t}/projects/p1", a["admin"], {"limits": {"tpm": 5000}})
    assert r.status_code == 200 and r.json()["limits"] == {"tpm": 5000}, r.text
    r = call(stack, "PATCH", f"/admin/v1/tenants/{t}/users/u1", a["admin"],
             {"limits": {"rpm": 7, "concurrent": None, "usd_per_day": 1.5}})
    assert r.status_code == 200, r.text
    r = call(stack, "PATCH", f"/admin/v1/tenants/{t}/keys/{a['key_id']}", a["admin"], {"limits": {"tpd": 100000}})
    assert r.status_code == 200 and r.json()["limits"] == {"tpd": 100000}, r.text
    want = {"tenant": {"rpm": 150, "concurrent": 8},                 # rpd: null removes the default
            "project": {"tpm": 5000},
            "user": {"rpm": 7, "rpd": 200, "usd_per_day": 1.5},      # concurrent: null
            "key": {"rph": 300, "tpd": 100000}}
    got = poll(lambda: limits_of(stack, a["key"]),
               lambda j: {s: j["scopes"][s] for s in want} == want, 10)
    assert got["object"] == "limits" and got["tier"] == world["tier"] and got["weight"] == 3
    assert {s: got["scopes"][s] for s in want} == want, got
    assert "installation" in got["scopes"]


def test_a_change_reaches_the_node(stack, world):
    a = world["a"]
    limits_of(stack, a["key"])  # cached on the node now
    for rpm in (11, 12):
        assert call(stack, "PATCH", f"/admin/v1/tenants/{a['id']}/users/u1", a["admin"],
                    {"limits": {"rpm": rpm}}).status_code == 200
        got = poll(lambda: limits_of(stack, a["key"]), lambda j: j["scopes"]["user"].get("rpm") == rpm, 10)
        assert got["scopes"]["user"]["rpm"] == rpm, got
    # a tier's change too
    body = {"weight": 6, "limits": {**TIER_LIMITS, "key": {"rph": 301}}}
    assert call(stack, "PUT", f"/admin/v1/tiers/{world['tier']}", world["platform"], body).status_code == 200
    got = poll(lambda: limits_of(stack, a["key"]), lambda j: j["weight"] == 6, 10)
    assert got["weight"] == 6 and got["scopes"]["key"]["rph"] == 301, got


def test_installation_limits(stack, world):
    path = "/admin/v1/installation/limits"
    assert call(stack, "GET", path, world["a"]["owner"]).status_code == 403
    assert call(stack, "PUT", path, world["a"]["owner"], {"limits": {"concurrent": 1}}).status_code == 403
    r = call(stack, "PUT", path, world["platform"], {"limits": {"concurrent": 400}})
    assert r.status_code == 200 and r.json()["limits"] == {"concurrent": 400}, r.text
    try:
        got = poll(lambda: limits_of(stack, world["b"]["key"]),
                   lambda j: j["scopes"]["installation"] == {"concurrent": 400}, 10)
        assert got["scopes"]["installation"] == {"concurrent": 400}
        r = call(stack, "PUT", path, world["platform"], {"limits": {"concurrent": -4}})
        assert r.status_code == 400 and r.json()["error"]["param"] == "limits.concurrent"
        assert call(stack, "GET", path, world["platform"]).json()["limits"] == {"concurrent": 400}
    finally:
        assert call(stack, "PUT", path, world["platform"], {"limits": {}}).status_code == 200


def test_validation_errors(stack, world):
    a = world["a"]
    t = a["id"]
    cases = [({"rpmm": 1}, "limits.rpmm", "unknown_parameter"),
             ({"rpm": -1}, "limits.rpm", "invalid_value"),
             ({"rpm": 1.5}, "limits.rpm", "invalid_value"),
             ({"rpm": "5"}, "limits.rpm", "invalid_value"),
             ({"usd_per_day": 0.001}, "limits.usd_per_day", "invalid_value"),
             ([1], "limits", "invalid_value")]
    for path, key in [(f"/admin/v1/tenants/{t}/users/u1", a["admin"]),
                      (f"/admin/v1/tenants/{t}/projects/p1", a["admin"]),
                      (f"/admin/v1/tenants/{t}/keys/{a['key_id']}", a["admin"]),
                      (f"/admin/v1/tenants/{t}", world["platform"])]:
        for limits, param, code in cases:
            r = call(stack, "PATCH", path, key, {"limits": limits})
            assert r.status_code == 400, (path, limits, r.text)
            err = r.json()["error"]
            assert err["param"] == param and err["code"] == code, (path, limits, r.text)
    # a tenant's tier must exist
    r = call(stack, "PATCH", f"/admin/v1/tenants/{t}", world["platform"], {"tier": "no-such-tier"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "tier", r.text
    r = call(stack, "POST", "/admin/v1/tenants", world["platform"], {"id": uid("t"), "tier": "no-such-tier"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "tier", r.text
    # a tenant's limits are the operators' to set
    assert call(stack, "PATCH", f"/admin/v1/tenants/{t}", a["owner"], {"limits": {}}).status_code == 403


def test_another_tenants_limits_are_not_there(stack, world):
    a, b = world["a"], world["b"]
    for path in (f"/admin/v1/tenants/{b['id']}/users/u1", f"/admin/v1/tenants/{b['id']}/projects/p1",
                 f"/admin/v1/tenants/{b['id']}/keys/{b['key_id']}"):
        r = call(stack, "PATCH", path, a["owner"], {"limits": {"rpm": 100000}})
        assert r.status_code == 404, (path, r.text)
    # nor is B's key under A's path
    r = call(stack, "PATCH", f"/admin/v1/tenants/{a['id']}/keys/{b['key_id']}", a["owner"], {"limits": {}})
    assert r.status_code == 404
    assert limits_of(stack, b["key"])["scopes"]["user"].get("rpm") == 10


def test_limits_need_a_valid_key(stack, world):
    assert requests.get(f"{stack.url}/v1/limits", timeout=10).status_code == 401
    r = call(stack, "GET", "/v1/limits", "llmq-" + "x" * 40)
    assert r.status_code == 401


def test_changes_are_audited(pg_url, stack, world, db):
    a = world["a"]
    call(stack, "PATCH", f"/admin/v1/tenants/{a['id']}/keys/{a['key_id']}", a["admin"], {"limits": {"rpm": 3}})
    r = call(stack, "GET", f"/admin/v1/tenants/{a['id']}/audit", a["owner"])
    assert r.status_code == 200
    entries = r.json()["data"]
    actions = {e["action"] for e in entries}
    assert {"project.update", "user.update", "key.update"} <= actions, actions
    key_entry = next(e for e in entries if e["action"] == "key.update")
    assert key_entry["target"] == a["key_id"] and key_entry["details"] == {"limits": {"rpm": 3}}
    rows = db.execute("SELECT action, details FROM audit_log WHERE tenant_id = '' AND target = %s",
                      (world["tier"],)).fetchall()
    assert any(action == "tier.set" and d["weight"] == 3 for action, d in rows), rows
    n = db.execute("SELECT count(*) FROM audit_log WHERE tenant_id = '' AND action = 'installation.limits'"
                   ).fetchone()[0]
    assert n >= 1
    assert ctl(pg_url, "audit", "verify", check=False).returncode == 0


def test_llmqctl(pg_url, stack, world):
    tier = uid("cli")
    out = ctl(pg_url, "tier", "set", tier, "--weight", "2", "--limits", '{"user": {"rpm": 5}}',
              "--description", "from the CLI")
    assert '"weight": 2' in out.stdout
    out = ctl(pg_url, "tier", "set", tier, "--weight", "9")  # the limits stay
    assert '"weight": 9' in out.stdout and '"rpm": 5' in out.stdout
    lines = ctl(pg_url, "tier", "list").stdout.splitlines()
    assert lines[0].startswith("name\tweight\tlimits")
    assert any(line.startswith(f"{tier}\t9\t") for line in lines)
    b = world["b"]
    ctl(pg_url, "project", "set", "p1", "--tenant", b["id"], "--limits", '{"rpd": 77}')
    ctl(pg_url, "user", "set", "u1", "--tenant", b["id"], "--limits", '{"rpm": 6}')
    ctl(pg_url, "key", "set", b["key_id"], "--limits", '{"concurrent": 1}')
    ctl(pg_url, "tenant", "set", b["id"], "--tier", tier)
    got = poll(lambda: limits_of(stack, b["key"]), lambda j: j["tier"] == tier, 10)
    assert got["weight"] == 9 and got["scopes"]["project"] == {"rpd": 77}
    assert got["scopes"]["user"] == {"rpm": 6} and got["scopes"]["key"] == {"concurrent": 1}
    assert '"rpm": 6' in ctl(pg_url, "key", "limits", b["key_id"]).stdout
    # the same validation as the API's
    r = ctl(pg_url, "user", "set", "u1", "--tenant", b["id"], "--limits", '{"rpmm": 1}', check=False)
    assert r.returncode == 1 and "limits.rpmm" in r.stderr
    r = ctl(pg_url, "tenant", "set", b["id"], "--limits", '{"rpm": -5}', check=False)
    assert r.returncode == 1 and "limits.rpm" in r.stderr
    r = ctl(pg_url, "project", "set", "p1", "--tenant", b["id"], check=False)
    assert r.returncode == 2 and "missing --limits" in r.stderr and "usage: llmqctl project set" in r.stderr
    r = ctl(pg_url, "installation", "set", "--limits", '{"concurrent": 300}')
    try:
        assert '"concurrent": 300' in ctl(pg_url, "installation", "show").stdout
    finally:
        ctl(pg_url, "installation", "set", "--limits", "{}")
