#!/usr/bin/env bash
# The sanitizer job of CI (docs/operations.md "Sanitizer builds"):
#   asan  clang Debug tree build-asan with ASan + UBSan (-fno-sanitize-recover)
#         and -Wthread-safety -Werror over everything (fuzzers included);
#         runs the unit and integration suites (ctest -L sanitize), then the
#         fuzzers for 60 s each if tests/fuzz/run_fuzzers.sh exists.
#   tsan  clang Debug tree build-tsan with TSan; builds only the concurrency
#         suites (target qlinear_tsan_tests: thread pool, batcher, serving,
#         model lifecycle, each linked with tests/testing/tsan_sync_shim.cc)
#         and runs them (ctest -L tsan).
# Usage: scripts/ci-sanitize.sh [asan|tsan|all]   (default all)
# Env: JOBS (default nproc); QLINEAR_BUILD_LOCK, a file to flock around each
# build, for machines where several people build at once.
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
JOBS="${JOBS:-$(nproc)}"
CXX_COMPILER="${CXX_COMPILER:-clang++-14}"

launcher=()
if command -v ccache > /dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
# -O1: asserts and QL_DCHECK stay on (Debug, no NDEBUG), but the kernel sweeps
# run several times faster than at -O0 under ASan.
common=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g -O1"
        "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "${launcher[@]}")

build() {
  if [ -n "${QLINEAR_BUILD_LOCK:-}" ]; then
    flock "${QLINEAR_BUILD_LOCK}" cmake --build "$@" -j "${JOBS}"
  else
    cmake --build "$@" -j "${JOBS}"
  fi
}

step() { echo "ci-sanitize: $* ($(date -u +%T))"; }

symbolizer="$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)"
export ASAN_SYMBOLIZER_PATH="${symbolizer}" TSAN_SYMBOLIZER_PATH="${symbolizer}"
# Any report fails its test: ASan and UBSan abort (-fno-sanitize-recover),
# TSan exits non-zero (halt_on_error) at the first race.
# ignore_noninstrumented_modules: the memory accesses that intercepted calls
# (memcpy, malloc/free, sendmsg) make from inside Debian's uninstrumented
# gRPC and Abseil are not checked, since TSan cannot see the atomics those
# libraries synchronize with; every access of our code still is
# (docs/operations.md "Sanitizer builds"). tests/testing/tsan.supp names the
# reports about gRPC's own objects that only libgrpc orders.
export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=${PWD}/tests/testing/tsan.supp"

run_asan() {
  step "asan: configure and build build-asan"
  cmake -S . -B build-asan "${common[@]}" -DQLINEAR_SANITIZE=address,undefined \
        -DQLINEAR_BUILD_FUZZERS=ON > /dev/null
  build build-asan
  step "asan: ctest -L sanitize"
  ctest --test-dir build-asan -L sanitize --output-on-failure -j "${JOBS}"
  if [ -f tests/fuzz/run_fuzzers.sh ]; then
    step "asan: fuzzers, 60 s each"
    bash tests/fuzz/run_fuzzers.sh build-asan 60
  fi
}

run_tsan() {
  step "tsan: configure and build build-tsan (qlinear_tsan_tests)"
  cmake -S . -B build-tsan "${common[@]}" -DQLINEAR_SANITIZE=thread > /dev/null
  build build-tsan --target qlinear_tsan_tests
  step "tsan: ctest -L tsan"
  ctest --test-dir build-tsan -L tsan --output-on-failure -j "${JOBS}"
}

case "${what}" in
  asan) run_asan ;;
  tsan) run_tsan ;;
  all) run_asan; run_tsan ;;
  *) echo "usage: $0 [asan|tsan|all]" >&2; exit 2 ;;
esac
step "done"
