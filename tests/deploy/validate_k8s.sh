#!/usr/bin/env bash
# Offline validation of deploy/ (a ctest, no cluster needed):
#   - yamllint over deploy/ (deploy/.yamllint.yaml);
#   - `kubectl kustomize` renders every overlay in deploy/k8s/overlays;
#   - tests/deploy/k8s_check.js validates every rendered object against the
#     Kubernetes schemas (npm kubernetes-models@4; CRDs structurally) and
#     asserts the kit's invariants; its --self-test proves it catches known-bad
#     edits of the prod render.
# Exits 77 (ctest: skipped) when kubectl or node/npm is missing.
#
# Usage: tests/deploy/validate_k8s.sh SOURCE_DIR CACHE_DIR
set -euo pipefail
src=$(cd "${1:?usage: validate_k8s.sh SOURCE_DIR CACHE_DIR}" && pwd)
cache=${2:?usage: validate_k8s.sh SOURCE_DIR CACHE_DIR}

for tool in kubectl node npm; do
  if ! command -v "$tool" > /dev/null 2>&1; then
    echo "SKIP: $tool is not installed"
    exit 77
  fi
done
command -v yamllint > /dev/null 2>&1 || { echo "FAIL: yamllint missing (scripts/install-deps.sh)" >&2; exit 1; }

modules=$(bash "$src/tests/deploy/npm_tools.sh" "$cache")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

yamllint --strict -c "$src/deploy/.yamllint.yaml" "$src/deploy"
echo "ok: yamllint deploy/"

overlays=0
for dir in "$src"/deploy/k8s/overlays/*/; do
  overlay=$(basename "$dir")
  kubectl kustomize "$dir" > "$work/$overlay.yaml"
  echo "ok: kubectl kustomize overlays/$overlay"
  node "$src/tests/deploy/k8s_check.js" --modules "$modules" --source "$src" \
    --overlay "$overlay" "$work/$overlay.yaml"
  overlays=$((overlays + 1))
done
[ "$overlays" -ge 2 ] || { echo "FAIL: want the dev and prod overlays, found $overlays" >&2; exit 1; }

node "$src/tests/deploy/k8s_check.js" --modules "$modules" --source "$src" \
  --self-test "$work/prod.yaml"
echo "validate_k8s: all checks passed"
