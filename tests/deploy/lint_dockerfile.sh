#!/usr/bin/env bash
# dockerfilelint (npm, offline once cached) over the top-level Dockerfile; its
# exit status is the number of issues. Exits 77 (ctest: skipped) without npm.
#
# Usage: tests/deploy/lint_dockerfile.sh SOURCE_DIR CACHE_DIR
set -euo pipefail
src=$(cd "${1:?usage: lint_dockerfile.sh SOURCE_DIR CACHE_DIR}" && pwd)
cache=${2:?usage: lint_dockerfile.sh SOURCE_DIR CACHE_DIR}
for tool in node npm; do
  command -v "$tool" > /dev/null 2>&1 || { echo "SKIP: $tool is not installed"; exit 77; }
done
modules=$(bash "$src/tests/deploy/npm_tools.sh" "$cache")
"$modules/.bin/dockerfilelint" "$src/Dockerfile"
