#!/usr/bin/env python3
"""Offline check of Kubernetes Pod Security Standards ("baseline" and
"restricted", the current profile version) on every pod template in
manifests.

No offline checker of the standards was found on PyPI or in Debian
(`kubectl` has none, and the admission plugin's evaluator is Go code), so
this script implements the controls as documented in "Pod Security
Standards" (kubernetes.io/docs/concepts/security/pod-security-standards),
one row per control in CONTROLS, for Pods and for the pod templates of
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


def csc(o: dict) -> dict:
    """The securityContext of a container or a pod spec ({} when unset)."""
    return o.get("securityContext") or {}


def sc_field(o: dict, name: str) -> dict:
    """An object-valued securityContext field ({} when unset)."""
    return csc(o).get(name) or {}


def when(broken: Any, finding: str) -> list[str]:
    return [finding] if broken else []


def added_caps(c: dict) -> set[str]:
    return set(sc_field(c, "capabilities").get("add") or [])


# Each control looks at one subject (see CONTROLS for which) and returns
# what it breaks. The pod spec comes too: containers inherit from its
# securityContext.
def host_process(o: dict, _pod: Pod) -> list[str]:
    return when(sc_field(o, "windowsOptions").get("hostProcess"), "windowsOptions.hostProcess")


def host_namespaces(pod: Pod, _pod: Pod) -> list[str]:
    return [f"pod: {f}" for f in ("hostNetwork", "hostPID", "hostIPC") if pod.get(f)]


def privileged(c: dict, _pod: Pod) -> list[str]:
    return when(csc(c).get("privileged"), "privileged")


def baseline_capabilities(c: dict, _pod: Pod) -> list[str]:
    extra = added_caps(c) - BASELINE_CAPS
    return when(extra, f"adds capabilities {sorted(extra)}")


def host_path(pod: Pod, _pod: Pod) -> list[str]:
    volumes = pod.get("volumes") or []
    return [f"volume {v.get('name')}: hostPath" for v in volumes if "hostPath" in v]


def host_ports(c: dict, _pod: Pod) -> list[str]:
    return [f"hostPort {p['hostPort']}" for p in c.get("ports") or [] if p.get("hostPort")]


def selinux(o: dict, _pod: Pod) -> list[str]:
    opts = sc_field(o, "seLinuxOptions")
    t = opts.get("type", "")
    bad = when(t not in SELINUX_TYPES, f"seLinuxOptions.type {t}")
    return bad + when(opts.get("user") or opts.get("role"), "seLinuxOptions.user/role set")


def proc_mount(c: dict, _pod: Pod) -> list[str]:
    mount = csc(c).get("procMount", "Default")
    return when(mount != "Default", f"procMount {mount}")


def baseline_seccomp(o: dict, _pod: Pod) -> list[str]:
    unconfined = sc_field(o, "seccompProfile").get("type") == "Unconfined"
    return when(unconfined, "seccompProfile Unconfined")


def sysctls(pod: Pod, _pod: Pod) -> list[str]:
    names = [s.get("name") for s in csc(pod).get("sysctls") or []]
    return [f"pod: sysctl {n}" for n in names if n not in SAFE_SYSCTLS]


def volume_types(pod: Pod, _pod: Pod) -> list[str]:
    bad = []
    for v in pod.get("volumes") or []:
        other = set(v) - {"name"} - RESTRICTED_VOLUMES
        bad += when(other, f"volume {v.get('name')}: type {sorted(other)}")
    return bad


def privilege_escalation(c: dict, _pod: Pod) -> list[str]:
    allowed = csc(c).get("allowPrivilegeEscalation") is not False
    return when(allowed, "allowPrivilegeEscalation is not false")


def pod_run_as_non_root(pod: Pod, _pod: Pod) -> list[str]:
    return when(csc(pod).get("runAsNonRoot") is False, "pod: runAsNonRoot false")


def run_as_non_root(c: dict, pod: Pod) -> list[str]:
    value = csc(c).get("runAsNonRoot", csc(pod).get("runAsNonRoot"))
    return when(value is not True, "runAsNonRoot not true (pod or container)")


def run_as_user(o: dict, _pod: Pod) -> list[str]:
    return when(csc(o).get("runAsUser") == 0, "runAsUser 0")


def restricted_seccomp(c: dict, pod: Pod) -> list[str]:
    t = sc_field(c, "seccompProfile").get("type", sc_field(pod, "seccompProfile").get("type"))
    ok = t in ("RuntimeDefault", "Localhost")
    return when(not ok, f"seccompProfile {t} (RuntimeDefault or Localhost required)")


def restricted_capabilities(c: dict, _pod: Pod) -> list[str]:
    drop = sc_field(c, "capabilities").get("drop") or []
    bad = when("ALL" not in drop, "capabilities.drop lacks ALL")
    beyond = added_caps(c) - {"NET_BIND_SERVICE"}
    return bad + when(beyond, "adds capabilities beyond NET_BIND_SERVICE")


def app_armor_profile(o: dict, _pod: Pod) -> list[str]:
    t = sc_field(o, "appArmorProfile").get("type")
    return when(t not in (None, "RuntimeDefault", "Localhost"), f"appArmorProfile {t}")


def app_armor_annotations(annotations: dict, _pod: Pod) -> list[str]:
    prefix = "container.apparmor.security.beta.kubernetes.io/"
    return [
        f"annotation {key}={value}"
        for key, value in annotations.items()
        if key.startswith(prefix)
        and value != "runtime/default"
        and not value.startswith("localhost/")
    ]


def read_only_root(c: dict, _pod: Pod) -> list[str]:
    writable = csc(c).get("readOnlyRootFilesystem") is not True
    return when(writable, "readOnlyRootFilesystem is not true")


# Every control as (profile, scope, check), findings in this order. The
# scope says what a check is given: "pod" the pod spec and "annotations" the
# pod's annotations (findings as they are), "containers" each container in
# turn (findings prefixed with its name), "both" the pod spec (prefixed
# "pod: ") and then each container. "restricted" adds to "baseline";
# "read-only-root" is checked on request.
Check = Callable[[dict, Pod], list[str]]
CONTROLS: list[tuple[str, str, Check]] = [
    ("baseline", "both", host_process),
    ("baseline", "pod", host_namespaces),
    ("baseline", "containers", privileged),
    ("baseline", "containers", baseline_capabilities),
    ("baseline", "pod", host_path),
    ("baseline", "containers", host_ports),
    ("baseline", "both", selinux),
    ("baseline", "containers", proc_mount),
    ("baseline", "both", baseline_seccomp),
    ("baseline", "pod", sysctls),
    ("restricted", "pod", volume_types),
    ("restricted", "containers", privilege_escalation),
    ("restricted", "pod", pod_run_as_non_root),
    ("restricted", "containers", run_as_non_root),
    ("restricted", "both", run_as_user),
    ("restricted", "containers", restricted_seccomp),
    ("restricted", "containers", restricted_capabilities),
    ("baseline", "both", app_armor_profile),
    ("baseline", "annotations", app_armor_annotations),
    ("read-only-root", "containers", read_only_root),
]


def subjects(scope: str, pod: Pod, annotations: dict) -> Iterator[tuple[str, dict]]:
    """(prefix of its findings, what a check of this scope looks at)."""
    if scope == "pod":
        yield "", pod
    elif scope == "annotations":
        yield "", annotations
    else:
        if scope == "both":
            yield "pod: ", pod
        for field in ("initContainers", "containers", "ephemeralContainers"):
            for c in pod.get(field) or []:
                yield f"{c.get('name', '?')}: ", c


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
    profiles = {"baseline"}
    if level == "restricted":
        profiles.add("restricted")
    if read_only:
        profiles.add("read-only-root")
    return [
        prefix + finding
        for profile, scope, check in CONTROLS
        if profile in profiles
        for prefix, subject in subjects(scope, pod, annotations)
        for finding in check(subject, pod)
    ]


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
