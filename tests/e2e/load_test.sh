#!/usr/bin/env bash
# CI load test: the real qlinear-server on the embedded default model with
# one compute thread (port 0), then a 10-second closed loop of qlinear-bench
# at concurrency 16 that asserts zero errors and realized batch rows > 1
# (concurrent requests really merge into batches). Also checks that a missed
# --assert exits 1 and a usage error exits 2. Bounded: about 20 s.
set -euo pipefail

server_bin=$1
bench_bin=$2
. "$(dirname "$0")/server_lib.sh"

start_server --threads 1

# The load run. Its exit code is the verdict of the assertions.
set +e
"$bench_bin" --target "$target" --concurrency 16 --duration 10s --warmup 1s \
  --assert errors==0 --assert 'batch_rows>1' \
  --csv "$work/load.csv" --json "$work/load.json" > "$work/bench.out" 2>&1
code=$?
set -e
cat "$work/bench.out"
[ "$code" = 0 ] || fail "qlinear-bench exit code $code"
grep -q "assert errors==0: PASS" "$work/bench.out" || fail "no errors==0 verdict"
grep -q "assert batch_rows>1: PASS" "$work/bench.out" || fail "no batch_rows>1 verdict"
head -1 "$work/load.csv" | grep -q "^Concurrency,Inferences/Second,Client Send," || fail "CSV header"
[ "$(wc -l < "$work/load.csv")" = 2 ] || fail "CSV rows"
grep -q '"passed": true' "$work/load.json" || fail "JSON assertions"
grep -q '"source": "timings"' "$work/load.json" || fail "batch rows not from timings"

# A missed threshold exits 1; a bad flag exits 2.
set +e
"$bench_bin" --target "$target" --concurrency 1 --requests 20 --warmup 0s --assert 'max<1ns' > "$work/miss.out" 2>&1
miss=$?
"$bench_bin" --target "$target" --assert 'p99<5' > "$work/usage.out" 2>&1
usage=$?
set -e
[ "$miss" = 1 ] || fail "missed assertion exit code $miss: $(cat "$work/miss.out")"
grep -q "assert max<1ns: FAIL" "$work/miss.out" || fail "no FAIL line: $(cat "$work/miss.out")"
[ "$usage" = 2 ] || fail "usage error exit code $usage: $(cat "$work/usage.out")"
grep -q "a latency needs a unit" "$work/usage.out" || fail "usage message: $(cat "$work/usage.out")"

kill -TERM "$server_pid"
for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server_pid" 2>/dev/null; then fail "server did not stop on SIGTERM"; fi
wait "$server_pid" || fail "server exit status $?"
server_pid=""
echo "1 passed, 0 failed"
