"""The deployment manifests are consistent with the code they deploy."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
EVICTOR = os.environ.get("KVTIER_EVICTOR", "build/release/src/evictor/kvtier-evictor")


def docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()) if d]


def rendered() -> list[dict]:
    """The kustomization as `kubectl kustomize` renders it, plus SGLang's pod."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed")
    out = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / "kubernetes")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d] + docs("sglang-deployment.yaml")


def find(objs: list[dict], kind: str, name: str) -> dict:
    (obj,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


def test_vllm_config_uses_the_tier_with_known_options():
    pytest.importorskip("vllm")
    from kvtier.vllm import TIER_OPTIONS

    (dep,) = docs("vllm-deployment.yaml")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    cfg = json.loads(args[args.index("--kv-transfer-config") + 1])
    extra = cfg["kv_connector_extra_config"]
    assert extra["spec_name"] == "TieringOffloadingSpec"
    (tier,) = extra["secondary_tiers"]
    assert tier["type"] == "KvtierTier" and tier["module_path"] == "kvtier.vllm"
    options = set(tier) - {"type", "module_path"}
    assert options <= set(TIER_OPTIONS), options - set(TIER_OPTIONS)


def test_evictor_args_are_accepted_by_the_real_evictor(tmp_path):
    if not os.access(EVICTOR, os.X_OK):
        pytest.skip(f"evictor not built at {EVICTOR}")
    sts = find(rendered(), "StatefulSet", "kvtier-evictor")
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
    raw = (DEPLOY / "kubernetes/evictor-statefulset.yaml").read_text()
    assert re.findall(r"--replicas=(\S+)", raw) == ["REPLACED_FROM_SPEC_REPLICAS"]


def test_evictor_statefulset_starts_on_a_fresh_volume():
    objs = rendered()
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
    assert init["command"] == ["mkdir", "-p", root]
    assert {m["name"] for m in init["volumeMounts"]} == {"kv-cache"}


def pod_specs(objs: list[dict]) -> list[tuple[str, dict]]:
    return [
        (o["metadata"]["name"], o["spec"]["template"]["spec"])
        for o in objs
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")
    ]


def test_every_pod_meets_pod_security_restricted():
    pods = pod_specs(rendered())
    assert {n for n, _ in pods} >= {"vllm-llama-70b", "kvtier-evictor", "sglang-llama-70b"}
    for name, pod in pods:
        psc = pod.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True, name
        assert psc.get("runAsUser", 1) != 0, name
        assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert not any("hostPath" in v for v in pod.get("volumes", [])), name
        for c in pod.get("initContainers", []) + pod["containers"]:
            csc = c.get("securityContext", {})
            where = f"{name}/{c['name']}"
            assert csc.get("allowPrivilegeEscalation") is False, where
            assert csc.get("readOnlyRootFilesystem") is True, where
            assert csc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not csc.get("capabilities", {}).get("add"), where
            assert not csc.get("privileged", False), where


def test_engine_pods_are_guaranteed_qos():
    # /dev/shm and the CPU tier are memory charged to the pod; BestEffort
    # pods are evicted first under node memory pressure.
    for name, pod in pod_specs(rendered()):
        if name == "kvtier-evictor":
            continue
        for c in pod["containers"]:
            res = c["resources"]
            assert res["requests"] == res["limits"], name
            assert {"cpu", "memory"} <= set(res["requests"]), name


def test_alerts_and_dashboard_name_exported_metrics():
    pytest.importorskip("vllm")
    from kvtier.vllm import _COUNTERS, _GAUGES, _LABELLED

    exported = {n + "_total" for n, _ in _COUNTERS.values()}
    exported |= {n + "_total" for n, _, _ in _LABELLED.values()}
    exported |= {n for n, _ in _GAUGES.values()}
    evictor_src = (Path(__file__).resolve().parents[2] / "src/evictor").glob("*.cc")
    evictor_names = set()
    for f in evictor_src:
        evictor_names |= {"kvtier_evictor_" + m for m in re.findall(r'"([a-z_]+)"', f.read_text())}
    text = (DEPLOY / "kubernetes/monitoring.yaml").read_text()
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
    docs("monitoring.yaml")  # parses
