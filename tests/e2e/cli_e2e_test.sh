#!/usr/bin/env bash
# End-to-end test of the real binaries over loopback: qlinear-server on the
# embedded default model (port 0), then every qlinear-cli command, then a
# SIGTERM shutdown; then a second server on a small repository model with an
# admin token, for load/unload. Bounded in time; needs no network beyond
# 127.0.0.1.
set -euo pipefail

server_bin=$1
cli_bin=$2
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/server_lib.sh"

# stop_server: SIGTERM, then expects a clean exit.
stop_server() {
  kill -TERM "$server_pid"
  for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server_pid" 2>/dev/null; then fail "server did not stop on SIGTERM"; fi
  wait "$server_pid" || fail "server exit status $?"
  server_pid=""
  grep -q "stopped" "$work/server.log" || fail "no clean stop in the log"
}

# A SIGTERM while the models load (the default model takes about a second)
# exits at once: nothing is served yet, so there is nothing to drain.
"$server_bin" --host 127.0.0.1 --port 0 --metrics-port 0 > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 500); do
  grep -q "event=loading_models" "$work/server.log" && break
  sleep 0.02
done
kill -TERM "$server_pid"
wait "$server_pid" || fail "start-up SIGTERM: exit status $?"
server_pid=""
grep -q "received SIGTERM during start-up: exiting" "$work/server.log" || fail "start-up SIGTERM not taken at once"
if grep -q "listening on" "$work/server.log"; then fail "start-up SIGTERM handled only after the load"; fi

start_server
grep -q "event=model_loaded model=default version=1 layers=4" "$work/server.log" || fail "no load log line"

[ "$("$cli_bin" --target "$target" health)" = "SERVING" ] || fail "health"
"$cli_bin" --target "$target" list | grep -q "default" || fail "list"
describe=$("$cli_bin" --target "$target" describe default)
grep -q "fc4 .*4096 .*1024 int4_opaque" <<< "$describe" || fail "describe: $describe"

out=$("$cli_bin" --target "$target" forward --model default --rows 2 --json)
grep -q '"output_shape": \[2, 1024\]' <<< "$out" || fail "forward shape: $out"
out=$("$cli_bin" --target "$target" forward --rows 1 --act-quant int8_asym_per_token --json)
grep -q '"output_shape": \[1, 1024\]' <<< "$out" || fail "forward int8: $out"
out=$("$cli_bin" --target "$target" matmul --model default --layer fc2 --json)
grep -q '"output_shape": \[1, 4096\]' <<< "$out" || fail "matmul: $out"

# Same seed, same output: the model and the client's random input are deterministic.
a=$("$cli_bin" --target "$target" forward --seed 7 --json | grep -o '"first_values": \[[^]]*\]')
b=$("$cli_bin" --target "$target" forward --seed 7 --json | grep -o '"first_values": \[[^]]*\]')
[ -n "$a" ] && [ "$a" = "$b" ] || fail "forward is not deterministic: $a vs $b"

# Errors come back with their status and a non-zero exit.
if err=$("$cli_bin" --target "$target" forward --model nope 2>&1); then fail "unknown model succeeded"; fi
grep -q "NOT_FOUND" <<< "$err" || fail "unknown model: $err"
if err=$("$cli_bin" --target "$target" matmul --layer fc9 2>&1); then fail "unknown layer succeeded"; fi
grep -q "has no layer 'fc9'" <<< "$err" || fail "unknown layer: $err"

# health of a named service; models (alias of list) with --json.
[ "$("$cli_bin" --target "$target" health --service "")" = "SERVING" ] || fail "health of the server"
"$cli_bin" --target "$target" models | grep -q "^default .*yes" || fail "models"
"$cli_bin" --target "$target" models --json | grep -q '"name":"default"' || fail "models --json"

# describe: shapes, formats, packed and held bytes and the kernel of each mode.
grep -q "PACKED_BYTES HELD_BYTES KERNEL_NONE .*KERNEL_INT8" <<< "$describe" || fail "describe header: $describe"
grep -q "23646208 packed bytes, [0-9]* bytes held in all" <<< "$describe" || fail "describe totals: $describe"
grep -q "fc1 .*w4_f32_gemm_[a-z0-9]* .*w4_dq8_gemm_[a-z0-9]*" <<< "$describe" || fail "describe kernels: $describe"
json=$("$cli_bin" --target "$target" describe default --json)
grep -q '"kernel_int8_asym_per_token":"w4_dq8_gemm_' <<< "$json" || fail "describe --json: $json"

# --timings: the server's queue, batch rows and per-layer kernels.
out=$("$cli_bin" --target "$target" forward --rows 3 --timings)
grep -q "batch rows 3" <<< "$out" || fail "forward --timings: $out"
grep -q "fc4 .*w4_f32_gemm" <<< "$out" || fail "forward --timings layers: $out"
out=$("$cli_bin" --target "$target" forward --timings --json)
grep -q '"timings": {"total_seconds": ' <<< "$out" || fail "forward --timings --json: $out"

# --act-quant-quality: the server's int8-vs-none comparison, one entry per
# quantized layer (all 4 of the default model), finite SQNRs in a sane range.
# check_quality JSON LAYERS... checks the JSON output's entries.
check_quality() {
  /usr/bin/python3 - "$@" <<'PY' || fail "act_quant_quality: $1"
import json, math, sys
out = json.loads(sys.argv[1])
quality = out["act_quant_quality"]
assert [q["layer"] for q in quality] == sys.argv[2:], quality
rows = out["output_shape"][0]
for q in quality:
    assert q["sqnr_db"] is not None and 15 < q["sqnr_db"] < 100, q
    assert 0 < q["rel_max_error"] < 0.5, q
    assert 1 <= q["outlier_ratio"] < 100, q
    assert len(q["row_sqnr_db"]) == rows, q
    assert all(r is not None and 10 < r < 100 for r in q["row_sqnr_db"]), q
PY
}
out=$("$cli_bin" --target "$target" forward --rows 3 --act-quant int8_asym_per_token --act-quant-quality --json)
check_quality "$out" fc1 fc2 fc3 fc4
# A none-mode request is compared too, on its own (none) layer inputs.
out=$("$cli_bin" --target "$target" forward --rows 2 --act-quant none --act-quant-quality --json)
check_quality "$out" fc1 fc2 fc3 fc4
out=$("$cli_bin" --target "$target" matmul --layer fc2 --act-quant-quality --json)
check_quality "$out" fc2
out=$("$cli_bin" --target "$target" forward --layer-start 1 --layer-end 3 --act-quant-quality --json)
check_quality "$out" fc2 fc3
# Text: a header and one "  LAYER sqnr_db X rel_max_error X outlier_ratio X
# min_row_sqnr_db X" line per layer.
out=$("$cli_bin" --target "$target" forward --rows 2 --act-quant-quality)
grep -q "^act_quant_quality: int8_asym_per_token vs none, quantized layers 4$" <<< "$out" || fail "quality text header: $out"
n=$(echo "$out" | awk '$1 ~ /^fc[1-4]$/ && $2 == "sqnr_db" && $3 > 15 && $3 < 100 && $4 == "rel_max_error" &&
                       $6 == "outlier_ratio" && $8 == "min_row_sqnr_db" && $9 > 10 && $9 <= $3 { n++ } END { print n + 0 }')
[ "$n" = 4 ] || fail "quality text lines ($n): $out"
# Not asked: none.
out=$("$cli_bin" --target "$target" forward --rows 2 --act-quant int8_asym_per_token --json)
if echo "$out" | grep -q "act_quant_quality"; then fail "quality without the flag: $out"; fi
out=$("$cli_bin" --target "$target" forward --rows 2)
if echo "$out" | grep -q "act_quant_quality\|sqnr"; then fail "quality text without the flag: $out"; fi

# .npy input and output: save an output [2, 1024] as .npy and feed it back
# (K = 1024), through forward and through KServe infer: same result.
"$cli_bin" --target "$target" forward --rows 2 --output "$work/x.npy" --json > /dev/null || fail "forward --output"
head -c 6 "$work/x.npy" | grep -q "NUMPY" || fail "--output is not a .npy file"
a=$("$cli_bin" --target "$target" forward --input "$work/x.npy" --json)
grep -q '"output_shape": \[2, 1024\]' <<< "$a" || fail "forward --input .npy: $a"
b=$("$cli_bin" --target "$target" infer --input "$work/x.npy" --json)
[ "$(echo "$a" | grep -o '"first_values": \[[^]]*\]')" = "$(echo "$b" | grep -o '"first_values": \[[^]]*\]')" ] ||
  fail "infer and forward differ: $a vs $b"
# A float16 .npy [1, 1024] of 0.5 converts to the model's fp32.
/usr/bin/python3 - "$work/h.npy" <<'PY'
import struct, sys
header = "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 1024), }"
header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.write(struct.pack("<H", 0x3800) * 1024)
PY
out=$("$cli_bin" --target "$target" matmul --layer fc1 --input "$work/h.npy" --act-quant int8_asym_per_token --json)
grep -q '"output_shape": \[1, 4096\]' <<< "$out" || fail "matmul --input fp16 .npy: $out"
if err=$("$cli_bin" --target "$target" forward --input "$work/h.npy" --layer-start 1 2>&1); then fail "wrong K accepted"; fi
grep -q "the model needs K = 4096" <<< "$err" || fail "wrong K: $err"
# Raw input: 1024 little-endian fp32 zeros.
head -c 4096 /dev/zero > "$work/x.raw"
"$cli_bin" --target "$target" forward --input "$work/x.raw" --json | grep -q '"output_shape": \[1, 1024\]' || fail "raw input"

# infer (KServe v2 ModelInfer): random, act_quant and a layer range.
out=$("$cli_bin" --target "$target" infer --rows 2 --act-quant int8_asym_per_token --json)
grep -q '"output_shape": \[2, 1024\]' <<< "$out" || fail "infer: $out"
out=$("$cli_bin" --target "$target" infer --layer-start 1 --layer-end 2 --json)
grep -q '"output_shape": \[1, 4096\]' <<< "$out" || fail "infer layer range: $out"
if err=$("$cli_bin" --target "$target" infer --model nope 2>&1); then fail "infer unknown model succeeded"; fi
grep -q "^error: NOT_FOUND: " <<< "$err" || fail "infer unknown model: $err"

# load/unload without a repository: the server's status comes back.
if err=$("$cli_bin" --target "$target" load default 2>&1); then fail "load without a repository succeeded"; fi
grep -q "^error: FAILED_PRECONDITION: " <<< "$err" || fail "load without a repository: $err"
if "$cli_bin" --target "$target" bogus > /dev/null 2>&1; then fail "unknown command accepted"; fi
set +e; "$cli_bin" --target "$target" describe > /dev/null 2>&1; code=$?; set -e
[ "$code" = 2 ] || fail "usage error exit code $code"

stop_server

# A repository with a small model and an admin token: load and unload.
/usr/bin/python3 "$source_dir/scripts/make-test-model.py" "$work/repo/tiny/1" --layers 256x256
/usr/bin/python3 "$source_dir/scripts/make-test-model.py" "$work/repo/flat/1" --layers 64x32 --format fp32
printf 's3cret-token\r\n' > "$work/token"  # CRLF: the \r is stripped
start_server --model-repository "$work/repo" --admin-token-file "$work/token"
"$cli_bin" --target "$target" forward --model tiny --json | grep -q '"output_shape": \[1, 256\]' || fail "tiny forward"
# An fp32 layer ignores the activation mode: no quality entry.
out=$("$cli_bin" --target "$target" forward --model flat --act-quant-quality --json)
grep -q '"act_quant_quality": \[\]' <<< "$out" || fail "fp32 quality: $out"
out=$("$cli_bin" --target "$target" forward --model flat --act-quant-quality)
grep -q "^act_quant_quality: int8_asym_per_token vs none, quantized layers 0$" <<< "$out" || fail "fp32 quality text: $out"
if err=$("$cli_bin" --target "$target" unload tiny 2>&1); then fail "unload without the token succeeded"; fi
grep -q "^error: UNAUTHENTICATED: " <<< "$err" || fail "unload without the token: $err"
if err=$("$cli_bin" --target "$target" unload tiny --admin-token wrong 2>&1); then fail "unload with a wrong token succeeded"; fi
grep -q "^error: PERMISSION_DENIED: " <<< "$err" || fail "unload with a wrong token: $err"
out=$("$cli_bin" --target "$target" unload tiny --admin-token-file "$work/token") || fail "unload: $out"
[ "$out" = "unloaded tiny" ] || fail "unload output: $out"
# The repository listing needs the token too.
if err=$("$cli_bin" --target "$target" models 2>&1); then fail "models without the token succeeded"; fi
grep -q "^error: UNAUTHENTICATED: " <<< "$err" || fail "models without the token: $err"
"$cli_bin" --target "$target" models --admin-token-file "$work/token" | grep -q "^tiny .*no" || fail "models after unload"
if "$cli_bin" --target "$target" forward --model tiny > /dev/null 2>&1; then fail "forward after unload succeeded"; fi
out=$(QLINEAR_ADMIN_TOKEN=s3cret-token "$cli_bin" --target "$target" load tiny --json) || fail "load: $out"
grep -q '"model":"tiny","version":"1"' <<< "$out" || fail "load --json: $out"
"$cli_bin" --target "$target" forward --model tiny --rows 2 --json | grep -q '"output_shape": \[2, 256\]' || fail "forward after load"
stop_server
echo "1 passed, 0 failed"
