"""deploy/kubernetes/: every manifest's structure (apiVersion, kind, metadata; probes and
resource requests on every long-running container; selectors that select), the commands
the containers run (against the real typer app), the scale-out choices (ingest in a
shared subscription with stable client ids, vision shards covering each camera exactly
once, several board replicas with /api/health probes, an odd EMQX cluster with
hash_topic), Secrets referenced and never embedded. `kubectl kustomize` renders the whole
when kubectl is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.config import load_config
from tests.support.deploy import (
    DEPLOY,
    ROOT,
    SECRET_NAME,
    check_sunlight_argv,
    inline_passwords,
    load_yaml_documents,
    option_default,
    option_value,
    sunlight_env_names,
)

K8S = DEPLOY / "kubernetes"
KUSTOMIZATION = yaml.safe_load((K8S / "kustomization.yaml").read_text())
FILES = [K8S / name for name in KUSTOMIZATION["resources"]]
DOCS = [(path.name, doc) for path in FILES for doc in load_yaml_documents(path)]
WORKLOADS = [(f, d) for f, d in DOCS if d["kind"] in ("Deployment", "StatefulSet")]
EMQX_CONF = (K8S / "emqx.conf").read_text()
OPERATIONS = (ROOT / "docs" / "operations.md").read_text() \
    if (ROOT / "docs" / "operations.md").exists() else ""
KNOWN_KINDS = {
    ("v1", "Namespace"), ("v1", "Service"), ("v1", "PersistentVolumeClaim"),
    ("v1", "ConfigMap"), ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
    ("batch/v1", "Job"), ("policy/v1", "PodDisruptionBudget"),
}


def _named(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for _, d in DOCS if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _args(container: dict[str, Any]) -> list[str]:
    return [str(a) for a in (*container.get("command", []), *container.get("args", []))]


def _our_containers() -> list[tuple[str, dict[str, Any]]]:
    return [(d["metadata"]["name"], c) for _, d in [*WORKLOADS, *_jobs()]
            for c in _containers(d) if "sunlight" in c["image"].rsplit("/", 1)[-1]]


def _jobs() -> list[tuple[str, dict[str, Any]]]:
    return [(f, d) for f, d in DOCS if d["kind"] == "Job"]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- structure ---------------------------------------------------------------------------


def test_the_kustomization_lists_every_manifest() -> None:
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "estate.yaml"}
    assert set(KUSTOMIZATION["resources"]) == manifests
    assert KUSTOMIZATION["namespace"] == "sunlight"
    generated = {g["name"]: g["files"] for g in KUSTOMIZATION["configMapGenerator"]}
    assert generated == {"sunlight-estate": ["estate.yaml"], "emqx-config": ["emqx.conf"]}


def test_every_document_is_a_well_formed_object() -> None:
    assert DOCS
    for name, doc in DOCS:
        assert (doc.get("apiVersion"), doc.get("kind")) in KNOWN_KINDS, (name, doc.get("kind"))
        metadata = doc.get("metadata", {})
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", metadata.get("name", "")), name
        assert "namespace" not in metadata, f"{name}: the kustomization sets the namespace"
    names = Counter((d["kind"], d["metadata"]["name"]) for _, d in DOCS)
    assert max(names.values()) == 1, names


def test_long_running_containers_have_probes_and_resource_requests() -> None:
    for name, doc in WORKLOADS:
        selector = doc["spec"]["selector"]["matchLabels"]
        assert _selects(selector, doc["spec"]["template"]["metadata"]["labels"]), name
        for container in _containers(doc):
            where = f"{name}: {doc['metadata']['name']}/{container['name']}"
            requests = container.get("resources", {}).get("requests", {})
            assert "cpu" in requests and "memory" in requests, where
            assert "memory" in container["resources"].get("limits", {}), where
            assert "livenessProbe" in container and "readinessProbe" in container, where
            assert ":" in container["image"] and not container["image"].endswith(":latest")
    for name, doc in _jobs():
        for container in _containers(doc):
            assert container.get("resources", {}).get("requests"), name


def test_services_and_budgets_select_pods() -> None:
    pods = [d["spec"]["template"]["metadata"]["labels"] for _, d in WORKLOADS]
    for name, doc in DOCS:
        if doc["kind"] in ("Service", "PodDisruptionBudget"):
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            assert any(_selects(selector, labels) for labels in pods), \
                f"{name}: {doc['metadata']['name']} selects nothing"
    for _, doc in WORKLOADS:
        if doc["kind"] == "StatefulSet":
            governing = _named("Service", doc["spec"]["serviceName"])
            assert governing["spec"].get("clusterIP") == "None"
    budgets = {d["metadata"]["name"] for _, d in DOCS if d["kind"] == "PodDisruptionBudget"}
    assert {"emqx", "sunlight-ingest", "sunlight-board"} <= budgets


def test_containers_run_real_sunlight_commands_with_real_settings() -> None:
    known = sunlight_env_names() | {"POD_NAME"}
    for workload, container in _our_containers():
        argv = _args(container)
        assert argv[0] == "sunlight" and "command" not in container, \
            f"{workload}: args only, the image's ENTRYPOINT (tini) stays PID 1"
        assert check_sunlight_argv(argv) == [], workload
        env = {e["name"]: e for e in container.get("env", [])}
        assert set(env) <= known, f"{workload}: {set(env) - known} read by nothing"
        for variable in re.findall(r"\$\(([A-Z_]+)\)", " ".join(argv)):
            assert variable in env, f"{workload}: $({variable}) is not defined"


def test_volumes_reference_what_exists() -> None:
    claims = {d["metadata"]["name"] for _, d in DOCS if d["kind"] == "PersistentVolumeClaim"}
    generated = {g["name"] for g in KUSTOMIZATION["configMapGenerator"]}
    for name, doc in [*WORKLOADS, *_jobs()]:
        spec = doc["spec"]
        templates = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
        volumes = {v["name"]: v for v in spec["template"]["spec"].get("volumes", [])}
        for volume in volumes.values():
            if "configMap" in volume:
                assert volume["configMap"]["name"] in generated, name
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, name
        for container in _containers(doc):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes or mount["name"] in templates, name
    (data,) = [d for _, d in DOCS if d["kind"] == "PersistentVolumeClaim"]
    assert data["spec"]["accessModes"] == ["ReadWriteMany"]  # shared by ingest and board


# --- secrets -------------------------------------------------------------------------------


def test_secrets_are_referenced_never_embedded() -> None:
    assert all(doc["kind"] != "Secret" for _, doc in DOCS)
    referenced: set[tuple[str, str]] = set()
    for name, doc in [*WORKLOADS, *_jobs()]:
        for container in _containers(doc):
            for env in container.get("env", []):
                if "value" in env:
                    assert not SECRET_NAME.search(env["name"]), f"{name}: {env['name']}"
                    assert inline_passwords(str(env["value"])) == [], name
                else:
                    ref = env["valueFrom"].get("secretKeyRef")
                    if ref:
                        referenced.add((ref["name"], ref["key"]))
        for volume in doc["spec"]["template"]["spec"].get("volumes", []):
            if "secret" in volume:
                referenced.add((volume["secret"]["secretName"], "*"))
    for path in [*FILES, K8S / "emqx.conf"]:
        assert inline_passwords(path.read_text()) == [], path.name
    assert not re.search(r"^\s*(password|cookie)\s*=", EMQX_CONF, re.M | re.I)
    # the operations guide says how to make each Secret and key
    assert OPERATIONS, "docs/operations.md"
    for secret, key in referenced:
        assert secret in OPERATIONS, secret
        if key != "*":
            assert f"--from-literal={key}=" in OPERATIONS, (secret, key)


# --- the scale-out choices -----------------------------------------------------------------


def test_ingest_replicas_share_the_load_under_stable_client_ids() -> None:
    ingest = _named("StatefulSet", "sunlight-ingest")  # stable names: see ingest.yaml
    assert ingest["spec"]["replicas"] >= 2
    (container,) = _containers(ingest)
    argv = _args(container)
    assert argv[:2] == ["sunlight", "ingest"]
    assert option_value(argv, "--share-group") == "ingest"
    assert option_value(argv, "--client-id") == "$(POD_NAME)"
    # pod names sunlight-ingest-0, -1 …: the `sunlight-ingest-…` EMQX admits (emqx.conf)
    assert ingest["metadata"]["name"] == "sunlight-ingest"
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # probed on /metrics: test_metrics_listen_where_the_probes_and_prometheus_reach_them
    assert container["livenessProbe"]["httpGet"]["path"] == "/metrics"


def _estate_cameras(path: Path) -> list[str]:
    return [c.id for c in load_config(path).cameras]


def test_vision_shards_cover_every_camera_exactly_once() -> None:
    shards = [d for _, d in WORKLOADS if d["metadata"]["name"].startswith("sunlight-vision")]
    assert len(shards) >= 2
    cameras: list[str] = []
    client_ids = []
    for shard in shards:
        assert shard["spec"]["replicas"] == 1
        assert shard["spec"]["strategy"]["type"] == "Recreate"
        (container,) = _containers(shard)
        argv = _args(container)
        assert argv[:2] == ["sunlight", "vision"]
        listed = option_value(argv, "--cameras")
        assert listed, shard["metadata"]["name"]
        cameras += listed.split(",")
        client_ids.append(option_value(argv, "--client-id"))
    assert len(set(client_ids)) == len(shards) and None not in client_ids
    # EMQX admits a service only under its username or `username-…` (emqx.conf)
    assert all(str(c).startswith("sunlight-vision-") for c in client_ids), client_ids
    for estate in (DEPLOY / "estate.example.yaml", K8S / "estate.yaml"):
        expected = _estate_cameras(estate)
        assert sorted(cameras) == sorted(expected), estate.name
        assert len(cameras) == len(set(cameras)), "a camera in two shards"


def test_the_board_runs_several_replicas_checked_on_api_health() -> None:
    board = _named("Deployment", "sunlight-board")
    assert board["spec"]["replicas"] >= 2
    (container,) = _containers(board)
    argv = _args(container)
    port = int(option_value(argv, "--port") or option_default(["board"], "--port"))
    assert option_value(argv, "--host") == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/api/health"
        assert ports[get["port"]] == port
    env = {e["name"] for e in container["env"]}
    assert "SUNLIGHT_BOARD_SCHEDULER" not in env  # every replica runs the scheduler


def test_the_emqx_cluster_is_odd_clustered_and_hashes_shared_topics() -> None:
    emqx = _named("StatefulSet", "emqx")
    replicas = emqx["spec"]["replicas"]
    assert replicas >= 3 and replicas % 2 == 1
    (container,) = _containers(emqx)
    version = container["image"].rsplit(":", 1)[1]
    major, minor = (int(x) for x in version.split(".")[:2])
    assert (major, minor) <= (5, 8), "5.9+ clusters need a license key (see emqx.conf)"
    assert re.search(r"^\s*shared_subscription_strategy = hash_topic$", EMQX_CONF, re.M)
    assert re.search(r"^\s*max_mqueue_len = [1-9]\d{5,}$", EMQX_CONF, re.M)
    assert re.search(r"^\s*max_packet_size = 5MB$", EMQX_CONF, re.M)
    headless = emqx["spec"]["serviceName"]
    assert _named("Service", headless)["spec"]["publishNotReadyAddresses"] is True
    dns = f"{headless}.{KUSTOMIZATION['namespace']}.svc.cluster.local"
    assert f'name = "{dns}"' in EMQX_CONF
    env = {e["name"]: e for e in container["env"]}
    assert env["EMQX_NODE__NAME"]["value"] == f"emqx@$(POD_NAME).{dns}"
    assert "8883" in EMQX_CONF and _named("Service", "emqx-mqtts")["spec"]["ports"][0][
        "port"] == 8883


def test_the_migration_job_can_run_before_the_services() -> None:
    """`kubectl apply -k … -l sunlight/upgrade-first=true` applies the Job with the
    ConfigMaps it mounts, and nothing else."""
    label = {"sunlight/upgrade-first": "true"}
    first = [d for _, d in DOCS if _selects(label, d["metadata"].get("labels", {}))]
    assert [d["kind"] for d in first] == ["Job"]
    (job,) = first
    assert job["spec"]["ttlSecondsAfterFinished"] > 0  # the next apply makes a new one
    assert _args(_containers(job)[0]) == ["sunlight", "db", "upgrade"]
    assert KUSTOMIZATION["generatorOptions"]["labels"] == label
    assert "-l sunlight/upgrade-first=true" in OPERATIONS


def test_the_database_is_timescaledb_on_postgresql_15_or_16() -> None:
    (container,) = _containers(_named("StatefulSet", "sunlight-timescaledb"))
    assert re.fullmatch(r"timescale/timescaledb:[0-9.]+-pg1[56]", container["image"])
    assert "pg_isready" in container["livenessProbe"]["exec"]["command"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kubectl_kustomize_renders_the_whole(tmp_path: Path) -> None:
    result = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    kinds = Counter(d["kind"] for d in rendered)
    assert kinds["ConfigMap"] == 2 and kinds["Secret"] == 0
    for doc in rendered:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "sunlight", doc["metadata"]["name"]
    estate = next(d for d in rendered if d["kind"] == "ConfigMap"
                  and d["metadata"]["name"].startswith("sunlight-estate-"))
    assert estate["data"]["estate.yaml"] == (K8S / "estate.yaml").read_text()
    mounted = {v["configMap"]["name"] for d in rendered if d["kind"] in ("Deployment",)
               for v in d["spec"]["template"]["spec"].get("volumes", []) if "configMap" in v}
    assert mounted == {estate["metadata"]["name"]}  # the hash-suffixed name, rewritten


def test_metrics_listen_where_the_probes_and_prometheus_reach_them() -> None:
    """/metrics binds 127.0.0.1 unless opened deliberately (--metrics-host); a pod opens it
    to the pod network for Prometheus, and then the kubelet probes it over HTTP."""
    from services.config import Settings

    assert option_default(["ingest"], "--metrics-host") is None  # then the setting's default
    assert Settings().metrics_host == "127.0.0.1"
    checked = 0
    for workload, container in _our_containers():
        argv = _args(container)
        if argv[1] not in ("ingest", "vision"):
            continue
        checked += 1
        port = int(option_value(argv, "--metrics-port")
                   or option_default([argv[1]], "--metrics-port"))
        assert option_value(argv, "--metrics-host") == "0.0.0.0", workload
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        assert ports.get("metrics") == port, workload
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}, \
                f"{workload}: {probe}"
    assert checked == 3  # ingest and two vision shards
    service = _named("Service", "sunlight-ingest")
    assert {"name": "metrics", "port": 9101} in service["spec"]["ports"]
