#!/usr/bin/env bash
# Checks deploy/ with the real tools (installed by tools/setup.sh):
# `kubectl kustomize` renders the kustomization, kubernetes-validate --strict
# checks every rendered resource against the Kubernetes schemas (unknown
# fields are errors), promtool checks the alert rules and runs their unit
# tests (deploy/promtool/alerts_test.yaml). Pod Security fields and the
# consistency with the code are checked by tests/python/test_deploy.py.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${KVTIER_PY:-python3}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

kubectl kustomize deploy/kubernetes >"$tmp/rendered.yaml"
"$(dirname "$py")/kubernetes-validate" --strict --quiet \
  "$tmp/rendered.yaml" deploy/kubernetes/sglang-deployment.yaml

# promtool reads plain rule files, not the Operator's PrometheusRule: take
# its spec out of the rendered resources.
"$py" - "$tmp" <<'PY'
import sys, yaml
tmp = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open(f"{tmp}/rendered.yaml")) if d]
(rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
yaml.safe_dump(rule["spec"], open(f"{tmp}/rules-full.yaml", "w"))
# The unit tests check when and with which labels each alert fires; without
# this, promtool would also compare every annotation's text.
for g in rule["spec"]["groups"]:
    for r in g["rules"]:
        r.pop("annotations", None)
yaml.safe_dump(rule["spec"], open(f"{tmp}/rules.yaml", "w"))
PY
promtool check rules "$tmp/rules-full.yaml"
cp deploy/promtool/alerts_test.yaml "$tmp/"
promtool test rules "$tmp/alerts_test.yaml"
echo "deploy: kustomize, kubernetes-validate --strict and promtool clean"
