#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests, for CI and developers:
#   bash k8s/validate.sh
# 1. renders every overlay in k8s/overlays with `kubectl kustomize` (or a
#    standalone `kustomize build`) into target/k8s/<overlay>.yaml; a
#    component in k8s/components is checked through an overlay that uses it
#    (k8s/overlays/dev-load for components/load, dev-slo for
#    components/slo), and one that no overlay uses is an error, as it would
#    go unchecked;
# 2. validates every rendered object, and the manifests applied outside the
#    overlays (k8s/cluster/, the dev overlay's token pod), with
#    kubernetes-validate --strict (unknown fields are errors) against the
#    two newest Kubernetes versions it ships and the oldest one the
#    manifests support (1.30: the native preStop sleep action);
# 3. validates the custom resources (the Gateway API's HTTPRoute, Gateway
#    and GatewayClass; the Prometheus Operator's PrometheusRule), which
#    kubernetes-validate has no schema for, against
#    the JSON schemas in k8s/schemas/ (strict too; k8s/schemas/README.md says
#    where they come from), and fails on an object that has a schema in
#    neither;
# 4. runs checkov's Kubernetes checks, skipping only those listed with a
#    reason in k8s/checkov-skips.yaml.
# No cluster and no network are needed once the Python tools are installed;
# they go into a virtualenv under ~/.cache (SHOP_K8S_VENV to change it), and
# only when missing. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VALIDATE_VERSION=1.37.0
CHECKOV_VERSION=3.3.30
# The oldest Kubernetes the manifests are meant for (lifecycle.preStop.sleep
# is on by default from 1.30).
MIN_KUBERNETES_VERSION=1.30.0

venv="${SHOP_K8S_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/shop/k8s-venv}"
out=target/k8s
started=$(date +%s)
step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'k8s/validate.sh: %s\n' "$*" >&2; exit 1; }

step "tools"
have_tools() {
  [[ -x "$venv/bin/kubernetes-validate" && -x "$venv/bin/checkov" ]] &&
    [[ "$("$venv/bin/kubernetes-validate" --version 2>/dev/null)" == *"$KUBERNETES_VALIDATE_VERSION"* ]] &&
    [[ "$("$venv/bin/checkov" --version 2>/dev/null)" == "$CHECKOV_VERSION" ]]
}
if ! have_tools; then
  echo "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and checkov $CHECKOV_VERSION into $venv (about 2 minutes, once)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "checkov==$CHECKOV_VERSION"
  have_tools || fail "the tools in $venv do not report the pinned versions"
fi
if command -v kubectl >/dev/null 2>&1; then
  render() { kubectl kustomize "$1"; }
  echo "renderer: $(kubectl version --client 2>/dev/null | tr '\n' ' ')"
elif command -v kustomize >/dev/null 2>&1; then
  render() { kustomize build "$1"; }
  echo "renderer: kustomize $(kustomize version 2>/dev/null)"
else
  fail "neither kubectl nor kustomize is on PATH: install kubectl (it has kustomize built in)"
fi

step "render"
rm -rf "$out"
mkdir -p "$out"
overlays=()
for dir in k8s/overlays/*/; do
  name=$(basename "$dir")
  render "$dir" >"$out/$name.yaml" || fail "kustomize cannot render $dir"
  printf '%-8s %3d objects -> %s\n' "$name" "$(grep -c '^kind:' "$out/$name.yaml")" "$out/$name.yaml"
  overlays+=("$out/$name.yaml")
done
((${#overlays[@]})) || fail "no overlay found under k8s/overlays"
for dir in k8s/components/*/; do
  [[ -d "$dir" ]] || continue
  name=$(basename "$dir")
  grep -qs -- "- ../../components/$name\$" k8s/overlays/*/kustomization.yaml ||
    fail "no overlay uses the component $dir, so nothing renders and checks it"
done

# Applied by hand, not through an overlay, and checked all the same.
standalone=(k8s/cluster/*.yaml k8s/overlays/dev/tools/token-pod.json)
for file in "${standalone[@]}"; do
  [[ -f $file ]] || fail "$file is missing"
done

step "kubernetes-validate --strict"
schemas=$("$venv/bin/python" -c 'import kubernetes_validate, os; print(os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema"))')
mapfile -t newest < <(ls "$schemas" | sed -n 's/^v\([0-9.]*\)-local-strict$/\1/p' | sort -V | tail -n 2)
((${#newest[@]} == 2)) || fail "kubernetes-validate ships fewer than two schema versions"
versions=("$MIN_KUBERNETES_VERSION" "${newest[@]}")
for version in "${versions[@]}"; do
  # --no-warn: it would only warn about the custom resources it has no
  # schema for; the next step validates those, and fails on any unknown kind.
  "$venv/bin/kubernetes-validate" --strict --quiet --no-warn --kubernetes-version "$version" \
    "${overlays[@]}" "${standalone[@]}" ||
    fail "kubernetes-validate found errors against Kubernetes $version"
  echo "Kubernetes $version: every object is valid"
done

step "custom resources against k8s/schemas"
"$venv/bin/python" - "$schemas/v${newest[1]}-local-strict" "${overlays[@]}" "${standalone[@]}" <<'PY' ||
import json, pathlib, re, sys
import jsonschema, yaml
builtin, files = pathlib.Path(sys.argv[1]), sys.argv[2:]
ours = pathlib.Path("k8s/schemas")
failed, valid = [], {}
for file in files:
    for doc in (d for d in yaml.safe_load_all(open(file)) if d):
        # kubernetes-validate's own file naming: apps/v1 -> apps-v1,
        # networking.k8s.io/v1 -> networking-v1, v1 -> v1.
        api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
        if (builtin / f'{doc["kind"].lower()}-{api}.json').exists():
            continue  # validated by kubernetes-validate above
        group, _, version = doc["apiVersion"].rpartition("/")
        schema = ours / group / f'{doc["kind"].lower()}_{version}.json'
        what = f'{file}: {doc["kind"]} {doc["metadata"]["name"]}'
        if not schema.exists():
            failed.append(f"{what}: no schema, neither in kubernetes-validate nor at {schema}")
            continue
        validator = jsonschema.Draft202012Validator(json.loads(schema.read_text()))
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))
        failed += [f"{what}: {'.'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors]
        if not errors:
            valid[str(schema)] = valid.get(str(schema), 0) + 1
for schema, count in sorted(valid.items()):
    print(f"{count:3d} valid against {schema}")
if failed:
    sys.exit("\n".join(failed))
PY
  fail "custom resources without a schema or not matching it (k8s/schemas/README.md)"

step "checkov"
skips=$("$venv/bin/python" - k8s/checkov-skips.yaml <<'PY'
import re, sys, yaml
entries = (yaml.safe_load(open(sys.argv[1])) or {}).get("skips") or []
ids = []
for entry in entries:
    check, reason = entry.get("id", ""), str(entry.get("reason", "")).strip()
    if not re.fullmatch(r"CKV2?_K8S_\d+", check) or len(reason) < 20:
        sys.exit(f"{sys.argv[1]}: every skip needs a check id and a reason: {entry}")
    ids.append(check)
if len(set(ids)) != len(ids):
    sys.exit(f"{sys.argv[1]}: a check is listed twice")
print(",".join(ids))
PY
)
echo "skipped (see k8s/checkov-skips.yaml): ${skips:-none}"
# BC_SKIP_MAPPING and --skip-download keep checkov off the network.
BC_SKIP_MAPPING=TRUE "$venv/bin/checkov" --quiet --compact --skip-download \
  --framework kubernetes ${skips:+--skip-check "$skips"} \
  $(printf -- '--file %s ' "${overlays[@]}" "${standalone[@]}") ||
  fail "checkov found problems (fix them, or skip with a reason in k8s/checkov-skips.yaml)"

step "manifests valid: ${#overlays[@]} overlays, Kubernetes ${versions[*]}, in $(($(date +%s) - started)) s"
