#!/usr/bin/env bash
# Runs every fuzz target of a -DQLINEAR_BUILD_FUZZERS=ON build for SECONDS
# each, from its committed seed corpus (tests/fuzz/corpus/<target>/, read
# only: new inputs go to a temporary directory), one after another:
#   tests/fuzz/run_fuzzers.sh BUILD_DIR SECONDS [TARGET...]
# Exits non-zero if any target finds anything (crash, ASan or UBSan report,
# leak, a 10 s input, 2 GB RSS) or is missing; the input that failed is kept
# under $FUZZ_ARTIFACTS (default: a temporary directory, printed).
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
build_dir=$1
seconds=$2
shift 2
src_dir=$(cd "$(dirname "$0")" && pwd)

# target:max_len. The lengths fit the largest valid seed with room to grow
# (a request of the fuzz models' 8 rows, a stream of several, a model file).
targets=(
  native_request_fuzz:4096
  infer_request_fuzz:4096
  forward_stream_fuzz:16384
  manifest_fuzz:4096
  safetensors_fuzz:16384
)
if [[ $# -gt 0 ]]; then
  selected=()
  for want in "$@"; do
    found=
    for t in "${targets[@]}"; do
      [[ ${t%%:*} == "$want" ]] && selected+=("$t") && found=1
    done
    [[ -n $found ]] || { echo "unknown target $want" >&2; exit 2; }
  done
  targets=("${selected[@]}")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/qlinear-fuzz.XXXXXX")
artifacts=${FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

failed=()
for t in "${targets[@]}"; do
  name=${t%%:*}
  max_len=${t##*:}
  binary=$build_dir/tests/fuzz/$name
  corpus=$src_dir/corpus/$name
  if [[ ! -x $binary ]]; then
    echo "FAIL $name: $binary not built" >&2
    failed+=("$name")
    continue
  fi
  if [[ ! -d $corpus ]] || [[ -z $(ls -A "$corpus") ]]; then
    echo "FAIL $name: no seed corpus in $corpus" >&2
    failed+=("$name")
    continue
  fi
  mkdir -p "$work/$name"
  log=$work/$name.log
  echo "== $name: ${seconds} s from $(ls "$corpus" | wc -l) seeds"
  # The first directory receives new inputs; the committed one is only read.
  if "$binary" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$name-" \
      "$work/$name" "$corpus" >"$log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
      "$log" | tr '\n' ' '
    echo
    echo "ok   $name"
  else
    tail -n 60 "$log" >&2
    echo "FAIL $name: see $log; inputs in $artifacts" >&2
    failed+=("$name")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzzers with findings: ${failed[*]}" >&2
  exit 1
fi
rm -rf "$work"
echo "all fuzzers ran ${seconds} s each with no finding"
