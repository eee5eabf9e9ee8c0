"""What tests/ops/check_k8s.sh checks, once it has the tools: the rendered Kubernetes manifests
of ops/k8s and ops/container/Containerfile (docs/kubernetes.md, "Checking the manifests").

    check_k8s.py --source DIR --keda DIR --k8s 1.30,1.37 [--build DIR] NAME=RENDERED.yaml...

1. Every object is valid, strictly (an unknown field is an error), against the Kubernetes JSON
   schemas of each version given (bundled by kubernetes-validate), and a ScaledObject against
   KEDA's own CRD (its openAPIV3Schema, made strict here) and the kafka scaler's parameters (the
   keda:"..." tags of its Go source).
2. What llmq needs of them: probes on the port each daemon listens on, bound to the pod's
   addresses; drain times; security contexts; requests and limits; settings that the daemon
   knows, with values it accepts; Services, budgets and autoscalers that find their pods; no
   more workers than partitions; the init Job.
3. The Containerfile: COPY sources exist, stages and packages are Debian bookworm's, the
   runtime packages hold every library the built binaries link, the image's user is the pods'.

Exit 0: all good; 1: problems, each printed on a line of its own.
"""
import argparse
import fnmatch
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import jsonschema
import referencing
import yaml
from importlib_resources import files

DAEMONS = ("llmq-ingest", "llmq-worker", "llmq-sink")
# the port setting each daemon serves /healthz, /readyz and /metrics on, and its bind address
PORT_SETTING = {"llmq-ingest": ("LLMQ_HTTP_PORT", "LLMQ_HTTP_BIND"),
                "llmq-worker": ("LLMQ_ADMIN_PORT", "LLMQ_ADMIN_BIND"),
                "llmq-sink": ("LLMQ_ADMIN_PORT", "LLMQ_ADMIN_BIND")}
# the least terminationGracePeriodSeconds of each (the systemd units' TimeoutStopSec); a
# worker's: worker.drain_timeout_ms plus 10 s to flush, commit and leave the group
MIN_GRACE = {"llmq-ingest": 30, "llmq-worker": None, "llmq-sink": 30}
# environment variables a daemon reads that are not rows of its settings table
EXTRA_ENV = {"LLMQ_CONFIG", "LLMQ_MASTER_KEY"}
K8S_DEFS = "https://kubernetes.io/api/_definitions.json"
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

problems = []


def fail(where, what):
    problems.append(f"{where}: {what}")


# ---- settings: docs/configuration.md's tables ----

def read_settings(source):
    """{daemon: {ENV: (type, default, min, max)}} from docs/configuration.md."""
    out, daemon = {}, None
    with open(os.path.join(source, "docs/configuration.md"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"## (llmq-\w+)", line)
            if m:
                daemon = m.group(1)
                out[daemon] = {}
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if daemon and len(cells) >= 6 and cells[1].startswith("`LLMQ_"):
                lo = hi = None
                r = re.match(r"(-?\d+) – (-?\d+)", cells[4])
                if r:
                    lo, hi = int(r.group(1)), int(r.group(2))
                out[daemon][cells[1].strip("`")] = (cells[2], cells[3].strip("`"), lo, hi)
    return out


def check_value(where, env, value, spec):
    kind, _, lo, hi = spec
    if kind == "int":
        if not re.fullmatch(r"-?\d+", value):
            fail(where, f"{env}={value!r} is not a number")
        elif lo is not None and not lo <= int(value) <= hi:
            fail(where, f"{env}={value} is outside {lo} – {hi}")
    elif kind == "bool" and value not in ("true", "false", "1", "0"):
        fail(where, f"{env}={value!r} is not true or false")


# ---- schemas ----

def k8s_schema_dir(version):
    d = files("kubernetes_validate").joinpath("kubernetes-json-schema", f"v{version}.0-local-strict")
    if not d.is_dir():
        sys.exit(f"kubernetes-validate has no schemas for Kubernetes {version}")
    return d


def crd_to_jsonschema(node):
    """A CRD's structural schema as a strict JSON schema: objects that list their properties
    take no others (the API server's strict field validation), int-or-string, nullable."""
    if not isinstance(node, dict):
        return node
    out = {}
    for key in ("type", "enum", "required", "minimum", "maximum", "exclusiveMinimum",
                "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems",
                "uniqueItems", "minProperties", "maxProperties"):
        if key in node:
            out[key] = node[key]
    if "properties" in node:
        out["properties"] = {k: crd_to_jsonschema(v) for k, v in node["properties"].items()}
    if "items" in node:
        out["items"] = crd_to_jsonschema(node["items"])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in node:
            out[key] = [crd_to_jsonschema(v) for v in node[key]]
    if "additionalProperties" in node:
        ap = node["additionalProperties"]
        out["additionalProperties"] = ap if isinstance(ap, bool) else crd_to_jsonschema(ap)
    elif out.get("type") == "object" and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def keda_schemas(keda_dir):
    """{(apiVersion, kind): JSON schema} for the CRDs of KEDA's config/crd/bases."""
    out = {}
    for path in sorted(glob.glob(os.path.join(keda_dir, "config/crd/bases/*.yaml"))):
        with open(path, encoding="utf-8") as f:
            for crd in yaml.load_all(f, Loader=YAML_LOADER):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for v in crd["spec"]["versions"]:
                    api = f"{group}/{v['name']}"
                    s = crd_to_jsonschema(v["schema"]["openAPIV3Schema"])
                    s["properties"]["apiVersion"] = {"enum": [api]}
                    s["properties"]["kind"] = {"enum": [kind]}
                    s["properties"]["metadata"] = {
                        "$ref": K8S_DEFS + "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
                    s["required"] = sorted(set(s.get("required", [])) | {"apiVersion", "kind", "metadata"})
                    s["$id"] = f"https://{group}/schemas/{kind.lower()}-{v['name']}.json"
                    out[(api, kind)] = s
    return out


def kafka_scaler_params(keda_dir):
    """{name: {"order": [...], "enum": [...], "type": go type}} from the keda:"..." tags of
    KEDA's kafka scaler: the trigger metadata it reads."""
    out = {}
    with open(os.path.join(keda_dir, "pkg/scalers/kafka_scaler.go"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r'\s*\w+\s+(\S+)\s+`keda:"([^"]*)"`', line)
            if not m:
                continue
            tag = dict(p.split("=", 1) if "=" in p else (p, "") for p in m.group(2).split(","))
            out[tag["name"]] = {"order": tag.get("order", "").split(";"),
                                "enum": tag["enum"].split(";") if "enum" in tag else None,
                                "type": m.group(1)}
    if not out:
        sys.exit("no keda tags found in KEDA's kafka scaler: has its source changed shape?")
    return out


class Validator:
    def __init__(self, versions, keda_dir):
        self.versions = versions
        self.keda = keda_schemas(keda_dir)
        self.cache = {}
        self.registries = {}
        for v in versions:
            d = k8s_schema_dir(v)
            defs = json.loads(d.joinpath("_definitions.json").read_text(encoding="utf-8"))
            self.registries[v] = referencing.Registry().with_resource(
                K8S_DEFS, referencing.Resource.from_contents(defs))

    def validator(self, version, api, kind):
        key = (version, api, kind)
        if key not in self.cache:
            schema = self.keda.get((api, kind))
            if schema is None:
                name = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api)
                path = k8s_schema_dir(version).joinpath(f"{kind.lower()}-{name}.json")
                schema = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
            self.cache[key] = schema and jsonschema.Draft202012Validator(
                schema, registry=self.registries[version])
        return self.cache[key]

    def check(self, where, obj):
        for v in self.versions:
            val = self.validator(v, obj.get("apiVersion", ""), obj.get("kind", ""))
            if val is None:
                fail(where, f"no schema for {obj.get('apiVersion')} {obj.get('kind')} (Kubernetes {v})")
                continue
            for e in sorted(val.iter_errors(obj), key=lambda e: list(e.absolute_path)):
                path = ".".join(str(p) for p in e.absolute_path) or "(top)"
                fail(where, f"Kubernetes {v}: {path}: {e.message}")


# ---- the rendered objects ----

def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


class Render:
    def __init__(self, name, path):
        self.name = name
        with open(path, encoding="utf-8") as f:
            self.objs = [o for o in yaml.load_all(f, Loader=YAML_LOADER) if o]
        self.by_kind = {}
        for o in self.objs:
            self.by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o

    def get(self, kind, name):
        return self.by_kind.get(kind, {}).get(name)

    def kinds(self, kind):
        return self.by_kind.get(kind, {}).values()

    def where(self, o):
        return f"{self.name}: {o['kind']}/{o['metadata']['name']}"

    def configmap_named(self, name):
        """The ConfigMap a reference names (kustomize added the hash to both)."""
        return self.get("ConfigMap", name)

    def env_of(self, container):
        """{name: value} of a container's environment; values from Secrets are None."""
        env = {}
        for src in container.get("envFrom", []):
            if "configMapRef" in src:
                cm = self.configmap_named(src["configMapRef"]["name"])
                env.update((cm or {}).get("data", {}))
        for e in container.get("env", []):
            env[e["name"]] = e.get("value") if "valueFrom" not in e else None
        return env


def daemon_of(container):
    cmd = container.get("command") or []
    return os.path.basename(cmd[0]) if cmd else None


def effective(container, pod, key):
    c = container.get("securityContext", {})
    return c[key] if key in c else pod.get("securityContext", {}).get(key)


def check_security(where, pod, c, image_uid):
    if effective(c, pod, "runAsNonRoot") is not True:
        fail(where, "runAsNonRoot is not true")
    uid = effective(c, pod, "runAsUser")
    if image_uid is not None and uid is not None and uid != image_uid:
        fail(where, f"runAsUser {uid} is not the image's user {image_uid}")
    sc = c.get("securityContext", {})
    if sc.get("readOnlyRootFilesystem") is not True:
        fail(where, "readOnlyRootFilesystem is not true")
    if sc.get("allowPrivilegeEscalation") is not False:
        fail(where, "allowPrivilegeEscalation is not false")
    caps = sc.get("capabilities", {})
    if "ALL" not in caps.get("drop", []) or caps.get("add"):
        fail(where, "capabilities: drop ALL and add none")
    if (effective(c, pod, "seccompProfile") or {}).get("type") != "RuntimeDefault":
        fail(where, "seccompProfile is not RuntimeDefault")
    res = c.get("resources", {})
    for kind in ("cpu", "memory"):
        if kind not in res.get("requests", {}) or kind not in res.get("limits", {}):
            fail(where, f"no {kind} request and limit")


def check_settings(r, where, daemon, c, settings):
    """Each LLMQ_* variable is a setting of this daemon with a value it takes; returns the
    effective settings (defaults where not set)."""
    table = settings[daemon]
    env = r.env_of(c)
    for name, value in env.items():
        if not name.startswith("LLMQ_") or name in EXTRA_ENV:
            continue
        if name not in table:
            fail(where, f"{name} is not a setting of {daemon} (docs/configuration.md)")
        elif value is not None:
            check_value(where, name, value, table[name])
    eff = {k: v[1] for k, v in table.items()}
    eff.update({k: v for k, v in env.items() if v is not None})
    return eff


def check_probes(where, daemon, c, eff):
    port_env, bind_env = PORT_SETTING[daemon]
    if eff.get(bind_env) != "0.0.0.0":
        fail(where, f"{bind_env} is {eff.get(bind_env)!r}: the probes and Prometheus reach "
                    "the pod's address, not 127.0.0.1")
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                        ("startupProbe", "/healthz")):
        get = (c.get(probe) or {}).get("httpGet")
        if not get:
            fail(where, f"no {probe} (httpGet {path})")
            continue
        if get.get("path") != path:
            fail(where, f"{probe} asks {get.get('path')}, not {path}")
        port = ports.get(get["port"], get["port"])
        if str(port) != str(eff.get(port_env)):
            fail(where, f"{probe} on port {port}, but the daemon listens on {port_env}="
                        f"{eff.get(port_env)}")


def check_deployment(r, d, settings, image):
    where = r.where(d)
    spec = d["spec"]
    pod = spec["template"]["spec"]
    tlabels = spec["template"]["metadata"].get("labels", {})
    if not labels_match(spec["selector"].get("matchLabels"), tlabels):
        fail(where, "the selector does not select the pod template")
    if pod.get("enableServiceLinks") is not False:
        fail(where, "enableServiceLinks is not false: the SERVICE_PORT variables of a Service "
                    "named llmq-* fall in llmq's LLMQ_* namespace")
    if pod.get("automountServiceAccountToken") is not False:
        fail(where, "automountServiceAccountToken is not false")
    for c in pod["containers"]:
        cw = f"{where} container {c['name']}"
        daemon = daemon_of(c)
        if daemon not in DAEMONS:
            fail(cw, f"runs {daemon}, not one of {', '.join(DAEMONS)}")
            continue
        if daemon not in image["binaries"]:
            fail(cw, f"{daemon} is not in the image (ops/container/Containerfile)")
        check_security(cw, pod, c, image["uid"])
        eff = check_settings(r, cw, daemon, c, settings)
        check_probes(cw, daemon, c, eff)
        grace = pod.get("terminationGracePeriodSeconds", 30)
        need = MIN_GRACE[daemon]
        if need is None:
            need = int(eff["LLMQ_WORKER_DRAIN_TIMEOUT_MS"]) // 1000 + 10
        if grace < need:
            fail(where, f"terminationGracePeriodSeconds {grace} < {need}: {daemon} cannot drain")
        check_refs(r, cw, pod, c)
        check_config_file(r, cw, pod, c, eff)
        yield daemon, d, c, eff


def check_config_file(r, where, pod, c, eff):
    """LLMQ_CONFIG names a file that a mounted ConfigMap (or Secret) provides."""
    path = eff.get("LLMQ_CONFIG")
    if not path:
        return
    mounts = {m["mountPath"].rstrip("/"): m["name"] for m in c.get("volumeMounts", [])}
    vol = {v["name"]: v for v in pod.get("volumes", [])}.get(mounts.get(os.path.dirname(path)))
    if vol is None:
        fail(where, f"LLMQ_CONFIG={path}, but nothing is mounted at {os.path.dirname(path)}")
    elif "configMap" in vol:
        cm = r.configmap_named(vol["configMap"]["name"]) or {}
        if os.path.basename(path) not in cm.get("data", {}):
            fail(where, f"LLMQ_CONFIG={path}: ConfigMap {vol['configMap']['name']} has no "
                        f"{os.path.basename(path)}")


def check_refs(r, where, pod, c):
    for src in c.get("envFrom", []):
        if "configMapRef" in src and not r.configmap_named(src["configMapRef"]["name"]):
            fail(where, f"ConfigMap {src['configMapRef']['name']} is not in the render")
    for v in pod.get("volumes", []):
        if "configMap" in v and not r.configmap_named(v["configMap"]["name"]):
            fail(where, f"ConfigMap {v['configMap']['name']} is not in the render")


def check_secret_refs(r, where, c, settings, daemon, example_keys, secrets_expected):
    """Secret keys: settings of the daemon (or LLMQ_MASTER_KEY), named like the variable, in
    secrets.env.example (set there when required), and in the rendered Secret."""
    for e in c.get("env", []):
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if not ref:
            continue
        key = ref["key"]
        if daemon and key not in EXTRA_ENV and key not in settings[daemon]:
            fail(where, f"secret key {key} is not a setting of {daemon}")
        if e["name"] != key:
            fail(where, f"variable {e['name']} comes from secret key {key}: name them alike")
        if key not in example_keys["all"]:
            fail(where, f"secret key {key} is missing from the overlay's secrets.env.example")
        elif not ref.get("optional") and key not in example_keys["set"]:
            fail(where, f"required secret key {key} is commented out in secrets.env.example")
        if secrets_expected:
            s = r.get("Secret", ref["name"])
            if s is None:
                fail(where, f"Secret {ref['name']} is not in the render")
            elif not ref.get("optional") and key not in s.get("data", {}):
                fail(where, f"Secret {ref['name']} has no key {key}")


def check_render(r, settings, validator, image, example_keys, kafka_params, secrets_expected):
    for o in r.objs:
        validator.check(r.where(o), o)
    deployments = {}
    for d in r.kinds("Deployment"):
        for daemon, dep, c, eff in check_deployment(r, d, settings, image):
            deployments[daemon] = (dep, c, eff)
            check_secret_refs(r, f"{r.where(dep)} container {c['name']}", c, settings, daemon,
                              example_keys, secrets_expected)
    for daemon in DAEMONS:
        if daemon not in deployments:
            fail(r.name, f"no Deployment runs {daemon}")
    pods = {daemon: dep["spec"]["template"] for daemon, (dep, _, _) in deployments.items()}

    def pods_of(where, selector):
        found = [daemon for daemon, t in pods.items()
                 if labels_match(selector, t["metadata"].get("labels", {}))]
        if len(found) != 1:
            fail(where, f"selects the pods of {len(found)} Deployments ({', '.join(found)}), not 1")
        return found[0] if len(found) == 1 else None

    for s in r.kinds("Service"):
        daemon = pods_of(r.where(s), s["spec"].get("selector"))
        if not daemon:
            continue
        cports = {p.get("name"): p["containerPort"] for c in pods[daemon]["spec"]["containers"]
                  for p in c.get("ports", [])}
        names = set()
        for p in s["spec"]["ports"]:
            names.add(p.get("name"))
            t = p.get("targetPort", p["port"])
            if t not in cports and t not in cports.values():
                fail(r.where(s), f"port {p.get('name')} targets {t}, which no container opens")
        if "metrics" not in names:
            fail(r.where(s), "no port named metrics (scraping)")
        api = [p for p in s["spec"]["ports"] if p["port"] == 80
               and cports.get(p.get("targetPort"), p.get("targetPort")) == 8080]
        if daemon == "llmq-ingest" and not api:
            fail(r.where(s), "no port 80 to the API's 8080")
    covered = set()
    for b in r.kinds("PodDisruptionBudget"):
        daemon = pods_of(r.where(b), b["spec"]["selector"].get("matchLabels"))
        covered.add(daemon)
    for daemon in DAEMONS:
        if daemon in deployments and daemon not in covered:
            fail(r.name, f"no PodDisruptionBudget for {daemon}")

    scaled = {}
    for h in r.kinds("HorizontalPodAutoscaler"):
        ref = h["spec"]["scaleTargetRef"]
        dep = r.get(ref["kind"], ref["name"])
        if not dep:
            fail(r.where(h), f"scales {ref['kind']}/{ref['name']}, which is not in the render")
            continue
        scaled[ref["name"]] = h
        if h["spec"].get("minReplicas", 1) > h["spec"]["maxReplicas"]:
            fail(r.where(h), "minReplicas > maxReplicas")
        cpu = [m for m in h["spec"].get("metrics", [])
               if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]
        if not cpu:
            fail(r.where(h), "does not scale on CPU")
        if ref["name"] != "llmq-ingest":
            fail(r.where(h), "scales something else than llmq-ingest")
    partitions = job_partitions(r)
    for j in r.kinds("Job"):
        pod = j["spec"]["template"]["spec"]
        for c in pod.get("initContainers", []) + pod["containers"]:
            check_secret_refs(r, f"{r.where(j)} container {c['name']}", c, settings, None,
                              example_keys, secrets_expected)
    for so in r.kinds("ScaledObject"):
        scaled[so["spec"]["scaleTargetRef"]["name"]] = so
        check_scaled_object(r, so, deployments, kafka_params, partitions)
    for name in ("llmq-ingest", "llmq-worker"):
        if name not in scaled:
            fail(r.name, f"nothing scales {name}")
    for name in scaled:
        dep = r.get("Deployment", name)
        if dep and "replicas" in dep["spec"]:
            fail(r.where(dep), "has replicas although an autoscaler owns them: every apply "
                               "would reset the number")


def job_partitions(r):
    """The --partitions of `llmqctl topics create` in the init Job (llmqctl's default: 8)."""
    seen = None
    for j in r.kinds("Job"):
        pod = j["spec"]["template"]["spec"]
        cmds = []
        for c in pod.get("initContainers", []) + pod["containers"]:
            if daemon_of(c) != "llmqctl":
                fail(r.where(j), f"container {c['name']} does not run llmqctl")
                continue
            args = c.get("args", [])
            cmds.append(" ".join(args[:2]))
            if args[:2] == ["topics", "create"]:
                seen = int(args[args.index("--partitions") + 1]) if "--partitions" in args else 8
                if "LLMQ_KAFKA_BROKERS" not in r.env_of(c):
                    fail(r.where(j), "topics create without LLMQ_KAFKA_BROKERS")
            if args[:1] == ["migrate"] and "LLMQ_PG_URL" not in r.env_of(c):
                fail(r.where(j), "migrate without LLMQ_PG_URL")
            check_security(f"{r.where(j)} container {c['name']}", pod, c, None)
        if cmds[:1] != ["migrate"] or "topics create" not in cmds:
            fail(r.where(j), f"runs {cmds}: migrate first, then topics create")
    if seen is None:
        fail(r.name, "no Job runs llmqctl topics create")
    return seen


def check_scaled_object(r, so, deployments, params, partitions):
    where = r.where(so)
    spec = so["spec"]
    if spec["scaleTargetRef"]["name"] != "llmq-worker" or "llmq-worker" not in deployments:
        fail(where, "does not scale the Deployment llmq-worker")
        return
    _, c, eff = deployments["llmq-worker"]
    lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if lo > hi:
        fail(where, "minReplicaCount > maxReplicaCount")
    if lo < 1:
        fail(where, "minReplicaCount 0: synchronous requests would wait for a worker to start")
    if partitions is not None and hi > partitions:
        fail(where, f"maxReplicaCount {hi} > {partitions} partitions of llmq.requests: "
                    "the extra workers would own no partition")
    env = r.env_of(c)
    want = {"bootstrapServers": eff["LLMQ_KAFKA_BROKERS"], "consumerGroup": eff["LLMQ_WORKER_GROUP"],
            "topic": eff["LLMQ_TOPIC_REQUESTS"]}
    kafka = [t for t in spec["triggers"] if t["type"] == "kafka"]
    if not kafka:
        fail(where, "no kafka trigger")
    for t in kafka:
        md = t["metadata"]
        got = {}
        for key, value in md.items():
            if not isinstance(value, str):
                continue   # the schema says so already
            base = key[:-len("FromEnv")] if key.endswith("FromEnv") else key
            p = params.get(base)
            if p is None or "triggerMetadata" not in p["order"] and base == key:
                fail(where, f"the kafka scaler has no parameter {key}")
                continue
            if base != key:
                if "resolvedEnv" not in p["order"]:
                    fail(where, f"{base} cannot come from the environment")
                elif value not in env or env[value] is None:
                    fail(where, f"{key}: {value} is not in the workers' environment (ConfigMaps)")
                else:
                    got[base] = env[value]
                continue
            got[base] = value
            if p["enum"] and value not in p["enum"]:
                fail(where, f"{key}: {value!r} is not one of {p['enum']}")
            if p["type"] == "bool" and value not in ("true", "false"):
                fail(where, f"{key}: {value!r} is not true or false")
            if p["type"].startswith("int") and not re.fullmatch(r"\d+", value):
                fail(where, f"{key}: {value!r} is not a number")
        for k, v in want.items():
            if got.get(k) != v:
                fail(where, f"{k} is {got.get(k)!r}, the workers use {v!r}")


# ---- the Containerfile ----

def containerfile(path):
    """[(instruction, rest)], continuation lines joined, comments dropped."""
    out, cur = [], ""
    with open(path, encoding="utf-8") as f:
        for line in f:
            s = line.rstrip("\n")
            if s.lstrip().startswith("#"):
                continue
            if s.endswith("\\"):
                cur += s[:-1] + " "
                continue
            cur += s
            if cur.strip():
                word, _, rest = cur.strip().partition(" ")
                out.append((word.upper(), rest.strip()))
            cur = ""
    return out


def apt_packages(run):
    """The packages an `apt-get install` in a RUN names."""
    pkgs = []
    for cmd in re.split(r"&&|;", run):
        words = shlex.split(cmd)
        if "apt-get" in words and "install" in words:
            pkgs += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return pkgs


def lib_sh_packages(source):
    with open(os.path.join(source, "ops/lib.sh"), encoding="utf-8") as f:
        m = re.search(r"LLMQ_BUILD_PACKAGES=\(([^)]*)\)", f.read())
    return m.group(1).split() if m else []


def install_targets(source):
    with open(os.path.join(source, "CMakeLists.txt"), encoding="utf-8") as f:
        m = re.search(r"install\(TARGETS\s+([^)]*?)\s+RUNTIME", f.read())
    return m.group(1).split() if m else []


def cmake_dirs(source):
    """The top folders of the checkout whose files the CMake project names."""
    dirs = set()
    for cm, relative in (("CMakeLists.txt", True), ("tests/CMakeLists.txt", False)):
        with open(os.path.join(source, cm), encoding="utf-8") as f:
            text = re.sub(r"#[^\n]*", "", f.read())          # comments
        text = re.sub(r"add_test\([^)]*\)", "", text)        # what tests read, not the build
        pat = r"\$\{CMAKE_SOURCE_DIR\}/([\w.-]+)/" + ("|(?<![\w/.$}-])([\w.-]+)/[\w*]" if relative else "")
        for m in re.finditer(pat, text):
            d = m.group(1) or (m.lastindex and m.group(m.lastindex))
            if d and os.path.isdir(os.path.join(source, d)):
                dirs.add(d)
        dirs |= {d for d in re.findall(r"add_subdirectory\((\w+)\)", text) if relative}
    return dirs


def apt_usable():
    """Whether apt-cache answers for Debian bookworm here (its package lists are present)."""
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            if "VERSION_CODENAME=bookworm" not in f.read():
                return "this machine is not Debian bookworm"
    except OSError:
        return "no /etc/os-release"
    if not shutil.which("apt-cache"):
        return "no apt-cache"
    r = subprocess.run(["apt-cache", "show", "--no-all-versions", "libc6"], capture_output=True)
    return None if r.returncode == 0 and r.stdout else "no apt package lists (apt-get update)"


def check_containerfile(source, build):
    where = "ops/container/Containerfile"
    ins = containerfile(os.path.join(source, where))
    with open(os.path.join(source, where + ".dockerignore"), encoding="utf-8") as f:
        ignored = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    args, stages, stage_pkgs, image = {}, [], [], {"uid": None, "binaries": set()}
    final_from = None
    for word, rest in ins:
        if word == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k] = v
        elif word == "FROM":
            parts = rest.split()
            ref = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), parts[0])
            if not ref.startswith("debian:bookworm"):
                fail(where, f"stage from {ref}, not Debian bookworm")
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(name)
            stage_pkgs.append([])
            final_from = ref
        elif word == "RUN":
            stage_pkgs[-1] += apt_packages(rest)
        elif word == "COPY":
            words = rest.split()
            frm = [w for w in words if w.startswith("--from=")]
            paths = [w for w in words if not w.startswith("--")]
            if frm:
                if frm[0][len("--from="):] not in stages[:-1]:
                    fail(where, f"COPY {frm[0]}: no earlier stage of that name")
                image["binaries"] |= {os.path.basename(p) for p in paths[:-1]}
            else:
                for p in paths[:-1]:
                    if not os.path.exists(os.path.join(source, p)):
                        fail(where, f"COPY {p}: not in the repository")
                    for pat in ignored:
                        if fnmatch.fnmatch(p.rstrip("/"), pat):
                            fail(where, f"COPY {p}: left out of the build context by {pat} "
                                        "(Containerfile.dockerignore)")
        elif word == "USER":
            uid = rest.split(":")[0]
            if not uid.isdigit() or int(uid) == 0:
                fail(where, f"USER {rest}: a numeric user other than root (runAsNonRoot)")
            else:
                image["uid"] = int(uid)
        elif word in ("CMD", "ENTRYPOINT"):
            try:
                json.loads(rest)
            except ValueError:
                fail(where, f"{word} {rest}: not in exec form (it would need a shell)")
    copied = {p.rstrip("/") for word, rest in ins if word == "COPY" and "--from=" not in rest
              for p in rest.split()[:-1] if not p.startswith("--")}
    for d in sorted(cmake_dirs(source) - copied):
        fail(where, f"the CMake project builds from {d}/, which no COPY brings in")
    if len(stages) < 2 or final_from is None:
        fail(where, "expected a build stage and a runtime stage")
        return image
    if image["uid"] is None:
        fail(where, "no USER: the image would run as root")
    targets = install_targets(source)
    if image["binaries"] != set(targets):
        fail(where, f"the image holds {sorted(image['binaries'])}, the installed targets are "
                    f"{sorted(targets)} (CMakeLists.txt install(TARGETS ...))")
    build_pkgs, run_pkgs = stage_pkgs[0], stage_pkgs[-1]
    lib_sh = lib_sh_packages(source)
    for p in build_pkgs:
        if p not in lib_sh:
            fail(where, f"build package {p} is not in ops/lib.sh's LLMQ_BUILD_PACKAGES")
    for p in lib_sh:
        if p.endswith("-dev") and p not in build_pkgs:
            fail(where, f"ops/lib.sh builds with {p}; the build stage does not install it")
    why = apt_usable()
    if why:
        print(f"note: Debian packages not looked up: {why}")
    else:
        r = subprocess.run(["apt-cache", "show", "--no-all-versions"] + build_pkgs + run_pkgs,
                           capture_output=True, text=True)
        known = set(re.findall(r"^Package: (\S+)", r.stdout, re.M))
        for p in build_pkgs + run_pkgs:
            if p not in known:
                fail(where, f"no Debian bookworm package {p}")
        check_runtime_libs(where, build, set(run_pkgs))
    return image


def check_runtime_libs(where, build, run_pkgs):
    """Every library the built daemons link comes from a runtime package (or libc6)."""
    bins = [os.path.join(build, b) for b in ("llmq-ingest", "llmq-worker", "llmq-sink", "llmqctl")]
    if not build or not all(os.path.isfile(b) for b in bins) or not shutil.which("objdump"):
        print("note: no built binaries (or no objdump): their libraries not checked")
        return
    needed = set()
    for b in bins:
        out = subprocess.run(["objdump", "-p", b], capture_output=True, text=True).stdout
        needed |= set(re.findall(r"NEEDED\s+(\S+)", out))
    needed = sorted(lib for lib in needed if not re.match(r"lib(asan|ubsan|lsan|tsan)\.", lib))
    r = subprocess.run(["dpkg", "-S"] + [f"*/{lib}" for lib in needed], capture_output=True,
                       text=True)
    owners = {}
    for line in r.stdout.splitlines():   # "libpq5:amd64: /usr/lib/x86_64-linux-gnu/libpq.so.5"
        pkg, _, path = line.partition(": ")
        owners.setdefault(os.path.basename(path), set()).add(pkg.split(":")[0])
    for lib in needed:   # sanitizer runtimes left out above: the image's build has none
        found = owners.get(lib, set())
        if not found & (run_pkgs | {"libc6", "libgcc-s1"}):
            fail(where, f"{lib} (from {', '.join(sorted(found)) or 'no package'}) is not in "
                        "the runtime stage's packages")


# ---- the example overlay's secrets.env.example ----

def example_secret_keys(source):
    """{"all": keys named, "set": keys not commented out} of secrets.env.example."""
    keys = {"all": set(), "set": set()}
    path = os.path.join(source, "ops/k8s/overlays/example/secrets.env.example")
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\s*(#)?\s*(LLMQ_\w+)=", line)
            if m:
                keys["all"].add(m.group(2))
                if not m.group(1):
                    keys["set"].add(m.group(2))
    return keys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--keda", required=True, help="KEDA's module source (github.com/kedacore/keda/v2)")
    ap.add_argument("--k8s", default="1.30,1.37", help="Kubernetes versions to validate against")
    ap.add_argument("--build", default="", help="a build folder, to check the binaries' libraries")
    ap.add_argument("renders", nargs="+", help="NAME=FILE: kustomize's output; NAME example "
                                               "expects the Secret")
    a = ap.parse_args()
    settings = read_settings(a.source)
    for d in DAEMONS:
        if not settings.get(d):
            sys.exit(f"docs/configuration.md has no settings table for {d}")
    image = check_containerfile(a.source, a.build)
    validator = Validator(a.k8s.split(","), a.keda)
    params = kafka_scaler_params(a.keda)
    example_keys = example_secret_keys(a.source)
    count = 0
    for spec in a.renders:
        name, _, path = spec.partition("=")
        r = Render(name, path)
        count += len(r.objs)
        try:
            check_render(r, settings, validator, image, example_keys, params,
                         secrets_expected=name != "base")
            if name != "base":
                check_overlay(r)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            fail(name, f"cannot check further ({type(e).__name__}: {e}): see the errors above")
    for p in problems:
        print(p)
    print(f"{count} objects in {len(a.renders)} renders against Kubernetes {a.k8s} and KEDA: "
          f"{len(problems)} problems")
    return 1 if problems else 0


def check_overlay(r):
    """An installation: one namespace, under the restricted Pod Security Standard; images from
    a registry, with a tag."""
    ns = list(r.kinds("Namespace"))
    if len(ns) != 1:
        fail(r.name, f"{len(ns)} Namespaces, not 1")
        return
    name = ns[0]["metadata"]["name"]
    if ns[0]["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") != "restricted":
        fail(r.where(ns[0]), "does not enforce the restricted Pod Security Standard")
    for o in r.objs:
        if o["kind"] != "Namespace" and o["metadata"].get("namespace") != name:
            fail(r.where(o), f"not in namespace {name}")
        # docs/kubernetes.md applies these first, by label: kubectl apply -l
        want = {"ConfigMap": "config", "Secret": "config", "ServiceAccount": "config",
                "Namespace": "config", "Job": "init"}.get(o["kind"])
        got = o["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        if want and got != want:
            fail(r.where(o), f"label app.kubernetes.io/component is {got!r}, not {want!r}")
        pod = (o.get("spec", {}).get("template") or {}).get("spec")
        for c in (pod or {}).get("containers", []) + (pod or {}).get("initContainers", []):
            img = c.get("image", "")
            if "/" not in img or (":" not in img.rsplit("/", 1)[1] and "@" not in img) \
                    or img.endswith(":latest"):
                fail(r.where(o), f"image {img!r}: name a registry and a tag or digest")


if __name__ == "__main__":
    sys.exit(main())
