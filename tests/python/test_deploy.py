"""The deployment manifests are consistent with the code they deploy."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
EVICTOR = os.environ.get("KVTIER_EVICTOR", "build/release/src/evictor/kvtier-evictor")


def docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()) if d]


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
    (sts,) = docs("evictor-statefulset.yaml")
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
    assert sts["spec"]["replicas"] == int(
        next(a for a in container["args"] if a.startswith("--replicas=")).split("=")[1]
    )


def test_alerts_and_dashboard_name_exported_metrics():
    pytest.importorskip("vllm")
    from kvtier.vllm import _COUNTERS, _GAUGES, _VERIFY

    exported = {n + "_total" for n, _ in _COUNTERS.values()} | {_VERIFY[0] + "_total"}
    exported |= {n for n, _ in _GAUGES.values()}
    evictor_src = (Path(__file__).resolve().parents[2] / "src/evictor").glob("*.cc")
    evictor_names = set()
    for f in evictor_src:
        evictor_names |= {"kvtier_evictor_" + m for m in re.findall(r'"([a-z_]+)"', f.read_text())}
    text = (DEPLOY / "kubernetes/monitoring.yaml").read_text()
    text += json.dumps(json.loads((DEPLOY / "grafana-dashboard.json").read_text()))
    for name in set(re.findall(r"(vllm:kvtier_[a-z_]+)", text)):
        assert name in exported, name
    for name in set(re.findall(r"(kvtier_evictor_[a-z_]+)", text)):
        assert name in evictor_names, name
    docs("monitoring.yaml")  # parses
