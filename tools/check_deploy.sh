#!/usr/bin/env bash
# Checks deploy/ with the real tools (installed by tools/setup.sh):
# `kubectl kustomize` renders every overlay (one per model track) and the
# base with the other components (Prometheus Operator, an existing Lustre
# instance); kubernetes-validate --strict checks every rendered resource
# against the Kubernetes schemas (unknown fields are errors; the monitoring
# kinds are CRDs it has no schema for, and are only warned about);
# tools/psa_check.py checks every pod against Pod Security "restricted"
# (plus a read-only root filesystem), and the one-time root preparation Job
# against "baseline"; checkov's matching checks do it a second time; promtool checks the alert rules and runs their unit
# tests (deploy/promtool/alerts_test.yaml) after checking that the
# Prometheus Operator's and Google Managed Prometheus's copies are the same
# rules. Consistency with the code is checked by tests/python/test_deploy.py.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${KVTIER_PY:-python3}"
k8s=deploy/kubernetes
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rendered=()
for overlay in "$k8s"/overlays/*/; do
  name=$(basename "$overlay")
  kubectl kustomize "$overlay" >"$tmp/$name.yaml"
  rendered+=("$tmp/$name.yaml")
done
# kustomize refuses absolute paths to bases: name them relative to $tmp.
rel=$("$py" -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$PWD/$k8s" "$tmp/variant")
mkdir "$tmp/variant"
cat >"$tmp/variant/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [$rel/base]
components: [$rel/components/prometheus-operator, $rel/components/existing-lustre]
EOF
kubectl kustomize "$tmp/variant" >"$tmp/operator-existing-lustre.yaml"
rendered+=("$tmp/operator-existing-lustre.yaml")
echo "rendered: ${rendered[*]##*/}"

# GKE 1.33 is the oldest the Lustre CSI driver runs on; then the newest
# schemas kubernetes-validate has.
for version in 1.33.0 latest; do
  [ "$version" = latest ] && kv=() || kv=(-k "$version")
  "$(dirname "$py")/kubernetes-validate" --strict --quiet "${kv[@]}" \
    "${rendered[@]}" "$k8s/sglang-deployment.yaml" "$k8s/prepare-lustre-root.yaml" 2>&1 |
    { grep -v "Couldn't find schema for kind \(PodMonitoring\|Rules\|PodMonitor\|PrometheusRule\) " || true; }
  test "${PIPESTATUS[0]}" -eq 0
done

"$py" tools/psa_check.py --read-only-root "${rendered[@]}" "$k8s/sglang-deployment.yaml"
"$py" tools/psa_check.py --level baseline --read-only-root "$k8s/prepare-lustre-root.yaml"
# The same pods through checkov's Kubernetes checks that match the Pod
# Security controls (privileged, host namespaces and ports, privilege
# escalation, non-root, capabilities dropped / none added, seccomp, read-only
# root, no service account token where not needed): a second, independent
# implementation beside psa_check.py. Its other checks (image digests, pull
# policy, UIDs above 10000...) are site policy, not Pod Security.
# --skip-download: no Prisma Cloud guideline fetch (it failed with a name
# resolution traceback where there is no network, and the checks need none).
"${KVTIER_CHECKOV:-checkov}" --framework kubernetes --quiet --compact --skip-download \
  --check CKV_K8S_16,CKV_K8S_17,CKV_K8S_18,CKV_K8S_19,CKV_K8S_20,CKV_K8S_22,CKV_K8S_23,CKV_K8S_25,CKV_K8S_26,CKV_K8S_27,CKV_K8S_28,CKV_K8S_29,CKV_K8S_30,CKV_K8S_31,CKV_K8S_37,CKV_K8S_38,CKV_K8S_39 \
  -f "${rendered[@]}" "$k8s/sglang-deployment.yaml"

# promtool reads plain rule files, not the Operator's PrometheusRule or
# GMP's Rules: take their spec out of the rendered resources.
"$py" - "$tmp" "${rendered[@]}" <<'PY'
import sys, yaml
tmp, files = sys.argv[1], sys.argv[2:]
specs = {}
for f in files:
    for d in yaml.safe_load_all(open(f)):
        if d and d["kind"] in ("PrometheusRule", "Rules"):
            specs.setdefault(d["kind"], []).append(d["spec"])
assert set(specs) == {"PrometheusRule", "Rules"}, set(specs)
first = specs["PrometheusRule"][0]
for kind, found in specs.items():
    for spec in found:
        assert spec == first, f"{kind} differs from the PrometheusRule's groups"
yaml.safe_dump(first, open(f"{tmp}/rules-full.yaml", "w"))
# The unit tests check when and with which labels each alert fires; without
# this, promtool would also compare every annotation's text.
for g in first["groups"]:
    for r in g["rules"]:
        r.pop("annotations", None)
yaml.safe_dump(first, open(f"{tmp}/rules.yaml", "w"))
print(f"alert rules: {sum(len(v) for v in specs.values())} copies, identical")
PY
promtool check rules "$tmp/rules-full.yaml"
cp deploy/promtool/alerts_test.yaml "$tmp/"
promtool test rules "$tmp/alerts_test.yaml"
echo "deploy: kustomize (${#rendered[@]} renders), kubernetes-validate --strict, Pod Security (psa_check, checkov) and promtool clean"
