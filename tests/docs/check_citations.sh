#!/bin/bash
# The project's contracts live in docs/ (api.md, manifest.md, metrics.md,
# numerics.md, architecture.md, operations.md, benchmarks.md), and code cites
# them there. This check fails when a tracked file cites one of the external
# design notes the repository does not ship (SYSTEM, QUANT_FORMATS, STYLE,
# BENCHMARKS or DEPENDENCIES, each with ".md"; or a bare section sign with a
# section letter, the numbering of those notes), or cites a docs/<name>.md
# that does not exist.
#
# Usage: check_citations.sh [SOURCE_DIR]   (default: the repository root)
set -euo pipefail

root="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$root"

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -d '' files < <(git ls-files -z)
else  # a source tree without .git: every file but build trees
  mapfile -d '' files < <(find . -type f -not -path './build*' -not -path './.git/*' -printf '%P\0')
fi

# Written with [.] and \xc2\xa7 (the section sign) so that this file does not
# match itself.
external="(SYSTEM|QUANT_FORMATS|STYLE|BENCHMARKS|DEPENDENCIES)[.]md|$(printf '\xc2\xa7')[a-f]\\b"

# A docs/ path not preceded by a path character (so ".../foo/docs/x.md" of
# other projects' URLs is not ours).
cited='(^|[^A-Za-z0-9_/.-])docs/[A-Za-z0-9_.-]+[.]md'

failed=0
for f in "${files[@]}"; do
  [[ -f "$f" ]] || continue
  # -I: binary files (images) never match.
  if hits=$(grep -InE "$external" -- "$f"); then
    while IFS= read -r hit; do
      echo "$f:${hit%%:*}: cites an external spec; cite docs/ instead:${hit#*:}" >&2
    done <<<"$hits"
    failed=1
  fi
  while IFS= read -r doc; do
    [[ -z "$doc" ]] && continue
    doc="docs/${doc#*docs/}"
    if [[ ! -f "$doc" ]]; then
      echo "$f: cites $doc, which does not exist" >&2
      failed=1
    fi
  done < <(grep -IoE "$cited" -- "$f" | sort -u || true)
done

if ((failed)); then
  echo "check_citations: FAILED (see above)" >&2
  exit 1
fi
echo "check_citations: ${#files[@]} files, no external spec citations, every cited docs/*.md exists"
