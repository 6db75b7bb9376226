#!/usr/bin/env bash
# Installs the pinned npm tools of tests/deploy (package.json and
# package-lock.json: kubernetes-models, js-yaml, dockerfilelint) into CACHE_DIR
# (a directory in the build tree, never committed) and prints the
# node_modules path. Reinstalls only when the lock file changed; concurrent
# callers wait on a lock. Needs the npm registry the first time only.
#
# Usage: tests/deploy/npm_tools.sh CACHE_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:?usage: npm_tools.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

exec 9> "$cache/.lock"
flock 9
if ! cmp -s "$here/package-lock.json" "$cache/installed.lock" || [ ! -d "$cache/node_modules" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$cache/"
  rm -rf "$cache/node_modules"
  (cd "$cache" && npm ci --no-audit --no-fund --loglevel=error > "$cache/npm.log" 2>&1) ||
    { cat "$cache/npm.log" >&2; echo "npm_tools: npm ci failed in $cache" >&2; exit 1; }
  cp "$here/package-lock.json" "$cache/installed.lock"
fi
echo "$cache/node_modules"
