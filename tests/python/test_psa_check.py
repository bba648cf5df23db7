"""tools/psa_check.py rejects a pod for each Pod Security control it breaks."""

from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
TOOL = Path(__file__).resolve().parents[2] / "tools" / "psa_check.py"
spec = importlib.util.spec_from_file_location("psa_check", TOOL)
psa = importlib.util.module_from_spec(spec)
spec.loader.exec_module(psa)

GOOD = {
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "containers": [
        {
            "name": "app",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
            "ports": [{"containerPort": 8000}],
        }
    ],
    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "x"}}],
}


def broken(path: str, value) -> dict:
    pod = copy.deepcopy(GOOD)
    *parents, leaf = path.split(".")
    node = pod
    for p in parents:
        node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
    node[leaf] = value
    return pod


def test_a_compliant_pod_passes():
    assert psa.check_pod(GOOD, {}, "restricted", read_only=True) == []


@pytest.mark.parametrize(
    "path,value,level",
    [
        ("hostNetwork", True, "baseline"),
        ("hostPID", True, "baseline"),
        ("containers.0.securityContext.privileged", True, "baseline"),
        ("containers.0.securityContext.capabilities", {"add": ["SYS_ADMIN"]}, "baseline"),
        ("volumes", [{"name": "h", "hostPath": {"path": "/"}}], "baseline"),
        ("containers.0.ports", [{"containerPort": 80, "hostPort": 80}], "baseline"),
        ("containers.0.securityContext.seLinuxOptions", {"type": "spc_t"}, "baseline"),
        ("containers.0.securityContext.procMount", "Unmasked", "baseline"),
        ("securityContext.seccompProfile", {"type": "Unconfined"}, "baseline"),
        ("securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}], "baseline"),
        ("securityContext.windowsOptions", {"hostProcess": True}, "baseline"),
        ("containers.0.securityContext.appArmorProfile", {"type": "Unconfined"}, "baseline"),
        ("volumes", [{"name": "n", "nfs": {"server": "s", "path": "/"}}], "restricted"),
        ("containers.0.securityContext.allowPrivilegeEscalation", True, "restricted"),
        ("securityContext.runAsNonRoot", False, "restricted"),
        ("containers.0.securityContext.runAsUser", 0, "restricted"),
        ("securityContext.seccompProfile", {}, "restricted"),
        ("containers.0.securityContext.capabilities", {"drop": ["NET_RAW"]}, "restricted"),
        (
            "containers.0.securityContext.capabilities",
            {"drop": ["ALL"], "add": ["CHOWN"]},
            "restricted",
        ),
    ],
)
def test_each_control_rejects_a_pod_that_breaks_it(path, value, level):
    pod = broken(path, value)
    assert psa.check_pod(pod, {}, level, read_only=False), (path, value)
    if level == "restricted":  # allowed by the baseline profile
        assert psa.check_pod(pod, {}, "baseline", read_only=False) == [], path


def test_read_only_root_is_checked_on_request():
    pod = broken("containers.0.securityContext.readOnlyRootFilesystem", False)
    assert psa.check_pod(pod, {}, "restricted", read_only=False) == []
    assert psa.check_pod(pod, {}, "restricted", read_only=True)


def test_init_containers_and_annotations_count():
    pod = copy.deepcopy(GOOD)
    pod["initContainers"] = [{"name": "init", "securityContext": {}}]
    assert any(v.startswith("init:") for v in psa.check_pod(pod, {}, "restricted", False))
    ann = {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}
    assert psa.check_pod(GOOD, ann, "baseline", False)


def test_cli_reads_workload_templates(tmp_path):
    ok = {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": GOOD}}}
    bad = copy.deepcopy(ok)
    bad["spec"]["template"]["spec"]["hostNetwork"] = True
    bad["metadata"]["name"] = "bad"
    f = tmp_path / "m.yaml"
    f.write_text(yaml.safe_dump_all([ok, {"kind": "Service", "metadata": {"name": "s"}}]))
    r = subprocess.run([sys.executable, str(TOOL), str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    f.write_text(yaml.safe_dump_all([ok, bad]))
    r = subprocess.run([sys.executable, str(TOOL), str(f)], capture_output=True, text=True)
    assert r.returncode == 1 and "Deployment/bad: pod: hostNetwork" in r.stdout, r.stdout
