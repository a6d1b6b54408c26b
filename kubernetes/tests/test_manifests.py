"""Offline checks of the Kubernetes manifests in kubernetes/ (run by scripts/check-kubernetes.sh).

1. Schemas: every document of every YAML file under kubernetes/ is validated, built-in kinds
   against the Kubernetes 1.30 schemas shipped by kubernetes-validate (strict: unknown
   fields are errors), custom resources (HTTPRoute, Strimzi, Chaos Mesh) and the
   kustomization against the schemas vendored in kubernetes/crds/. A kind with no schema is
   a failure, never a skip.
2. Contracts: Service selectors and target ports, environment variables and ports against
   README.md and docs/architecture.md, the weights of each split scenario, what the base
   kustomization applies, and the security settings of every container.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import referencing
import yaml
from kubernetes_validate.utils import schema_contents

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "kubernetes"
CRDS = K8S / "crds"
SCENARIOS = K8S / "scenarios"
NAMESPACE = "squidgame"
KUBERNETES_VERSION = "1.30"

# The binaries of this repository, by image name (squidgame/<binary>).
BINARIES = ("api", "grpc-server", "worker-kafka", "worker-rabbit", "dashboard", "rungame")

# Where a custom resource's schema comes from: <group>_<version>_<kind>.schema.(json|yaml).
CUSTOM_GROUPS = {
    "gateway.networking.k8s.io",
    "kafka.strimzi.io",
    "chaos-mesh.org",
    "kustomize.config.k8s.io",
}


# --------------------------------------------------------------------------------------
# Loading


def manifest_files() -> list[Path]:
    """Every YAML file under kubernetes/ except the schemas in crds/ and the tests."""
    files = []
    for path in sorted(K8S.rglob("*")):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        rel = path.relative_to(K8S)
        if rel.parts[0] in ("crds", "tests"):
            continue
        files.append(path)
    return files


@functools.cache
def load_documents(path: Path) -> tuple[dict, ...]:
    with path.open() as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for i, d in enumerate(docs):
        assert isinstance(d, dict), f"{path.relative_to(ROOT)} document {i} is not a mapping"
    return tuple(docs)


def all_documents() -> list[tuple[Path, int, dict]]:
    return [(p, i, d) for p in manifest_files() for i, d in enumerate(load_documents(p))]


def doc_id(item) -> str:
    path, index, doc = item
    return f"{path.relative_to(K8S)}#{index}:{doc.get('kind')}/{doc.get('metadata', {}).get('name', '')}"


def kustomization() -> dict:
    (doc,) = load_documents(K8S / "kustomization.yaml")
    return doc


def base_documents() -> list[dict]:
    """What `kubectl apply -k kubernetes/` applies (the kustomization's resources)."""
    docs = []
    for res in kustomization()["resources"]:
        docs.extend(load_documents(K8S / res))
    return docs


def of_kind(docs, kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def workloads(docs) -> list[dict]:
    return [d for d in docs if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job")]


def pod_template(workload: dict) -> dict:
    return workload["spec"]["template"]


def containers(workload: dict) -> list[dict]:
    spec = pod_template(workload)["spec"]
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def by_name(docs, kind: str, name: str) -> dict:
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind} {name!r}, found {len(found)}"
    return found[0]


def binary_of(container: dict) -> str | None:
    """squidgame/api:0.1.0 -> api; None for third-party images."""
    m = re.fullmatch(r"(?:[^/]+/)*squidgame/([a-z-]+)(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?",
                     container["image"])
    return m.group(1) if m else None


# --------------------------------------------------------------------------------------
# Schemas


def strictify(schema):
    """Close every object schema that lists its properties, as the API server's strict
    field validation (and kustomize) reject unknown fields."""
    if isinstance(schema, dict):
        out = {k: strictify(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strictify(v) for v in schema]
    return schema


def custom_schema_path(api_version: str, kind: str) -> Path | None:
    group, _, version = api_version.rpartition("/")
    for suffix in (".schema.json", ".schema.yaml"):
        path = CRDS / f"{group}_{version}_{kind.lower()}{suffix}"
        if path.exists():
            return path
    return None


@functools.cache
def load_schema(path: Path) -> dict:
    with path.open() as f:
        return json.load(f) if path.suffix == ".json" else yaml.safe_load(f)


@functools.cache
def custom_validator(path: Path) -> jsonschema.protocols.Validator:
    schema = strictify(copy.deepcopy(load_schema(path)))
    schema.pop("$comment", None)
    # metadata is checked separately against the Kubernetes ObjectMeta schema.
    if "metadata" in schema.get("properties", {}):
        schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft202012Validator(schema)


@functools.cache
def object_meta_validator() -> jsonschema.protocols.Validator:
    version = f"v{KUBERNETES_VERSION}.0-local-strict"
    defs = schema_contents(f"kubernetes-json-schema/{version}/_definitions.json", KUBERNETES_VERSION)
    registry = referencing.Resource.from_contents(defs) @ referencing.Registry()
    schema = {"$ref": f"{defs['$id']}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def errors_of(validator, instance) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))]


def validate_document(doc: dict) -> None:
    """Raise AssertionError when the document does not match its schema or has none."""
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    assert api_version and kind, "document without apiVersion or kind"
    group = api_version.rpartition("/")[0]
    if group in CUSTOM_GROUPS:
        path = custom_schema_path(api_version, kind)
        assert path is not None, (
            f"no schema for {kind} {api_version}: vendor one in kubernetes/crds/ "
            f"(a kind with no schema is a failure)")
        errs = errors_of(custom_validator(path), doc)
        if "metadata" in doc:
            errs += [f"metadata/{e}" for e in errors_of(object_meta_validator(), doc["metadata"])]
        assert not errs, f"{kind} does not match {path.name}:\n  " + "\n  ".join(errs)
        return
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as e:
        pytest.fail(f"no Kubernetes {KUBERNETES_VERSION} schema for {kind} {api_version} "
                    f"(a kind with no schema is a failure): {e}")
    except kubernetes_validate.ValidationError as e:
        path = "/".join(map(str, e.path)) or "<root>"
        pytest.fail(f"{kind} is not valid Kubernetes {KUBERNETES_VERSION}: {path}: {e.message}")


def test_manifests_exist():
    files = {p.relative_to(K8S).as_posix() for p in manifest_files()}
    for required in ("kustomization.yaml", "namespace.yaml", "secrets.example.yaml",
                     "scenarios/split-50-50.yaml"):
        assert required in files
    assert any(f.startswith("chaos/") for f in files), "no chaos experiment in kubernetes/chaos/"


@pytest.mark.parametrize("item", all_documents(), ids=doc_id)
def test_document_matches_its_schema(item):
    _, _, doc = item
    validate_document(doc)


@pytest.mark.parametrize("path", sorted(CRDS.glob("*.schema.*")), ids=lambda p: p.name)
def test_vendored_schema_is_a_valid_json_schema(path):
    schema = load_schema(path)
    jsonschema.Draft202012Validator.check_schema(schema)
    readme = (CRDS / "README.md").read_text()
    assert path.name in readme, f"kubernetes/crds/README.md does not say where {path.name} comes from"
    if path.suffix == ".yaml":
        head = path.read_text().split("\n", 1)[0]
        assert "HAND-WRITTEN" in head, f"{path.name}: a hand-written schema must say so on its first line"


@pytest.mark.parametrize("bad", [
    # Each is a known-good document with one mistake; each must be rejected.
    ("scenarios/kafka-50-faulty-50.yaml", 0, ["spec", "rules", 0, "backendRefs", 0, "weight"], "fifty"),
    ("scenarios/kafka-50-faulty-50.yaml", 0, ["spec", "rules", 0, "backendRefz"], []),
    ("kafka.yaml", 1, ["spec", "roles"], ["broker", "zookeeper"]),
    ("kafka.yaml", 0, ["spec", "kafka", "listeners", 0, "type"], "internl"),
    ("kafka.yaml", 2, ["spec", "partitions"], 0),
    ("chaos/worker-kafka-pod-kill.yaml", 0, ["spec", "action"], "pod-explode"),
    ("chaos/kafka-delay.yaml", 0, ["spec", "delay", "latencyy"], "1s"),
    ("api.yaml", 2, ["spec", "template", "spec", "containers", 0, "readinesProbe"], {}),
    ("api.yaml", 2, ["spec", "replicas"], "two"),
    ("api.yaml", 2, ["metadata", "labelz"], {}),
    ("kustomization.yaml", 0, ["resourcez"], []),
], ids=lambda b: f"{b[0]}#{b[1]}:{'.'.join(map(str, b[2]))}")
def test_schema_validation_catches_mistakes(bad):
    """The validation above can fail: a broken copy of a good document is rejected."""
    rel, index, path, value = bad
    doc = copy.deepcopy(load_documents(K8S / rel)[index])
    validate_document(copy.deepcopy(doc))  # the original passes
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        validate_document(doc)


def test_unknown_kind_is_a_failure_not_a_skip():
    for doc in ({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
                {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaConnect",
                 "metadata": {"name": "c"}, "spec": {}}):
        with pytest.raises((AssertionError, pytest.fail.Exception)):
            validate_document(doc)


# --------------------------------------------------------------------------------------
# Namespace and kustomization


def test_namespace_is_meshed():
    ns = by_name(base_documents(), "Namespace", NAMESPACE)
    assert ns["metadata"].get("annotations", {}).get("linkerd.io/inject") == "enabled"


def test_every_object_is_in_the_namespace():
    for path, _, doc in all_documents():
        if doc["kind"] in ("Namespace", "Kustomization"):
            continue
        assert doc["metadata"].get("namespace") == NAMESPACE, \
            f"{path.relative_to(K8S)}: {doc['kind']} {doc['metadata']['name']} is not in {NAMESPACE}"


def test_kustomization_resources():
    resources = kustomization()["resources"]
    assert kustomization().get("namespace") == NAMESPACE
    for res in resources:
        assert (K8S / res).is_file(), f"kustomization lists missing file {res}"
        assert not res.endswith(".example.yaml"), f"the example secret {res} must not be applied"
        assert not res.startswith("chaos/"), "chaos experiments are optional, not in the base"
    top_level = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    examples = {n for n in top_level if n.endswith(".example.yaml")}
    assert examples, "no *.example.yaml secret example"
    assert top_level - examples <= set(resources), \
        f"not in the kustomization: {sorted(top_level - examples - set(resources))}"
    scenarios = [r for r in resources if r.startswith("scenarios/")]
    assert scenarios == ["scenarios/split-50-50.yaml"], "the base applies exactly the 50/50 scenario"
    # Real credentials are never committed: no Secret outside the example.
    for path, _, doc in all_documents():
        if doc["kind"] == "Secret":
            assert path.name.endswith(".example.yaml"), f"{path.name}: Secrets belong in *.example.yaml only"


def test_kustomization_images_match_deployments():
    images = {i["name"]: i for i in kustomization().get("images", [])}
    for w in workloads(base_documents()):
        for c in containers(w):
            binary = binary_of(c)
            if binary is None:
                continue
            name, _, tag = c["image"].partition(":")
            assert name in images, f"{c['image']} is not in the kustomization's images"
            assert images[name].get("newTag", tag) == tag


# --------------------------------------------------------------------------------------
# Services


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def selected_workloads(service: dict, docs) -> list[dict]:
    return [w for w in workloads(docs)
            if w["metadata"].get("namespace") == service["metadata"].get("namespace")
            and selects(service["spec"]["selector"], pod_template(w)["metadata"].get("labels", {}))]


def test_service_selectors_match_pod_templates():
    docs = base_documents()
    services = of_kind(docs, "Service")
    assert services
    for svc in services:
        selector = svc["spec"].get("selector")
        assert selector, f"Service {svc['metadata']['name']} has no selector"
        assert selected_workloads(svc, docs), \
            f"Service {svc['metadata']['name']} selects no pod template: {selector}"


def test_workload_selectors_match_their_templates():
    for w in workloads(base_documents()):
        labels = pod_template(w)["metadata"]["labels"]
        assert selects(w["spec"]["selector"]["matchLabels"], labels), w["metadata"]["name"]


def test_service_target_ports_match_container_ports():
    docs = base_documents()
    for svc in of_kind(docs, "Service"):
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for w in selected_workloads(svc, docs):
                ports = [p for c in containers(w) for p in c.get("ports", [])]
                match = [p for p in ports
                         if (p.get("name") == target if isinstance(target, str) else p["containerPort"] == target)]
                assert match, (f"Service {svc['metadata']['name']} port {port['port']} targets {target!r}, "
                               f"which {w['kind']} {w['metadata']['name']} does not expose")
                assert match[0].get("protocol", "TCP") == port.get("protocol", "TCP")


def test_statefulsets_have_headless_services_and_volume_claims():
    docs = base_documents()
    for sts in of_kind(docs, "StatefulSet"):
        svc = by_name(docs, "Service", sts["spec"]["serviceName"])
        assert svc["spec"].get("clusterIP") == "None", f"{svc['metadata']['name']} is not headless"
        assert selected_workloads(svc, docs) == [sts]
        claims = {c["metadata"]["name"] for c in sts["spec"].get("volumeClaimTemplates", [])}
        assert claims, f"StatefulSet {sts['metadata']['name']} has no volumeClaimTemplates"
        mounted = {m["name"] for c in containers(sts) for m in c.get("volumeMounts", [])}
        assert claims <= mounted, f"{sts['metadata']['name']}: claim not mounted"


# --------------------------------------------------------------------------------------
# Contracts with README.md and docs/architecture.md


def readme_configuration() -> dict[str, set[str]]:
    """Environment variable -> the binaries that read it, from README.md's table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)
    assert len(section) == 2, "README.md has no Configuration section"
    users_map = {
        "workers": {"worker-kafka", "worker-rabbit"},
        "all": set(BINARIES),
    }
    table: dict[str, set[str]] = {}
    for line in section[1].split("\n## ", 1)[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        users: set[str] = set()
        for user in cells[1].split(","):
            user = re.sub(r"\s*\(.*\)", "", user).strip()
            users |= users_map.get(user, {user})
        for name in names:
            table.setdefault(name, set()).update(users)
    assert table, "no variables found in README.md's Configuration table"
    unknown = set().union(*table.values()) - set(BINARIES)
    assert not unknown, f"README.md names unknown binaries: {unknown}"
    return table


def architecture_ports() -> dict[str, list[int]]:
    """Row label -> the port numbers in docs/architecture.md's 'Local stack and ports' table."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Local stack and ports", 1)
    assert len(section) == 2, "docs/architecture.md has no 'Local stack and ports' section"
    rows = {}
    for line in section[1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and re.search(r":\d+", cells[1]):
            rows[cells[0]] = [int(p) for p in re.findall(r":(\d+)", cells[1])]
    return rows


def expected_ports() -> dict[str, int]:
    rows = architecture_ports()

    def row(prefix):
        found = [v for k, v in rows.items() if k.startswith(prefix)]
        assert found, f"docs/architecture.md has no port row starting with {prefix!r}"
        return found[0]

    redis, rabbitmq, kafka, mongodb = row("Redis")
    return {
        # In Kubernetes every api pod listens on the split's port: the per-route ports
        # (8081/8082) only exist because the local stack shares one host.
        "api": row("split")[0],
        "grpc-server": row("grpc-server")[0],
        "dashboard": row("dashboard")[0],
        "worker-kafka": row("worker-kafka")[0],
        "worker-rabbit": row("worker-kafka")[1],
        "redis": redis,
        "rabbitmq": rabbitmq,
        "kafka": kafka,
        "mongodb": mongodb,
    }


LISTEN_VARS = {"api": "API_LISTEN", "grpc-server": "GRPC_LISTEN", "dashboard": "DASHBOARD_LISTEN",
               "worker-kafka": "WORKER_LISTEN", "worker-rabbit": "WORKER_LISTEN"}


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def literal_or_ref(entry: dict, docs) -> str:
    """The value of an env entry, following configMapKeyRef to the ConfigMap."""
    if "value" in entry:
        return entry["value"]
    ref = entry["valueFrom"].get("configMapKeyRef")
    assert ref, f"{entry['name']} is not a literal or a ConfigMap value"
    return by_name(docs, "ConfigMap", ref["name"])["data"][ref["key"]]


def example_secrets() -> list[dict]:
    return [d for p in K8S.glob("*.example.yaml") for d in load_documents(p) if d["kind"] == "Secret"]


def test_env_names_are_read_by_the_binaries():
    table = readme_configuration()
    seen = set()
    for w in workloads(base_documents()):
        for c in containers(w):
            binary = binary_of(c)
            if binary is None:
                continue
            seen.add(binary)
            assert not c.get("envFrom"), f"{w['metadata']['name']}: list variables one by one, not envFrom"
            for name in env_of(c):
                assert binary in table.get(name, set()), \
                    f"{w['metadata']['name']}: {binary} does not read {name} (README.md, Configuration)"
    assert seen == set(BINARIES) - {"rungame"}, f"deployed binaries: {sorted(seen)}"


def test_env_references_exist():
    docs = base_documents()
    secrets = {s["metadata"]["name"]: s for s in example_secrets()}
    for w in workloads(docs):
        for c in containers(w):
            for e in c.get("env", []):
                source = e.get("valueFrom", {})
                if "configMapKeyRef" in source:
                    ref = source["configMapKeyRef"]
                    cm = by_name(docs, "ConfigMap", ref["name"])
                    assert ref["key"] in cm["data"], f"{w['metadata']['name']}: {ref['name']} has no key {ref['key']}"
                if "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    assert ref["name"] in secrets, \
                        f"{w['metadata']['name']}: Secret {ref['name']} is not described in *.example.yaml"
                    assert ref["key"] in secrets[ref["name"]].get("stringData", {}), \
                        f"{w['metadata']['name']}: Secret {ref['name']} example has no key {ref['key']}"


def test_credentials_only_from_secrets():
    cm_values = " ".join(str(v) for cm in of_kind(base_documents(), "ConfigMap") for v in cm.get("data", {}).values())
    assert "@" not in cm_values and "password" not in cm_values.lower(), "credentials in a ConfigMap"
    for w in workloads(base_documents()):
        for c in containers(w):
            for e in c.get("env", []):
                if e["name"] in ("AMQP_URL", "MONGO_URL") or re.search(r"PASS|USER", e["name"]):
                    assert "secretKeyRef" in e.get("valueFrom", {}), \
                        f"{w['metadata']['name']}: {e['name']} must come from a Secret"


def test_ports_match_architecture():
    docs = base_documents()
    ports = expected_ports()
    deployed = set()
    for w in workloads(docs):
        for c in containers(w):
            binary = binary_of(c)
            if binary is None:
                continue
            deployed.add(binary)
            container_ports = [p["containerPort"] for p in c["ports"]]
            assert container_ports == [ports[binary]], \
                f"{w['metadata']['name']}: ports {container_ports}, docs/architecture.md says {ports[binary]}"
            listen = env_of(c)[LISTEN_VARS[binary]]["value"]
            assert listen == f"0.0.0.0:{ports[binary]}", \
                f"{w['metadata']['name']}: {LISTEN_VARS[binary]}={listen} does not serve the pod port"
    assert deployed == set(LISTEN_VARS)
    for name in ("redis", "rabbitmq", "mongodb"):
        sts = by_name(docs, "StatefulSet", name)
        assert [p["containerPort"] for c in containers(sts) for p in c["ports"]] == [ports[name]]
        svc = by_name(docs, "Service", name)
        assert [p["port"] for p in svc["spec"]["ports"]] == [ports[name]]
    kafka = by_name(docs, "Kafka", "squidgame")
    assert [l["port"] for l in kafka["spec"]["kafka"]["listeners"]] == [ports["kafka"]]


def test_connection_urls_point_at_the_right_services():
    docs = base_documents()
    ports = expected_ports()
    config = by_name(docs, "ConfigMap", "squidgame-config")["data"]
    assert config["KAFKA_BROKERS"] == f"squidgame-kafka-bootstrap:{ports['kafka']}"
    assert re.fullmatch(rf"redis://redis:{ports['redis']}/?", config["REDIS_URL"])
    secrets = {s["metadata"]["name"]: s["stringData"] for s in example_secrets()}
    assert re.fullmatch(rf"amqp://[^:@/]+:[^@/]+@rabbitmq:{ports['rabbitmq']}/%2f", secrets["squidgame-rabbitmq"]["AMQP_URL"])
    assert re.fullmatch(rf"mongodb://[^:@/]+:[^@/]+@mongodb:{ports['mongodb']}/.*", secrets["squidgame-mongodb"]["MONGO_URL"])
    # Each api talks to the grpc-server of its own route, which publishes to that route's queue.
    for route in ("kafka", "rabbitmq"):
        (api,) = containers(by_name(docs, "Deployment", f"api-{route}"))
        assert env_of(api)["GRPC_URL"]["value"] == f"http://grpc-server-{route}:{ports['grpc-server']}"
        svc = by_name(docs, "Service", f"grpc-server-{route}")
        assert [p["port"] for p in svc["spec"]["ports"]] == [ports["grpc-server"]]
        (grpc,) = containers(by_name(docs, "Deployment", f"grpc-server-{route}"))
        assert env_of(grpc)["GRPC_QUEUE"]["value"] == route
        assert ("KAFKA_BROKERS" if route == "kafka" else "AMQP_URL") in env_of(grpc)
        assert ("AMQP_URL" if route == "kafka" else "KAFKA_BROKERS") not in env_of(grpc)


def test_kafka_is_kraft_with_node_pool_and_topics():
    docs = base_documents()
    kafka = by_name(docs, "Kafka", "squidgame")
    assert "zookeeper" not in kafka["spec"]
    assert kafka["metadata"]["annotations"].get("strimzi.io/kraft") == "enabled"
    assert kafka["metadata"]["annotations"].get("strimzi.io/node-pools") == "enabled"
    pools = of_kind(docs, "KafkaNodePool")
    assert pools and all(p["metadata"]["labels"]["strimzi.io/cluster"] == "squidgame" for p in pools)
    roles = {r for p in pools for r in p["spec"]["roles"]}
    assert roles == {"controller", "broker"}
    topics = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic")}
    assert set(topics) == {"squidgame.results", "squidgame.results.dlq"}
    arch = (ROOT / "docs" / "architecture.md").read_text()
    partitions = int(re.search(r"`squidgame\.results` \((\d+) partitions\)", arch).group(1))
    assert topics["squidgame.results"]["spec"]["partitions"] == partitions
    for t in topics.values():
        assert t["metadata"]["labels"]["strimzi.io/cluster"] == "squidgame"


# --------------------------------------------------------------------------------------
# The split


SCENARIO_FILES = ["kafka-100", "rabbitmq-100", "split-50-50", "kafka-50-faulty-50", "rabbitmq-50-faulty-50"]
BACKEND_OF = {"kafka": "api-kafka", "rabbitmq": "api-rabbitmq", "faulty": "faulty"}


def weights_from_name(name: str) -> dict[str, int]:
    """'kafka-50-faulty-50' -> {'api-kafka': 50, 'faulty': 50}; 'split-50-50' is kafka/rabbitmq."""
    if name.startswith("split-"):
        name = name.replace("split-", "kafka-", 1)
        name = re.sub(r"^(kafka-\d+)-(\d+)$", r"\1-rabbitmq-\2", name)
    tokens = name.split("-")
    assert len(tokens) % 2 == 0, f"scenario name {name!r} is not <route>-<weight>[-<route>-<weight>]"
    weights = {}
    for route, weight in zip(tokens[::2], tokens[1::2]):
        assert route in BACKEND_OF and weight.isdigit(), f"scenario name {name!r}: bad part {route}-{weight}"
        weights[BACKEND_OF[route]] = int(weight)
    return weights


def test_weights_from_name_parser():
    assert weights_from_name("kafka-100") == {"api-kafka": 100}
    assert weights_from_name("split-50-50") == {"api-kafka": 50, "api-rabbitmq": 50}
    assert weights_from_name("rabbitmq-50-faulty-50") == {"api-rabbitmq": 50, "faulty": 50}


def test_all_scenarios_exist():
    assert sorted(p.stem for p in SCENARIOS.glob("*.yaml")) == sorted(SCENARIO_FILES)


def route_weights(route: dict) -> dict[str, int]:
    weights: dict[str, int] = {}
    for rule in route["spec"]["rules"]:
        for ref in rule["backendRefs"]:
            weights[ref["name"]] = weights.get(ref["name"], 0) + ref.get("weight", 1)
    return weights


@pytest.mark.parametrize("name", SCENARIO_FILES)
def test_scenario_weights_match_file_name(name):
    docs = load_documents(SCENARIOS / f"{name}.yaml")
    assert len(docs) == 1 and docs[0]["kind"] == "HTTPRoute", f"{name}.yaml must hold one HTTPRoute"
    route = docs[0]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    # The same name in every scenario: applying one replaces the previous one.
    assert route["metadata"]["name"] == "squidgame-split"
    assert route_weights(route) == weights_from_name(name), \
        f"{name}.yaml weights {route_weights(route)} do not match its name"


@pytest.mark.parametrize("name", SCENARIO_FILES)
def test_scenario_parent_is_the_apex_service_and_backends_exist(name):
    (route,) = load_documents(SCENARIOS / f"{name}.yaml")
    docs = base_documents()
    (parent,) = route["spec"]["parentRefs"]
    assert parent.get("group") == "" and parent.get("kind") == "Service" and parent["name"] == "squidgame-api"
    apex = by_name(docs, "Service", "squidgame-api")
    for rule in route["spec"]["rules"]:
        for ref in rule["backendRefs"]:
            assert ref.get("kind", "Service") == "Service" and ref.get("group", "") == ""
            svc = by_name(docs, "Service", ref["name"])
            assert ref["port"] in [p["port"] for p in svc["spec"]["ports"]], \
                f"{name}: {ref['name']} has no port {ref['port']}"
            assert ref["port"] in [p["port"] for p in apex["spec"]["ports"]]


def test_scenario_weight_check_can_fail():
    (route,) = copy.deepcopy(load_documents(SCENARIOS / "kafka-50-faulty-50.yaml"))
    route["spec"]["rules"][0]["backendRefs"][1]["weight"] = 40
    assert route_weights(route) != weights_from_name("kafka-50-faulty-50")
    route["spec"]["rules"][0]["backendRefs"][1]["weight"] = 50
    route["spec"]["rules"][0]["backendRefs"].append({"name": "api-rabbitmq", "port": 8080, "weight": 0})
    assert route_weights(route) != weights_from_name("kafka-50-faulty-50")


def test_faulty_backend_answers_500():
    docs = base_documents()
    cm = by_name(docs, "ConfigMap", "faulty-nginx")
    conf = "".join(cm["data"].values())
    assert re.search(r"location / \{[^}]*return 500", conf), "faulty does not answer 500"
    deploy = by_name(docs, "Deployment", "faulty")
    mounted = {v["configMap"]["name"] for v in pod_template(deploy)["spec"]["volumes"] if "configMap" in v}
    assert "faulty-nginx" in mounted


def test_ingress_targets_the_apex_service_through_the_mesh():
    (ing,) = [i for i in of_kind(base_documents(), "Ingress") if i["metadata"]["name"] == "squidgame"]
    assert ing["metadata"]["annotations"].get("nginx.ingress.kubernetes.io/service-upstream") == "true"
    assert ing["spec"]["ingressClassName"] == "nginx"
    rule = ing["spec"]["rules"][0]
    assert rule["host"].endswith(".nip.io")
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "squidgame-api"
    apex = by_name(base_documents(), "Service", "squidgame-api")
    assert backend["port"].get("name") in [p.get("name") for p in apex["spec"]["ports"]] \
        or backend["port"].get("number") in [p["port"] for p in apex["spec"]["ports"]]


def test_apex_service_selects_both_api_routes():
    docs = base_documents()
    names = {w["metadata"]["name"] for w in selected_workloads(by_name(docs, "Service", "squidgame-api"), docs)}
    assert names == {"api-kafka", "api-rabbitmq"}


# --------------------------------------------------------------------------------------
# Probes, resources and security


def test_probes_on_the_real_endpoints():
    docs = base_documents()
    ports = expected_ports()
    for w in workloads(docs):
        for c in containers(w):
            assert c.get("readinessProbe") and c.get("livenessProbe"), \
                f"{w['metadata']['name']}/{c['name']}: readiness and liveness probes are required"
            binary = binary_of(c)
            if binary is None:
                continue
            ready, live = c["readinessProbe"], c["livenessProbe"]
            named = {p["name"]: p["containerPort"] for p in c["ports"]}

            def port_of(probe_action):
                port = probe_action["port"]
                return named.get(port, port)

            if binary == "grpc-server":
                for probe in (ready, live):
                    action = probe.get("tcpSocket") or probe.get("grpc")
                    assert action and port_of(action) == ports["grpc-server"], f"{w['metadata']['name']}: {probe}"
            else:
                want_ready = "/readyz" if binary == "api" else "/healthz"
                assert ready["httpGet"]["path"] == want_ready, f"{w['metadata']['name']} readiness"
                assert live["httpGet"]["path"] == "/healthz", f"{w['metadata']['name']} liveness"
                assert port_of(ready["httpGet"]) == port_of(live["httpGet"]) == ports[binary]


def test_resources_requests_and_limits():
    for w in workloads(base_documents()):
        for c in containers(w):
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                for what in ("cpu", "memory"):
                    assert what in res.get(part, {}), f"{w['metadata']['name']}/{c['name']}: no {part}.{what}"


def assert_secure(where: str, sc: dict | None, numeric_user_required: bool = False):
    sc = sc or {}
    assert sc.get("runAsNonRoot") is True, f"{where}: runAsNonRoot must be true"
    assert sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem must be true"
    assert sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation must be false"
    assert "ALL" in sc.get("capabilities", {}).get("drop", []), f"{where}: capabilities must drop ALL"
    assert not sc.get("capabilities", {}).get("add"), f"{where}: no capability may be added"
    assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where}: seccompProfile RuntimeDefault"
    assert not sc.get("privileged"), f"{where}: privileged"
    if numeric_user_required:
        assert isinstance(sc.get("runAsUser"), int) and sc["runAsUser"] > 0, f"{where}: runAsUser must be a non-zero uid"


def test_every_container_is_locked_down():
    checked = 0
    for path, _, doc in all_documents():
        if doc["kind"] not in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"):
            continue
        spec = doc["spec"]
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        pod = spec if doc["kind"] == "Pod" else spec["template"]["spec"]
        assert pod.get("securityContext", {}).get("runAsNonRoot") is True, f"{doc['metadata']['name']}: pod runAsNonRoot"
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
        for c in list(pod.get("initContainers", [])) + list(pod["containers"]):
            assert_secure(f"{path.relative_to(K8S)} {doc['metadata']['name']}/{c['name']}",
                          c.get("securityContext"), numeric_user_required=True)
            checked += 1
    assert checked >= 9


def test_strimzi_containers_are_locked_down():
    docs = base_documents()
    for pool in of_kind(docs, "KafkaNodePool"):
        template = pool["spec"]["template"]
        assert template["pod"]["securityContext"]["runAsNonRoot"] is True
        assert_secure(f"KafkaNodePool {pool['metadata']['name']}", template["kafkaContainer"]["securityContext"])
    kafka = by_name(docs, "Kafka", "squidgame")
    eo = kafka["spec"]["entityOperator"]
    for op in ("topicOperator", "userOperator"):
        if op in eo:
            assert_secure(f"Kafka entityOperator {op}", eo["template"][f"{op}Container"]["securityContext"])


def test_security_check_can_fail():
    (deploy,) = [d for d in load_documents(K8S / "api.yaml") if d["kind"] == "Deployment"][:1]
    sc = copy.deepcopy(deploy["spec"]["template"]["spec"]["containers"][0]["securityContext"])
    assert_secure("api", sc, numeric_user_required=True)
    for key, value in (("readOnlyRootFilesystem", False), ("allowPrivilegeEscalation", True),
                       ("capabilities", {"drop": ["NET_RAW"]}), ("seccompProfile", {"type": "Unconfined"}),
                       ("runAsNonRoot", None)):
        broken = copy.deepcopy(sc)
        broken[key] = value
        with pytest.raises(AssertionError):
            assert_secure("api", broken, numeric_user_required=True)
