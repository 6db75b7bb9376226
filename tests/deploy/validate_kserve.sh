#!/usr/bin/env bash
# Offline validation of deploy/kserve (a ctest, no cluster needed): every
# manifest against the openAPIV3Schema of KServe's own CRDs (test data in
# CRD_DIR, read in place, never copied), the kit's invariants, and a
# self-test that known-bad edits are rejected (tests/deploy/kserve_check.js).
# yamllint of deploy/kserve is part of deploy_k8s_validate.
# Exits 77 (ctest: skipped) when node/npm or the CRDs are missing.
#
# Usage: tests/deploy/validate_kserve.sh SOURCE_DIR CRD_DIR CACHE_DIR
set -euo pipefail
usage="usage: validate_kserve.sh SOURCE_DIR CRD_DIR CACHE_DIR"
src=$(cd "${1:?$usage}" && pwd)
crds=${2:?$usage}
cache=${3:?$usage}

for tool in node npm; do
  if ! command -v "$tool" > /dev/null 2>&1; then
    echo "SKIP: $tool is not installed"
    exit 77
  fi
done
if [ ! -f "$crds/serving.kserve.io_inferenceservices.yaml" ]; then
  echo "SKIP: no KServe CRDs in $crds"
  exit 77
fi

modules=$(bash "$src/tests/deploy/npm_tools.sh" "$cache")
node "$src/tests/deploy/kserve_check.js" --modules "$modules" --source "$src" --crds "$crds"
node "$src/tests/deploy/kserve_check.js" --modules "$modules" --source "$src" --crds "$crds" --self-test
echo "validate_kserve: all checks passed"
