"""The web console (/console/) in a real browser: Debian's Chromium driven by Playwright.

Signed in with an API key, the overview's totals equal what GET /v1/analytics/usage answers
(bucket_width=total); a key created in the console is shown once and, revoked there, stops
working; a job's page shows its trace's spans; a viewer sees no key creation (and the API
refuses it anyway); another tenant's job is not found; a platform key switches tenant; the key
never reaches a URL or localStorage, and no request leaves the node's origin; the console is
served with its Content-Security-Policy, and nothing on it breaks that policy.

A full-page screenshot of each page goes to $LLMQ_TEST_ARTIFACTS (default: a temporary folder)
and, when $LLMQ_CONSOLE_SCREENSHOTS names a folder, to <folder>/<page>.png (docs/console/).
$LLMQ_CHROMIUM names the browser (default /usr/bin/chromium)."""
import io
import json
import os
import re
import shutil
import time
import urllib.parse
import uuid

import openai
import pytest
import requests

from conftest import BUILD, create_tenant, poll, run

CHROMIUM = os.environ.get("LLMQ_CHROMIUM", "/usr/bin/chromium")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set LLMQ_CHROMIUM)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="Playwright for Python is missing (tests/e2e/requirements.txt)")
expect = sync_api.expect
expect.set_options(timeout=20_000)

# Every directive the console's pages must be served with (ingest/console.c).
CSP_DIRECTIVES = ["default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
                  "connect-src 'self'", "font-src 'self'", "frame-ancestors 'none'", "base-uri 'none'",
                  "form-action 'none'"]
FINAL = ("succeeded", "failed", "cancelled")


def ctl(pg_url, *args):
    return run([os.path.join(BUILD, "llmqctl"), "--pg", pg_url, *args]).stdout.strip()


def api(stack, method, path, key, **kw):
    return requests.request(method, f"{stack.url}{path}", headers={"Authorization": f"Bearer {key}"},
                            timeout=30, **kw)


def usage_total(stack, key, **params):
    """The single row of GET /v1/analytics/usage?bucket_width=total over the last day."""
    r = api(stack, "GET", "/v1/analytics/usage", key,
            params={"bucket_width": "total", "start_time": int(time.time()) - 86400, **params})
    assert r.status_code == 200, r.text
    return (r.json()["data"] or [{"requests": 0, "failed": 0, "total_tokens": 0, "cost_usd": 0}])[0]


@pytest.fixture(scope="module")
def world(stack, pg_url):
    """A tenant with limits, keys of three roles and traffic of every kind the console shows
    (sync, streamed and failing requests on two models, a conversation, a batch with a refused
    line), written by the sinks; another tenant with a job; a platform key."""
    tenant, developer = create_tenant(pg_url)
    ctl(pg_url, "tenant", "set", tenant, "--limits",
        json.dumps({"rpm": 600, "rpd": 10000, "tpd": 1000000, "usd_per_month": 50}))
    keys = {"developer": developer}
    for role in ("viewer", "admin"):
        keys[role] = ctl(pg_url, "key", "create", "--tenant", tenant, "--role", role)
    other, other_key = create_tenant(pg_url)
    ops = "ops" + uuid.uuid4().hex[:8]
    ctl(pg_url, "tenant", "create", ops)
    platform = ctl(pg_url, "key", "create", "--tenant", ops, "--role", "platform")

    client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=developer, max_retries=0)
    jobs, failed = [], []
    for i in range(6):
        r = client.chat.completions.with_raw_response.create(
            model="mock", messages=[{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": f"Console question {i}"}])
        jobs.append(r.headers["x-llmq-job-id"])
    for i in range(3):
        for _ in client.chat.completions.create(model="mock-large", stream=True,
                                                messages=[{"role": "user", "content": f"Stream {i}"}]):
            pass
    for _ in range(2):
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="mock-error", messages=[{"role": "user", "content": "x"}])
        failed.append(e.value.response.headers["x-llmq-job-id"])
    auth = {"Authorization": f"Bearer {developer}"}
    conv = requests.post(f"{stack.url}/v1/conversations", headers=auth, timeout=30,
                         json={"model": "mock", "title": "Console chat", "system_prompt": "You are terse.",
                               "context": {"board": "e4 e5"}}).json()
    requests.post(f"{stack.url}/v1/conversations", headers=auth, timeout=30,
                  json={"model": "mock", "title": "Support ticket 42"}).raise_for_status()
    for q in ("What should White play?", "And Black?"):
        r = requests.post(f"{stack.url}/v1/conversations/{conv['id']}/messages", headers=auth,
                          json={"content": q}, timeout=30)
        assert r.status_code == 200, r.text
    lines = "".join(json.dumps({"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
                                "body": {"model": "mock", "messages": [{"role": "user", "content": f"Batch {i}"}]}})
                    + "\n" for i in range(4)) + "not a request\n"
    f = client.files.create(file=("console.jsonl", io.BytesIO(lines.encode())), purpose="batch")
    batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    batch = poll(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "completed", 60)
    assert batch.status == "completed", batch
    other_job = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=other_key, max_retries=0) \
        .chat.completions.with_raw_response.create(model="mock", messages=[{"role": "user", "content": "mine"}]) \
        .headers["x-llmq-job-id"]

    # 6 + 3 + 2 requests, 2 turns and 4 batch lines: every one written by the sinks
    n = 6 + 3 + 2 + 2 + 4
    row = poll(lambda: usage_total(stack, developer), lambda row: row["requests"] == n, 60)
    assert row["requests"] == n, row
    listed = poll(lambda: api(stack, "GET", "/v1/jobs", developer, params={"limit": 100}).json(),
                  lambda p: len(p["data"]) == n and all(j["status"] in FINAL for j in p["data"]), 60)
    assert len(listed["data"]) == n, listed
    trace = poll(lambda: api(stack, "GET", f"/v1/jobs/{jobs[0]}/trace", developer).json(),
                 lambda t: t.get("trace") is not None, 30)
    assert trace["trace"], trace
    return {"tenant": tenant, "keys": keys, "jobs": jobs, "failed": failed, "n": n, "batch": batch.id,
            "conversation": conv["id"], "other_job": other_job, "other_key": other_key,
            "platform": platform}


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    d = os.environ.get("LLMQ_TEST_ARTIFACTS") or str(tmp_path_factory.mktemp("console"))
    os.makedirs(d, exist_ok=True)
    return d


class Console:
    """A browser tab on the console that records every URL it visits and requests, and every
    CSP violation or uncaught script error, for check()."""

    def __init__(self, stack, page, artifacts):
        self.base = f"{stack.url}/console/"
        self.origin = stack.url
        self.page = page
        self.artifacts = artifacts
        self.secrets = []      # keys that must never appear in a URL
        self.requested = []    # every URL the page asked for
        self.visited = []      # every URL the tab was at
        self.problems = []     # CSP violations, script errors
        page.on("request", lambda r: self.requested.append(r.url))
        page.on("framenavigated", lambda f: self.visited.append(f.url))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("console", self._console)

    def _console(self, m):
        if m.type == "error" and ("Content Security Policy" in m.text or "Refused to" in m.text):
            self.problems.append(m.text)

    def open(self, route=""):
        self.page.goto(self.base + (f"#/{route}" if route else ""))

    def go(self, route):
        """Another page of the console (the hash router)."""
        self.page.goto(f"{self.base}#/{route}")
        expect(self.page.locator("main .page")).to_be_visible()

    def sign_in(self, key):
        self.secrets.append(key)
        self.open()
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.locator("#who-role")).to_be_visible()

    def shot(self, name):
        """A full-page screenshot into the test's artifacts and, when asked, docs/console/."""
        self.page.wait_for_load_state("networkidle")
        path = os.path.join(self.artifacts, f"{name}.png")
        self.page.screenshot(path=path, full_page=True)
        docs = os.environ.get("LLMQ_CONSOLE_SCREENSHOTS")
        if docs:
            os.makedirs(docs, exist_ok=True)
            shutil.copyfile(path, os.path.join(docs, f"{name}.png"))

    def check(self):
        """Nothing broke the CSP or threw; every request stayed on this origin; no key was ever
        part of a URL; nothing was written to localStorage or cookies."""
        assert not self.problems, self.problems
        for url in self.requested:
            parts = urllib.parse.urlsplit(url)
            same = f"{parts.scheme}://{parts.netloc}" == self.origin
            assert same or url.startswith(f"blob:{self.origin}/") or parts.scheme == "data", url
        for url in self.requested + self.visited + [self.page.url]:
            for key in self.secrets:
                assert key not in url and key[5:] not in url, "a key reached a URL"
        assert self.page.evaluate("localStorage.length") == 0
        assert self.page.evaluate("document.cookie") == ""


@pytest.fixture()
def con(stack, browser, artifacts):
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    yield Console(stack, page, artifacts)
    context.close()


def stat(page, name):
    return page.locator(f"[data-stat='{name}']")


# ---------- the tests ----------

def test_console_is_served_with_its_security_headers(stack):
    r = requests.get(f"{stack.url}/console/", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    for directive in CSP_DIRECTIVES:
        assert directive in csp, (directive, csp)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    # no inline script or style for the policy to block
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text) and "style=" not in r.text
    # every file the shell names is there, with the policy and its type
    files = set(re.findall(r'(?:src|href)="([a-z_-]+\.(?:js|css|svg))"', r.text))
    assert {"console.js", "console.css"} <= files
    for name in files:
        f = requests.get(f"{stack.url}/console/{name}", timeout=10)
        assert f.status_code == 200 and "Content-Security-Policy" in f.headers, name
        if name.endswith(".js"):
            assert "javascript" in f.headers["Content-Type"], f.headers["Content-Type"]
    r = requests.get(f"{stack.url}/console", allow_redirects=False, timeout=10)
    assert r.status_code in (301, 302, 307, 308) and r.headers["Location"].endswith("/console/")
    assert requests.get(f"{stack.url}/console/nothing.js", timeout=10).status_code == 404


def test_overview_totals_equal_the_analytics_api(stack, world, con):
    key = world["keys"]["admin"]
    con.sign_in(key)
    page = con.page
    expect(page).to_have_url(re.compile(r"#/overview$"))
    expect(page.locator("#who-tenant")).to_have_text(world["tenant"])
    expect(page.locator("#who-role")).to_have_text("admin")
    row = usage_total(stack, key)
    assert row["requests"] == world["n"]
    expect(stat(page, "requests")).to_have_attribute("data-value", str(row["requests"]))
    expect(stat(page, "tokens")).to_have_attribute("data-value", str(row["total_tokens"]))
    expect(stat(page, "error-rate")).to_have_attribute("data-failed", str(row["failed"]))
    assert float(stat(page, "cost").get_attribute("data-value")) == float(row["cost_usd"])
    assert float(stat(page, "error-rate").get_attribute("data-value")) == pytest.approx(row["failed"] / row["requests"])
    expect(stat(page, "requests").locator(".stat-value")).to_have_text(str(row["requests"]))
    expect(stat(page, "tokens").locator(".stat-value")).to_contain_text("tokens")
    expect(stat(page, "cost").locator(".stat-value")).to_contain_text("$")
    expect(stat(page, "error-rate").locator(".stat-value")).to_contain_text("%")
    # charts by model, latency, errors, top keys
    expect(page.locator("svg.chart rect").first).to_be_visible()
    expect(page.locator(".legend").first).to_contain_text("mock-large")
    expect(page.locator("section", has_text="Latency by model")).to_contain_text("ms")
    expect(page.locator("section", has_text="Error rate by provider")).to_contain_text("mock-error")
    expect(page.locator("section", has_text="Top keys by cost")).to_contain_text(world["keys"]["developer"][:12])
    con.shot("overview")
    # another range: the same traffic
    page.get_by_role("button", name="7 days").click()
    expect(page).to_have_url(re.compile(r"range=7d"))
    expect(page.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "true")
    expect(stat(page, "requests")).to_have_attribute("data-value", str(row["requests"]))
    con.check()


def test_a_key_is_shown_once_and_revoked(stack, world, con):
    con.sign_in(world["keys"]["admin"])
    page = con.page
    con.go("keys")
    page.get_by_label("Name").fill("console-e2e")
    page.get_by_label("Role").select_option("developer")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key")).to_be_visible()
    new_key = page.locator("#new-key-value").input_value()
    assert re.fullmatch(r"llmq-[0-9a-f]{48}", new_key), new_key
    con.secrets.append(new_key)
    me = api(stack, "GET", "/admin/v1/me", new_key)
    assert me.status_code == 200 and me.json()["role"] == "developer" and me.json()["tenant"] == world["tenant"]
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#new-key")).to_contain_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == new_key
    row = page.locator(f"tr[data-prefix='{new_key[:12]}']")
    expect(row).to_contain_text("console-e2e")
    expect(row).to_contain_text("active")
    # shown once: another page and back, and it is gone
    con.go("jobs")
    con.go("keys")
    expect(row).to_be_visible()
    expect(page.locator("#new-key")).to_have_count(0)
    assert new_key not in page.content() and new_key[12:] not in page.content()
    # revoking asks first; Cancel keeps the key
    row.get_by_role("button", name=re.compile("Revoke")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(row).to_contain_text("active")
    row.get_by_role("button", name=re.compile("Revoke")).click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke key").click()
    expect(row).to_contain_text("revoked")
    expect(row.get_by_role("button", name=re.compile("Revoke"))).to_have_count(0)
    r = poll(lambda: api(stack, "GET", "/v1/limits", new_key), lambda r: r.status_code == 401, 10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key", r.text
    con.shot("keys")
    con.check()


def test_a_jobs_page_shows_its_trace(stack, world, con):
    con.sign_in(world["keys"]["admin"])
    page = con.page
    con.go("jobs")
    job = world["jobs"][0]
    expect(page.locator(f"tr[data-job='{job}']")).to_contain_text("succeeded")
    expect(page.locator("tbody tr")).to_have_count(world["n"])
    con.shot("jobs")
    # pages of 10: the older 7 behind "Older", and back
    con.go("jobs?limit=10")
    expect(page.locator("tbody tr")).to_have_count(10)
    first_page = page.locator("tbody tr").first.get_attribute("data-job")
    page.get_by_role("button", name="Older →").click()
    expect(page).to_have_url(re.compile(r"after="))
    expect(page.locator("tbody tr")).to_have_count(world["n"] - 10)
    expect(page.get_by_role("button", name="Older →")).to_be_disabled()
    page.get_by_role("button", name="← Newer").click()
    expect(page.locator("tbody tr")).to_have_count(10)
    expect(page.locator("tbody tr").first).to_have_attribute("data-job", first_page)
    # the status filter
    page.get_by_label("Status").select_option("failed")
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page.locator("tbody tr")).to_have_count(len(world["failed"]))
    for failed in world["failed"]:
        expect(page.locator(f"tr[data-job='{failed}']")).to_contain_text("mock_error")
    # the search box opens a job
    page.get_by_label("Open a job").fill(job)
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page).to_have_url(re.compile(f"#/jobs/{job}$"))
    t = api(stack, "GET", f"/v1/jobs/{job}/trace", world["keys"]["admin"]).json()
    bars = page.locator(".span-bar")
    expect(bars).to_have_count(len(t["trace"]["spans"]))
    names = bars.evaluate_all("els => els.map(e => e.dataset.span)")
    assert {"queue", "provider", "attempt"} <= set(names), names
    # each bar sits at its span's start, as wide as its duration (the track is 100 %)
    lefts = bars.evaluate_all("els => els.map(e => parseFloat(e.style.left))")
    assert min(lefts) == 0 and all(0 <= x <= 100 for x in lefts), lefts
    page.locator(".span-bar[data-span='provider']").focus()
    expect(page.locator(".span-attrs")).to_contain_text("endpoint")
    expect(page.locator(".span-attrs")).to_contain_text("attempts")
    expect(page.locator(".route")).to_have_text(t["trace"]["route"])
    expect(page.locator(".job")).to_contain_text("Console question 0")
    expect(page.locator(".job")).to_contain_text(t["result"]["choices"][0]["message"]["content"])
    con.shot("job")
    # a failed job shows its error
    con.go(f"jobs/{world['failed'][0]}")
    expect(page.locator(".job")).to_contain_text("mock_error")
    con.check()


def test_a_viewer_cannot_create_keys(stack, world, con):
    viewer = world["keys"]["viewer"]
    con.sign_in(viewer)
    page = con.page
    expect(page.locator("#who-role")).to_have_text("viewer")
    con.go("keys")
    expect(page.locator("table")).to_be_visible()
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Revoke"))).to_have_count(0)
    expect(page.locator("#nav a[data-page='audit']")).to_have_count(0)
    # and the API refuses it anyway
    r = api(stack, "POST", f"/admin/v1/tenants/{world['tenant']}/keys", viewer,
            json={"name": "by a viewer", "role": "viewer"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_role", r.text
    con.go("audit")
    expect(page.locator("main")).to_contain_text("needs the admin role")
    con.check()


def test_another_tenants_job_is_not_found(stack, world, con):
    con.sign_in(world["keys"]["admin"])
    con.go(f"jobs/{world['other_job']}")
    expect(con.page.get_by_role("heading", name="Job not found")).to_be_visible()
    expect(con.page.locator(".error-box")).to_contain_text("not_found")
    # the job is real: its own tenant reads it
    assert api(stack, "GET", f"/v1/jobs/{world['other_job']}/trace", world["other_key"]).status_code == 200
    con.check()


def test_batches_conversations_limits_and_audit(stack, world, con):
    key = world["keys"]["admin"]
    con.sign_in(key)
    page = con.page
    con.go("batches")
    row = page.locator("tr", has_text=world["batch"])
    expect(row).to_contain_text("completed")
    expect(row).to_contain_text("5 / 5")
    con.shot("batches")
    row.get_by_role("link").click()
    expect(page.locator("main")).to_contain_text("Refused lines (1)")
    con.shot("batch")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download output file").click()
    out = [json.loads(x) for x in open(download.value.path()).read().splitlines()]
    assert sorted(x["custom_id"] for x in out) == ["q0", "q1", "q2", "q3"]
    with page.expect_download() as download:
        page.get_by_role("button", name="Download error file").click()
    assert len(open(download.value.path()).read().splitlines()) == 1

    con.go("conversations")
    expect(page.locator("tr", has_text="Console chat")).to_contain_text("4")
    con.shot("conversations")
    page.get_by_role("link", name="Console chat").click()
    expect(page.locator(".message")).to_have_count(4)
    expect(page.locator("main")).to_contain_text("What should White play?")
    con.shot("conversation")

    con.go("limits")
    limits = api(stack, "GET", "/v1/limits", key).json()
    rpm = page.locator("[data-scope='tenant'] tr[data-dimension='rpm']")
    expect(rpm).to_contain_text("Requests per minute")
    expect(rpm).to_contain_text("600")
    assert limits["usage"]["tenant"]["rpm"]["limit"] == 600
    expect(page.locator("[data-scope='tenant'] .bar").first).to_be_visible()
    con.shot("limits")

    con.go("audit")
    expect(page.locator("tbody tr").first).to_be_visible()
    expect(page.locator("main")).to_contain_text("tenant.update")
    if api(stack, "GET", f"/admin/v1/tenants/{world['tenant']}/audit/verify", key).status_code == 200:
        expect(page.locator("#audit-verification")).to_have_attribute("data-intact", "true")
    con.shot("audit")
    con.check()


def test_a_platform_key_switches_tenant(stack, world, con):
    con.sign_in(world["platform"])
    page = con.page
    expect(page.locator("#who-role")).to_have_text("platform")
    page.locator("select#who-tenant").select_option(world["tenant"])
    expect(page.locator(".page-header .sub")).to_contain_text(world["tenant"])
    row = usage_total(stack, world["platform"], tenant=world["tenant"])
    assert row["requests"] == world["n"]
    expect(stat(page, "requests")).to_have_attribute("data-value", str(row["requests"]))
    con.go("keys")
    expect(page.locator("main")).to_contain_text(f"Keys of tenant {world['tenant']}")
    expect(page.locator(f"tr[data-prefix='{world['keys']['admin'][:12]}']")).to_be_visible()
    # the /v1 pages answer for the key's own tenant, and say so
    con.go("jobs")
    expect(page.locator("main")).to_contain_text("the key's own tenant")
    # the queue page: each worker the API names, or a notice that the API is not there
    con.go("queue")
    expect(page.locator("main .loading")).to_have_count(0)
    expect(page.locator("main .error-box")).to_have_count(0)
    q = api(stack, "GET", "/admin/v1/queue", world["platform"])
    if q.status_code == 200:
        assert q.json()["workers"], q.text  # the stack's worker reports every 5 s
        expect(page.locator("[data-worker]").first).to_be_visible()
        expect(page.locator("[data-stat='inflight']")).to_be_visible()
        con.shot("queue")
    else:
        expect(page.locator("main")).to_contain_text("not available")
    con.check()


def test_signing_in_and_out(stack, world, pg_url, con):
    page = con.page
    con.open()
    page.get_by_label("API key").fill("llmq-" + "0" * 48)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-message")).to_contain_text("not accepted")
    con.secrets.append("llmq-" + "0" * 48)
    admin = world["keys"]["admin"]
    con.sign_in(admin)
    assert page.evaluate("sessionStorage.getItem('llmq.console.key')") == admin
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    # a key revoked while signed in: the next call returns to sign-in, saying why
    key = ctl(pg_url, "key", "create", "--tenant", world["tenant"], "--role", "viewer")
    con.sign_in(key)
    key_id = api(stack, "GET", "/admin/v1/me", key).json()["key_id"]
    assert api(stack, "DELETE", f"/admin/v1/tenants/{world['tenant']}/keys/{key_id}", admin).status_code == 200
    poll(lambda: api(stack, "GET", "/v1/limits", key).status_code, lambda s: s == 401, 10)
    page.goto(f"{con.base}#/limits")
    expect(page.locator("#signin-message")).to_contain_text("session ended")
    assert page.evaluate("sessionStorage.length") == 0
    con.check()
