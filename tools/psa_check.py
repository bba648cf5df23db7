#!/usr/bin/env python3
"""Offline check of Kubernetes Pod Security Standards ("baseline" and
"restricted", the current profile version) on every pod template in
manifests.

No offline checker of the standards was found on PyPI or in Debian
(`kubectl` has none, and the admission plugin's evaluator is Go code), so
this script implements the controls as documented in "Pod Security
Standards" (kubernetes.io/docs/concepts/security/pod-security-standards),
one function per control, for Pods and for the pod templates of
Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs.
tests/python/test_psa_check.py shows each control rejecting a pod that
breaks it. `--read-only-root` also requires readOnlyRootFilesystem, which
kvtier's deployment asks of every container although the standard does not.

Usage: psa_check.py [--level restricted|baseline] [--read-only-root] FILE...
Exit status 1 and one line per violation when any pod fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from typing import Any

import yaml

Pod = dict[str, Any]

# Baseline: capabilities a container may add.
BASELINE_CAPS = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
# Restricted: the only volume types allowed.
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def containers(pod: Pod) -> Iterator[tuple[str, dict]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in pod.get(field) or []:
            yield c.get("name", "?"), c


def csc(c: dict) -> dict:
    return c.get("securityContext") or {}


def psc(pod: Pod) -> dict:
    return pod.get("securityContext") or {}


# Each control returns the violations it finds, as strings.
def host_process(pod: Pod) -> list[str]:
    bad = []
    if (psc(pod).get("windowsOptions") or {}).get("hostProcess"):
        bad.append("pod: windowsOptions.hostProcess")
    for n, c in containers(pod):
        if (csc(c).get("windowsOptions") or {}).get("hostProcess"):
            bad.append(f"{n}: windowsOptions.hostProcess")
    return bad


def host_namespaces(pod: Pod) -> list[str]:
    return [f"pod: {f}" for f in ("hostNetwork", "hostPID", "hostIPC") if pod.get(f)]


def privileged(pod: Pod) -> list[str]:
    return [f"{n}: privileged" for n, c in containers(pod) if csc(c).get("privileged")]


def baseline_capabilities(pod: Pod) -> list[str]:
    bad = []
    for n, c in containers(pod):
        added = set((csc(c).get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPS:
            bad.append(f"{n}: adds capabilities {sorted(added - BASELINE_CAPS)}")
    return bad


def host_path(pod: Pod) -> list[str]:
    volumes = pod.get("volumes") or []
    return [f"volume {v.get('name')}: hostPath" for v in volumes if "hostPath" in v]


def host_ports(pod: Pod) -> list[str]:
    bad = []
    for n, c in containers(pod):
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                bad.append(f"{n}: hostPort {p['hostPort']}")
    return bad


def app_armor(pod: Pod, annotations: dict) -> list[str]:
    bad = []
    profiles = [("pod", psc(pod).get("appArmorProfile"))]
    profiles += [(n, csc(c).get("appArmorProfile")) for n, c in containers(pod)]
    for where, prof in profiles:
        if prof and prof.get("type") not in (None, "RuntimeDefault", "Localhost"):
            bad.append(f"{where}: appArmorProfile {prof.get('type')}")
    for key, value in annotations.items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/"):
            if value != "runtime/default" and not value.startswith("localhost/"):
                bad.append(f"annotation {key}={value}")
    return bad


def selinux(pod: Pod) -> list[str]:
    bad = []
    opts = [("pod", psc(pod).get("seLinuxOptions"))]
    opts += [(n, csc(c).get("seLinuxOptions")) for n, c in containers(pod)]
    for where, o in opts:
        if not o:
            continue
        if o.get("type", "") not in SELINUX_TYPES:
            bad.append(f"{where}: seLinuxOptions.type {o['type']}")
        if o.get("user") or o.get("role"):
            bad.append(f"{where}: seLinuxOptions.user/role set")
    return bad


def proc_mount(pod: Pod) -> list[str]:
    return [
        f"{n}: procMount {csc(c)['procMount']}"
        for n, c in containers(pod)
        if csc(c).get("procMount", "Default") != "Default"
    ]


def baseline_seccomp(pod: Pod) -> list[str]:
    bad = []
    if (psc(pod).get("seccompProfile") or {}).get("type") == "Unconfined":
        bad.append("pod: seccompProfile Unconfined")
    for n, c in containers(pod):
        if (csc(c).get("seccompProfile") or {}).get("type") == "Unconfined":
            bad.append(f"{n}: seccompProfile Unconfined")
    return bad


def sysctls(pod: Pod) -> list[str]:
    return [
        f"pod: sysctl {s.get('name')}"
        for s in psc(pod).get("sysctls") or []
        if s.get("name") not in SAFE_SYSCTLS
    ]


def volume_types(pod: Pod) -> list[str]:
    bad = []
    for v in pod.get("volumes") or []:
        kinds = set(v) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            bad.append(f"volume {v.get('name')}: type {sorted(kinds - RESTRICTED_VOLUMES)}")
    return bad


def privilege_escalation(pod: Pod) -> list[str]:
    return [
        f"{n}: allowPrivilegeEscalation is not false"
        for n, c in containers(pod)
        if csc(c).get("allowPrivilegeEscalation") is not False
    ]


def run_as_non_root(pod: Pod) -> list[str]:
    pod_level = psc(pod).get("runAsNonRoot")
    bad = ["pod: runAsNonRoot false"] if pod_level is False else []
    for n, c in containers(pod):
        value = csc(c).get("runAsNonRoot", pod_level)
        if value is not True:
            bad.append(f"{n}: runAsNonRoot not true (pod or container)")
    return bad


def run_as_user(pod: Pod) -> list[str]:
    bad = ["pod: runAsUser 0"] if psc(pod).get("runAsUser") == 0 else []
    return bad + [f"{n}: runAsUser 0" for n, c in containers(pod) if csc(c).get("runAsUser") == 0]


def restricted_seccomp(pod: Pod) -> list[str]:
    pod_type = (psc(pod).get("seccompProfile") or {}).get("type")
    bad = []
    for n, c in containers(pod):
        t = (csc(c).get("seccompProfile") or {}).get("type", pod_type)
        if t not in ("RuntimeDefault", "Localhost"):
            bad.append(f"{n}: seccompProfile {t} (RuntimeDefault or Localhost required)")
    return bad


def restricted_capabilities(pod: Pod) -> list[str]:
    bad = []
    for n, c in containers(pod):
        caps = csc(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            bad.append(f"{n}: capabilities.drop lacks ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            bad.append(f"{n}: adds capabilities beyond NET_BIND_SERVICE")
    return bad


def read_only_root(pod: Pod) -> list[str]:
    return [
        f"{n}: readOnlyRootFilesystem is not true"
        for n, c in containers(pod)
        if csc(c).get("readOnlyRootFilesystem") is not True
    ]


BASELINE: list[Callable[[Pod], list[str]]] = [
    host_process, host_namespaces, privileged, baseline_capabilities, host_path,
    host_ports, selinux, proc_mount, baseline_seccomp, sysctls,
]  # fmt: skip
RESTRICTED = BASELINE + [
    volume_types, privilege_escalation, run_as_non_root, run_as_user,
    restricted_seccomp, restricted_capabilities,
]  # fmt: skip


def pod_templates(doc: dict) -> Iterator[tuple[str, Pod, dict]]:
    """(name, pod spec, pod annotations) of a Pod or a workload's template."""
    kind, meta = doc.get("kind"), doc.get("metadata") or {}
    name = f"{kind}/{meta.get('name', '?')}"
    if kind == "Pod":
        yield name, doc.get("spec") or {}, meta.get("annotations") or {}
    elif kind in TEMPLATE_KINDS or kind == "CronJob":
        spec = doc.get("spec") or {}
        if kind == "CronJob":
            spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        tmpl = spec.get("template") or {}
        annotations = (tmpl.get("metadata") or {}).get("annotations") or {}
        yield name, tmpl.get("spec") or {}, annotations


def check_pod(pod: Pod, annotations: dict, level: str, read_only: bool) -> list[str]:
    controls = RESTRICTED if level == "restricted" else BASELINE
    bad = [v for control in controls for v in control(pod)]
    bad += app_armor(pod, annotations)
    if read_only:
        bad += read_only_root(pod)
    return bad


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--level", choices=["restricted", "baseline"], default="restricted")
    ap.add_argument("--read-only-root", action="store_true")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)
    failures = checked = 0
    for path in args.files:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                for name, pod, annotations in pod_templates(doc or {}):
                    checked += 1
                    for v in check_pod(pod, annotations, args.level, args.read_only_root):
                        print(f"{path}: {name}: {v}")
                        failures += 1
    if checked == 0:
        print("no pods found", file=sys.stderr)
        return 1
    print(f"{checked} pod templates checked against Pod Security {args.level!r}: "
          f"{failures} violations")  # fmt: skip
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
