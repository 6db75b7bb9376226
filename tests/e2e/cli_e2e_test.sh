#!/usr/bin/env bash
# End-to-end smoke test of the real binaries over loopback: qlinear-server
# on the embedded default model (port 0), then every qlinear-cli command,
# then a SIGTERM shutdown. Bounded in time; needs no network beyond 127.0.0.1.
set -euo pipefail

server_bin=$1
cli_bin=$2
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; echo "--- server log" >&2; cat "$work/server.log" >&2; exit 1; }

"$server_bin" --host 127.0.0.1 --port 0 > "$work/server.log" 2>&1 &
server_pid=$!

# The server logs its bound port once the model is loaded and it listens.
port=""
for _ in $(seq 1 600); do
  port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/server.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "server exited during start-up"
  sleep 0.1
done
[ -n "$port" ] || fail "server did not report a port within 60 s"
target="127.0.0.1:$port"
grep -q "event=model_loaded model=default version=1 layers=4" "$work/server.log" || fail "no load log line"

[ "$("$cli_bin" --target "$target" health)" = "SERVING" ] || fail "health"
"$cli_bin" --target "$target" list | grep -q "default" || fail "list"
describe=$("$cli_bin" --target "$target" describe default)
echo "$describe" | grep -q "fc4 .*4096 .*1024 int4_opaque" || fail "describe: $describe"

out=$("$cli_bin" --target "$target" forward --model default --rows 2 --json)
echo "$out" | grep -q '"output_shape": \[2, 1024\]' || fail "forward shape: $out"
out=$("$cli_bin" --target "$target" forward --rows 1 --act-quant int8_asym_per_token --json)
echo "$out" | grep -q '"output_shape": \[1, 1024\]' || fail "forward int8: $out"
out=$("$cli_bin" --target "$target" matmul --model default --layer fc2 --json)
echo "$out" | grep -q '"output_shape": \[1, 4096\]' || fail "matmul: $out"

# Same seed, same output: the model and the client's random input are deterministic.
a=$("$cli_bin" --target "$target" forward --seed 7 --json | grep -o '"first_values": \[[^]]*\]')
b=$("$cli_bin" --target "$target" forward --seed 7 --json | grep -o '"first_values": \[[^]]*\]')
[ -n "$a" ] && [ "$a" = "$b" ] || fail "forward is not deterministic: $a vs $b"

# Errors come back with their status and a non-zero exit.
if err=$("$cli_bin" --target "$target" forward --model nope 2>&1); then fail "unknown model succeeded"; fi
echo "$err" | grep -q "NOT_FOUND" || fail "unknown model: $err"
if err=$("$cli_bin" --target "$target" matmul --layer fc9 2>&1); then fail "unknown layer succeeded"; fi
echo "$err" | grep -q "has no layer 'fc9'" || fail "unknown layer: $err"

kill -TERM "$server_pid"
for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server_pid" 2>/dev/null; then fail "server did not stop on SIGTERM"; fi
wait "$server_pid" || fail "server exit status $?"
server_pid=""
grep -q "stopped" "$work/server.log" || fail "no clean stop in the log"
echo "1 passed, 0 failed"
