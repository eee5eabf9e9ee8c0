"""Metrics, the dashboard and the alerts (docs/observability.md).

Offline: the Grafana dashboard (ops/grafana/llmq.json) and the alert rules
(ops/prometheus/alerts.yml) are well formed, every PromQL expression parses (promql-parser,
an independent parser), every alert has a runbook section (ops/runbooks/alerts.md), and
promtool (when installed) accepts the rules and passes their unit tests
(ops/prometheus/alerts_test.yml).

Against a running stack (ingest, a worker talking to a fake OpenAI-compatible provider and
to the mock provider, a sink): after sync, streamed and async requests of three tenants,
the /metrics of every daemon
  - parse with the official Prometheus client's parser and follow the naming conventions
    (counters end in _total, histograms name their unit, one TYPE and HELP per family, every
    sample in its family's block);
  - hold every metric the dashboard and the alerts use;
  - cap tenants (metrics.max_tenants=2: the third tenant counts as tenant="other") and
    models (metrics.max_models=2 per endpoint: the third model counts as model="other");
  - count provider calls, errors, tokens, cost and streamed first tokens exactly.
"""
import json
import math
import os
import re
import shutil
import subprocess
import uuid

import openai
import promql_parser
import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import BUILD, ROOT, Stack, create_tenant, poll, run, wait_job
from fake_providers import OpenAIServer

DASHBOARD = os.path.join(ROOT, "ops", "grafana", "llmq.json")
ALERTS = os.path.join(ROOT, "ops", "prometheus", "alerts.yml")
ALERTS_TEST = os.path.join(ROOT, "ops", "prometheus", "alerts_test.yml")
PROMETHEUS_YML = os.path.join(ROOT, "ops", "prometheus", "prometheus.yml")
RUNBOOK = os.path.join(ROOT, "ops", "runbooks", "alerts.md")

# Grafana's variables, as PromQL can parse them
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "3h", "$endpoint": ".*"}


# ---- the dashboard and the alerts, offline ----

def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    exprs = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            exprs.append((p["title"], t["expr"]))
    return dash, exprs


def alert_rules():
    with open(ALERTS) as f:
        doc = yaml.safe_load(f)
    return [r for g in doc["groups"] for r in g["rules"]]


def promql(expr):
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    return promql_parser.parse(expr)


def metric_names(expr):
    """The metrics an expression selects (its vector selectors' names)."""
    names = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.append(node.name)

    promql_parser.walk(promql(expr), visit)
    return names


def used_metrics():
    _, exprs = dashboard_exprs()
    names = {n for _, e in exprs for n in metric_names(e)}
    names |= {n for r in alert_rules() for n in metric_names(r["expr"])}
    return {n for n in names if n.startswith("llmq_")}


def test_dashboard_is_a_grafana_model():
    dash, exprs = dashboard_exprs()
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 30
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    assert {v["name"] for v in dash["templating"]["list"]} >= {"datasource", "endpoint"}
    for p in dash["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert p["targets"], p["title"]
    for title, expr in exprs:
        try:
            promql(expr)
        except ValueError as e:
            pytest.fail(f"panel {title!r}: {expr}: {e}")
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for topic in ("route", "calls", "errors", "latency", "first token", "tokens", "cost", "breaker",
                  "lag", "in flight", "paused", "dead letters", "rows", "batch write", "tenants",
                  "clock"):
        assert topic in titles, f"no panel about {topic}"


def runbook_anchors():
    """GitHub's anchors of the runbook's level-2 headings."""
    with open(RUNBOOK) as f:
        heads = re.findall(r"^## (.+)$", f.read(), re.M)
    return {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_alert_rules_are_well_formed_and_have_runbooks():
    rules = alert_rules()
    anchors = runbook_anchors()
    names = set()
    assert len(rules) >= 7
    for r in rules:
        assert set(r) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, r
        assert re.fullmatch(r"Llmq[A-Za-z]+", r["alert"]) and r["alert"] not in names
        names.add(r["alert"])
        promql(r["expr"])
        if "for" in r:
            assert re.fullmatch(r"\d+[smh]", r["for"]), r
        assert r["labels"]["severity"] in ("critical", "warning"), r
        ann = r["annotations"]
        assert ann["summary"] and ann["description"], r
        path, _, anchor = ann["runbook_url"].partition("#")
        assert path == "ops/runbooks/alerts.md" and anchor == r["alert"].lower(), ann["runbook_url"]
        assert anchor in anchors, f"{r['alert']}: no section {anchor} in {RUNBOOK}"
    assert anchors == {n.lower() for n in names}, "a runbook section without its alert"
    # what the brief of each alert is about, by the metric it watches
    watched = {n for r in rules for n in metric_names(r["expr"])}
    for m in ("llmq_ingest_enqueue_failed_total", "llmq_consumer_lag_sum_records",
              "llmq_worker_breaker_state", "llmq_worker_dead_letters_total",
              "llmq_sink_write_failures_total", "llmq_clock_offset_ms", "llmq_limits_degraded"):
        assert m in watched, m


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool (Debian: prometheus) not installed")
def test_promtool_accepts_the_config_and_the_rules():
    for args in (["check", "config", PROMETHEUS_YML], ["check", "rules", ALERTS],
                 ["test", "rules", ALERTS_TEST]):
        r = subprocess.run(["promtool", *args], capture_output=True, text=True,
                           cwd=os.path.dirname(ALERTS))
        assert r.returncode == 0, f"promtool {' '.join(args)}:\n{r.stdout}\n{r.stderr}"


# ---- the exposition of the daemons ----

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """{family: type}, {(name, frozenset(labels)): value}, after checking the text's shape."""
    families, samples, help_seen = {}, {}, set()
    current = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in help_seen, f"two HELP lines for {name}"
            help_seen.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split()
            assert name not in families, f"two TYPE lines for {name} (its block is split)"
            families[name] = typ
            current = name
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels, value = m.groups()
        assert current, f"sample before any TYPE line: {line}"
        typ = families[current]
        allowed = {current} if typ != "histogram" else {current + s for s in ("_bucket", "_sum", "_count")}
        assert name in allowed, f"{name} in the block of {current} ({typ})"
        pairs = frozenset(LABEL.findall(labels or ""))
        assert (name, pairs) not in samples, f"sample repeated: {line}"
        samples[(name, pairs)] = float(value)
    assert set(families) == help_seen, "a family without HELP"
    return families, samples


def check_conventions(daemon, text):
    families, samples = parse_exposition(text)
    # an independent reader: the official client's parser takes the whole text
    parsed = list(text_string_to_metric_families(text))
    assert len(parsed) == len(families)
    for name, typ in families.items():
        assert re.fullmatch(r"llmq_[a-z0-9_]+", name), f"{daemon}: {name}"
        if typ == "counter":
            assert name.endswith("_total"), f"{daemon}: counter {name} does not end in _total"
        else:
            assert not name.endswith("_total"), f"{daemon}: {typ} {name} ends in _total"
        if typ == "histogram":
            assert name.endswith("_seconds"), f"{daemon}: histogram {name} names no unit"
    # histograms: cumulative buckets, +Inf equal to _count
    for (name, labels), value in samples.items():
        if name.endswith("_count") and families.get(name[:-6]) == "histogram":
            inf = samples[(name[:-6] + "_bucket", labels | {("le", "+Inf")})]
            assert inf == value, f"{daemon}: {name}{dict(labels)}: +Inf {inf} != count {value}"
    return families, samples


def scrape(port):
    r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    return r.text


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture(scope="module")
def fake():
    srv = OpenAIServer()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def mstack(pg_url, brokers, log_dir, fake):
    prefix = "mx" + uuid.uuid4().hex[:6]
    run([os.path.join(BUILD, "llmqctl"), "--brokers", brokers, "topics", "create", "--partitions", "1",
         "--prefix", prefix])
    s = Stack(pg_url, brokers, log_dir, prefix=prefix, worker_env={"LLMQ_OPENAI_API_KEY": fake.api_key},
              ingest_settings={"metrics.max_tenants": 2},
              worker_settings={"openai.base_url": fake.base_url, "metrics.max_tenants": 2,
                               "metrics.max_models": 2}).start()
    yield s
    s.stop()


def port_of(daemon):
    return daemon.settings["admin.port"]


def echo_tokens(prompt):
    """What the fake provider counts for an answer to prompt: 11 prompt tokens, a
    completion token per word of "echo: <prompt>"."""
    return 11, len(f"echo: {prompt}".split())


def test_daemons_export_what_dashboard_and_alerts_use(mstack, pg_url, fake):
    (ta, ka), (tb, kb), (tc, kc) = (create_tenant(pg_url) for _ in range(3))
    client_a = openai.OpenAI(base_url=f"{mstack.url}/v1", api_key=ka, max_retries=0, timeout=60)

    # tenant A: 2 sync, 1 streamed, 1 async calls of gpt-4o-mini, and a call the provider refuses
    prompts = [f"metrics sync {i}" for i in range(2)]
    for p in prompts:
        r = client_a.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": p}])
        assert r.choices[0].message.content == f"echo: {p}"
    streamed = "metrics streamed answer"
    prompts.append(streamed)
    chunks = client_a.chat.completions.create(model="gpt-4o-mini", stream=True,
                                              messages=[{"role": "user", "content": streamed}])
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == f"echo: {streamed}"
    queued = "metrics async"
    prompts.append(queued)
    job = requests.post(f"{mstack.url}/v1/jobs", headers={"Authorization": f"Bearer {ka}"},
                        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": queued}]})
    assert job.status_code == 202, job.text
    assert wait_job(mstack.url, ka, job.json()["id"])["status"] == "succeeded"
    with pytest.raises(openai.BadRequestError):
        client_a.chat.completions.create(model="bad-request", messages=[{"role": "user", "content": "no"}])

    # tenant B: the mock provider; tenant C: a third model of the openai endpoint, and the
    # third tenant of each process
    r = requests.post(f"{mstack.url}/v1/chat/completions", headers={"Authorization": f"Bearer {kb}"},
                      json={"model": "mock", "messages": [{"role": "user", "content": "metrics mock"}]})
    assert r.status_code == 200, r.text
    third = "metrics third tenant"
    r = requests.post(f"{mstack.url}/v1/chat/completions", headers={"Authorization": f"Bearer {kc}"},
                      json={"model": "gpt-4o", "messages": [{"role": "user", "content": third}]})
    assert r.status_code == 200, r.text

    worker, sink = mstack.workers[0], mstack.sink
    ok = {"endpoint": "openai", "model": "gpt-4o-mini"}
    wtext = poll(lambda: scrape(port_of(worker)),
                 lambda t: 'llmq_worker_tenant_tokens_total{tenant="other",direction="completion"}' in t, 15)
    # the sink's rows come after the worker's results: wait until it wrote the usage of all 7
    stext = poll(lambda: scrape(port_of(sink)),
                 lambda t: float(re.search(r"^llmq_sink_rows_total (\S+)$", t, re.M).group(1)) >= 7, 30)
    itext = scrape(mstack.port)

    # (b) conventions, in every daemon's exposition
    exported = {}
    parsed = {}
    for daemon, text in (("ingest", itext), ("worker", wtext), ("sink", stext)):
        families, samples = check_conventions(daemon, text)
        exported.update(families)
        parsed[daemon] = samples

    # (a) every metric of the dashboard and the alerts is exported by a daemon
    missing = []
    for name in sorted(used_metrics()):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in exported and not (base != name and exported.get(base) == "histogram"):
            missing.append(name)
    assert not missing, f"used by ops/grafana/llmq.json or ops/prometheus/alerts.yml, exported by none: {missing}"

    # (c) the tenant cap: A and B have series of their own, C counts as "other"
    ing, wrk = parsed["ingest"], parsed["worker"]
    assert value(ing, "llmq_ingest_tenant_requests_total", tenant=tb) == 1
    assert value(ing, "llmq_ingest_tenant_requests_total", tenant=ta) >= 5
    assert value(ing, "llmq_ingest_tenant_requests_total", tenant="other") == 1
    assert value(ing, "llmq_ingest_tenant_requests_total", tenant=tc) is None
    assert f'tenant="{tc}"' not in itext + wtext
    prompt_c, completion_c = echo_tokens(third)
    assert value(wrk, "llmq_worker_tenant_tokens_total", tenant="other", direction="prompt") == prompt_c
    assert value(wrk, "llmq_worker_tenant_tokens_total", tenant="other", direction="completion") == completion_c
    assert value(wrk, "llmq_worker_tenant_tokens_total", tenant=tb, direction="completion") > 0
    tokens_a = [echo_tokens(p) for p in prompts]
    assert value(wrk, "llmq_worker_tenant_tokens_total", tenant=ta, direction="prompt") == sum(t[0] for t in tokens_a)
    assert value(wrk, "llmq_worker_tenant_tokens_total", tenant=ta, direction="completion") == sum(t[1] for t in tokens_a)

    # (c2) the hops only the ingest node sees: Kafka's acknowledgement of each of the 7
    # requests it queued, and the final response of the 6 that waited for one (not the
    # async job), each taking some time
    ack, delay = "llmq_ingest_enqueue_ack_seconds", "llmq_ingest_reply_delay_seconds"
    assert value(ing, ack + "_count") == 7
    assert 0 < value(ing, ack + "_sum") < 7 * 5.0
    assert value(ing, delay + "_count") == 6
    assert 0 <= value(ing, delay + "_sum") < 6 * 5.0

    # (d) provider calls, errors, tokens, cost, latency and first tokens, exactly
    calls = "llmq_worker_provider_calls_total"
    assert value(wrk, calls, **ok, outcome="ok") == 4
    assert value(wrk, calls, **ok, outcome="error") == 0
    assert value(wrk, calls, endpoint="openai", model="bad-request", outcome="error") == 1
    assert value(wrk, "llmq_worker_provider_errors_total", endpoint="openai", model="bad-request",
                 kind="bad_request") == 1
    assert value(wrk, calls, endpoint="mock", model="mock", outcome="ok") == 1
    # the third model of the endpoint is beyond metrics.max_models=2
    assert value(wrk, calls, endpoint="openai", model="other", outcome="ok") == 1
    assert 'model="gpt-4o"' not in wtext
    prompt_a, completion_a = sum(t[0] for t in tokens_a), sum(t[1] for t in tokens_a)
    tokens = "llmq_worker_provider_tokens_total"
    assert value(wrk, tokens, **ok, direction="prompt") == prompt_a
    assert value(wrk, tokens, **ok, direction="completion") == completion_a
    assert value(wrk, tokens, endpoint="openai", model="other", direction="prompt") == prompt_c
    # list prices per million tokens: gpt-4o-mini 0.15 / 0.60, gpt-4o 2.50 / 10.00
    cost = value(wrk, "llmq_worker_provider_cost_usd_total", **ok)
    assert math.isclose(cost, (prompt_a * 0.15 + completion_a * 0.60) / 1e6, rel_tol=1e-9), cost
    cost = value(wrk, "llmq_worker_provider_cost_usd_total", endpoint="openai", model="other")
    assert math.isclose(cost, (prompt_c * 2.50 + completion_c * 10.0) / 1e6, rel_tol=1e-9), cost
    assert value(wrk, "llmq_worker_provider_duration_seconds_count", **ok) == 4
    assert value(wrk, "llmq_worker_provider_first_token_seconds_count", **ok) == 1  # one stream
    assert value(wrk, "llmq_worker_provider_first_token_seconds_count", endpoint="mock", model="mock") == 0
    assert value(wrk, "llmq_worker_breaker_state", endpoint="openai") == 0
    assert value(wrk, "llmq_worker_breaker_state", endpoint="mock") == 0
    # the request topics are read, not paused
    topics = {dict(k[1])["topic"] for k in wrk if k[0] == "llmq_worker_paused_partitions"}
    assert topics == {f"{mstack.prefix}.requests", f"{mstack.prefix}.requests.deferred",
                      f"{mstack.prefix}.requests.batch"}
    assert all(v == 0 for k, v in wrk.items() if k[0] == "llmq_worker_paused_partitions")
    assert value(wrk, "llmq_worker_dead_letters_total") == 0
