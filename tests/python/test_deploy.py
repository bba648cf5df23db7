"""The deployment manifests are consistent with the code they deploy and
with the models they serve."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "kubernetes"
EVICTOR = os.environ.get("KVTIER_EVICTOR", "build/release/src/evictor/kvtier-evictor")
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())

# KV bytes per token of a stored chunk (every layer, K and V, bf16), from
# each model's shapes; deploy/kubernetes/overlays/*/vllm.yaml says why.
KV_BYTES_PER_TOKEN = {
    "meta-llama/Llama-3.3-70B-Instruct": 2 * 80 * 8 * 128 * 2,
    "Qwen/Qwen3.5-35B-A3B": 2 * 40 * 2 * 256 * 2,
    "google/gemma-4-31B-it": 2 * (50 * 16 * 256 + 10 * 4 * 512) * 2,
}


def docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


@functools.cache
def rendered(overlay: str) -> list[dict]:
    """An overlay as `kubectl kustomize` renders it."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed")
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def find(objs: list[dict], kind: str, name: str | None = None) -> dict:
    (obj,) = [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return obj


def args_of(container: dict) -> dict[str, str]:
    out, args = {}, container["args"]
    for i, a in enumerate(args):
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            out[k] = v
        elif a.startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[a] = args[i + 1]
    return out


def gib(q: str) -> float:
    units = {"Gi": 1 << 30, "Mi": 1 << 20, "Ti": 1 << 40}
    m = re.fullmatch(r"(\d+)(Gi|Mi|Ti)", q)
    assert m, q
    return int(m.group(1)) * units[m.group(2)]


def test_there_is_one_overlay_per_seed_track():
    models = set()
    for o in OVERLAYS:
        (c,) = find(rendered(o), "Deployment", "vllm")["spec"]["template"]["spec"]["containers"]
        models.add(args_of(c)["--model"])
    assert models == set(KV_BYTES_PER_TOKEN)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_tier_is_sized_from_the_model(overlay):
    pod = find(rendered(overlay), "Deployment", "vllm")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    a = args_of(c)
    cfg = json.loads(a["--kv-transfer-config"])
    extra = cfg["kv_connector_extra_config"]
    (tier,) = extra["secondary_tiers"]
    prompt = int(a["--max-model-len"]) * KV_BYTES_PER_TOKEN[a["--model"]]
    # The queue holds a whole prompt's store, or its tail is dropped.
    assert tier["max_queued_write_bytes"] > prompt, (prompt, tier["max_queued_write_bytes"])
    # The CPU tier holds what is queued and more; /dev/shm holds the CPU
    # tier; the memory limit covers /dev/shm (charged to the pod).
    cpu = extra["cpu_bytes_to_use"]
    assert cpu >= 4 * prompt
    (shm,) = [v for v in pod["volumes"] if v["name"] == "dshm"]
    assert shm["emptyDir"]["medium"] == "Memory"
    assert gib(shm["emptyDir"]["sizeLimit"]) > cpu
    assert gib(c["resources"]["limits"]["memory"]) > gib(shm["emptyDir"]["sizeLimit"])
    gpus = int(c["resources"]["limits"]["nvidia.com/gpu"])
    assert gpus == int(a["--tensor-parallel-size"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_vllm_config_uses_the_tier_with_known_options(overlay):
    pytest.importorskip("vllm")
    from kvtier.vllm import TIER_OPTIONS

    dep = find(rendered(overlay), "Deployment", "vllm")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    cfg = json.loads(args_of(c)["--kv-transfer-config"])
    extra = cfg["kv_connector_extra_config"]
    assert extra["spec_name"] == "TieringOffloadingSpec"
    (tier,) = extra["secondary_tiers"]
    assert tier["type"] == "KvtierTier" and tier["module_path"] == "kvtier.vllm"
    options = set(tier) - {"type", "module_path"}
    assert options <= set(TIER_OPTIONS), options - set(TIER_OPTIONS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_evictor_args_are_accepted_by_the_real_evictor(overlay, tmp_path):
    if not os.access(EVICTOR, os.X_OK):
        pytest.skip(f"evictor not built at {EVICTOR}")
    sts = find(rendered(overlay), "StatefulSet", "kvtier-evictor")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    args = [a for a in container["args"] if not a.startswith("/")]
    args = [a for a in args if not a.startswith("--port") and not a.startswith("--bind")]
    env = dict(os.environ, POD_NAME=f"{sts['metadata']['name']}-2")
    r = subprocess.run(
        [EVICTOR, *args, "--once", "--dry-run", "--port=0", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    # The replica count is written once (spec.replicas); kustomize copies it.
    assert sts["spec"]["replicas"] == int(
        next(a for a in container["args"] if a.startswith("--replicas=")).split("=")[1]
    )
    raw = (K8S / "base/evictor-statefulset.yaml").read_text()
    assert re.findall(r"--replicas=(\S+)", raw) == ["REPLACED_FROM_SPEC_REPLICAS"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_evictor_starts_on_a_fresh_volume_and_may_delete_vllms_chunks(overlay):
    objs = rendered(overlay)
    sts = find(objs, "StatefulSet", "kvtier-evictor")
    spec = sts["spec"]
    # Shares are independent; ordered start let one failing pod block the rest.
    assert spec["podManagementPolicy"] == "Parallel"
    svc = find(objs, "Service", spec["serviceName"])
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"] == spec["selector"]["matchLabels"]
    pod = spec["template"]["spec"]
    root = next(a for a in pod["containers"][0]["args"] if a.startswith("/"))
    (init,) = pod["initContainers"]
    assert init["command"] == ["mkdir", "-p", "-m", "2775", root]
    assert {m["name"] for m in init["volumeMounts"]} == {"kv-cache"}
    # Another user in vLLM's group, and vLLM's tier makes group-writable
    # directories in that root (tests/python/test_group_evictor.py shows
    # such an evictor deleting another user's chunks).
    vllm = find(objs, "Deployment", "vllm")["spec"]["template"]["spec"]
    ev_sc, vl_sc = pod["securityContext"], vllm["securityContext"]
    assert ev_sc["runAsGroup"] == vl_sc["runAsGroup"]
    assert ev_sc["runAsUser"] != vl_sc["runAsUser"]
    (c,) = vllm["containers"]
    (tier,) = json.loads(args_of(c)["--kv-transfer-config"])["kv_connector_extra_config"][
        "secondary_tiers"
    ]
    assert tier["dir_mode"] == "2775" and tier["root_dir"] == root


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_meets_pod_security_restricted(overlay):
    spec = importlib.util.spec_from_file_location("psa_check", REPO / "tools/psa_check.py")
    psa = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(psa)
    objs = rendered(overlay) + docs("sglang-deployment.yaml")
    pods = [p for o in objs for p in psa.pod_templates(o)]
    assert {n for n, _, _ in pods} >= {"Deployment/vllm", "StatefulSet/kvtier-evictor"}
    for name, pod, notes in pods:
        assert psa.check_pod(pod, notes, "restricted", read_only=True) == [], name
        assert pod["automountServiceAccountToken"] is False, name
    ns = find(objs, "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for sa in (o for o in objs if o["kind"] == "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_engine_pods_are_guaranteed_qos_with_probes(overlay):
    # /dev/shm and the CPU tier are memory charged to the pod; BestEffort
    # pods are evicted first under node memory pressure.
    objs = rendered(overlay) + docs("sglang-deployment.yaml")
    for dep in (o for o in objs if o["kind"] == "Deployment"):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            res = c["resources"]
            assert res["requests"] == res["limits"], dep["metadata"]["name"]
            assert {"cpu", "memory"} <= set(res["requests"])
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert c[probe]["httpGet"]["path"] == "/health", probe
            assert any(e["name"] == "HF_TOKEN" for e in c["env"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_selectors_reach_the_pods(overlay):
    objs = rendered(overlay)
    pods = {
        o["metadata"]["name"]: o["spec"]["template"]
        for o in objs
        if o["kind"] in ("Deployment", "StatefulSet")
    }

    def selected(sel: dict) -> set[str]:
        out = set()
        for name, tmpl in pods.items():
            labels = tmpl["metadata"]["labels"]
            ok = all(labels.get(k) == v for k, v in (sel.get("matchLabels") or {}).items())
            for e in sel.get("matchExpressions") or []:
                ok = ok and labels.get(e["key"]) in e["values"]
            if ok:
                out.add(name)
        return out

    ports = {
        n: {p["name"] for c in t["spec"]["containers"] for p in c.get("ports", [])}
        for n, t in pods.items()
    }
    svc = find(objs, "Service", "vllm")["spec"]
    assert selected({"matchLabels": svc["selector"]}) == {"vllm"}
    assert {p["targetPort"] for p in svc["ports"]} <= ports["vllm"]
    assert selected(find(objs, "PodDisruptionBudget", "vllm")["spec"]["selector"]) == {"vllm"}
    pdb = find(objs, "PodDisruptionBudget", "kvtier-evictor")["spec"]["selector"]
    assert selected(pdb) == {"kvtier-evictor"}
    netpol = find(objs, "NetworkPolicy", "kvtier-evictor")["spec"]
    assert selected(netpol["podSelector"]) == {"kvtier-evictor"}
    assert netpol["egress"] == [] and set(netpol["policyTypes"]) == {"Ingress", "Egress"}
    pm = find(objs, "PodMonitoring", "kvtier")["spec"]
    assert selected(pm["selector"]) == {"vllm", "kvtier-evictor"}
    assert {e["port"] for e in pm["endpoints"]} == ports["vllm"] | ports["kvtier-evictor"]
    assert "pod" in pm["targetLabels"]["metadata"]  # the alerts match on it
    for sts in (o for o in objs if o["kind"] == "StatefulSet"):
        for c in sts["spec"]["template"]["spec"]["containers"]:
            assert c["livenessProbe"]["httpGet"]["port"] in ports[sts["metadata"]["name"]]


def test_prometheus_operator_component_is_selected_by_kube_prometheus_stack():
    comp = K8S / "components/prometheus-operator"
    objs = [d for f in comp.glob("*.yaml") for d in yaml.safe_load_all(f.read_text()) if d]
    for o in objs:
        if o["kind"] in ("PodMonitor", "PrometheusRule"):
            assert o["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (pm,) = [o for o in objs if o["kind"] == "PodMonitor"]
    sel = pm["spec"]["selector"]["matchExpressions"][0]["values"]
    assert {"vllm", "kvtier-evictor"} <= set(sel)


def test_alerts_and_dashboard_name_exported_metrics():
    pytest.importorskip("vllm")
    from kvtier.vllm import _COUNTERS, _GAUGES, _LABELLED

    exported = {n + "_total" for n, _ in _COUNTERS.values()}
    exported |= {n + "_total" for n, _, _ in _LABELLED.values()}
    exported |= {n for n, _ in _GAUGES.values()}
    evictor_names = set()
    for f in (REPO / "src/evictor").glob("*.cc"):
        evictor_names |= {"kvtier_evictor_" + m for m in re.findall(r'"([a-z_]+)"', f.read_text())}
    text = (K8S / "components/prometheus-operator/prometheusrule.yaml").read_text()
    text += (K8S / "components/google-managed-prometheus/rules.yaml").read_text()
    text += json.dumps(json.loads((DEPLOY / "grafana-dashboard.json").read_text()))
    for name in set(re.findall(r"(vllm:kvtier_[a-z_]+)", text)):
        assert name in exported, name
    # vLLM's own tiering metrics (the dashboard's read / written panel).
    from vllm.v1.kv_offload.tiering import base

    src = Path(base.__file__).read_text()
    tiering = set(re.findall(r'"(vllm:kv_offload_tiering_[a-z_]+)"', src))
    offload = set(re.findall(r"(vllm:kv_offload_tiering_[a-z_]+)_total", text))
    assert {"vllm:kv_offload_tiering_read_bytes", "vllm:kv_offload_tiering_write_bytes"} <= offload
    assert offload <= tiering, offload - tiering
    for name in set(re.findall(r"(kvtier_evictor_[a-z_]+)", text)):
        assert name in evictor_names, name
