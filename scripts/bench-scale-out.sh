#!/usr/bin/env bash
# The scale-out figures of docs/benchmarks.md, "Scale-out": three
# qlinear-server replicas (--threads 1) on loopback behind one ipv4: target,
# driven by qlinear-bench with round_robin and the retry policy:
#
#   scripts/bench-scale-out.sh OUT_DIR
#
# Runs tests/e2e/scale_out_test.py with long phases (about 3 minutes): the
# spread of 6000 requests, a 60 s closed loop at concurrency 32 with one
# replica SIGTERMed and restarted every 15 s, a 20 s loop with a SIGKILL,
# and the throughput of 1 replica x 1 thread, 2 replicas x 1 thread and
# 1 replica x 2 threads (30 s each). Binaries come from $BUILD_DIR (default:
# build). Writes OUT_DIR/summary.json, OUT_DIR/run.log and
# OUT_DIR/summary.md (the table for the docs, with the CPU and load).
# Run it on an idle machine: the replicas and the generator share the cores.
set -euo pipefail

if [ $# -ne 1 ]; then
  sed -n '2,16p' "$0" >&2
  exit 2
fi
out=$1
mkdir -p "$out"
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-build}
protoc=$(command -v protoc)

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# Other work on the machine skews every figure: sample the compilers running
# (cc1plus) and the 1-minute load every 5 s for the summary.
: > "$out/machine-load.txt"
(while true; do
   echo "$(pgrep -c cc1plus || true) $(cut -d' ' -f1 /proc/loadavg)" >> "$out/machine-load.txt"
   sleep 5
 done) &
sampler_pid=$!
trap 'kill "$sampler_pid" 2>/dev/null || true' EXIT
/usr/bin/python3 "$src/tests/e2e/scale_out_test.py" \
  --server "$build/server/qlinear-server" --bench "$build/clients/bench/qlinear-bench" \
  --cli "$build/clients/cli/qlinear-cli" --protoc "$protoc" --proto-dir "$src/proto" \
  --stubs "$build/tests/scale_out_stubs" \
  --spread-requests 6000 --rolling-seconds 60 --restart-gap 15 --kill-seconds 20 \
  --throughput-seconds 30 --summary "$out/summary.json" 2>&1 | tee "$out/run.log" |
  grep -E '^(spread|rolling|SIGKILL|throughput|ok|FAIL|scale_out)'

kill "$sampler_pid" 2>/dev/null || true
/usr/bin/python3 - "$out/summary.json" "$load_before" "$(git -C "$src" rev-parse --short HEAD)" \
  "$out/machine-load.txt" > "$out/summary.md" <<'PY'
import json, subprocess, sys
s = json.load(open(sys.argv[1]))
samples = [l.split() for l in open(sys.argv[4]) if l.strip()]
compilers = max(int(c) for c, _ in samples) if samples else 0
loads = [float(x) for _, x in samples] or [0.0]
cpu = [l.split(":", 1)[1].strip() for l in subprocess.run(
    ["lscpu"], capture_output=True, text=True).stdout.splitlines()
       if l.startswith("Model name")][0]
print(f"commit {sys.argv[3]}, {cpu}, load average before {sys.argv[2]}; during the run "
      f"(the replicas and the generator included) 1-minute load {min(loads):.2f}-{max(loads):.2f}, "
      f"at most {compilers} compiler(s) running")
sp = s["spread"]
dev = max(abs(c - sp["mean"]) / sp["mean"] for c in sp["counts"]) * 100
print(f"\n| spread: successes per replica | mean | largest deviation |\n|---|---|---|")
print(f"| {', '.join(map(str, sp['counts']))} | {sp['mean']:.0f} | {dev:.1f} % |")
rr = s["rolling_restart"]
lat = rr["latency_seconds"]
print("\n| rolling restart (60 s, concurrency 32) | requests | failed | retried attempts | req/s | p50 | p99 | max | back in service after SIGTERM |")
print("|---|---|---|---|---|---|---|---|---|")
back = ", ".join(f"{x['serving_again_after']:.1f} s" for x in rr["restarts"])
print(f"| 3 replicas, one SIGTERM every 15 s | {rr['requests']} | {rr['errors']} | {rr['retries']} | "
      f"{rr['requests_per_second']:.0f} | {lat['p50']*1e3:.1f} ms | {lat['p99']*1e3:.1f} ms | "
      f"{lat['max']*1e3:.0f} ms | {back} |")
k = s["sigkill"]
print("\n| SIGKILL (20 s, concurrency 32) | requests | client errors | retried attempts | req/s before (3) | req/s in the second after (2 survivors) |")
print("|---|---|---|---|---|---|")
print(f"| one of 3 replicas | {k['requests']} | {k['errors']} {k['codes'] or ''} | {k['retries']} | "
      f"{k['rate_before']:.0f} | {k['survivors_rate_after']:.0f} |")
print("\n| throughput (closed loop, concurrency 32, 30 s) | req/s | p50 | p99 |\n|---|---|---|---|")
for name, t in s["throughput"].items():
    l = t["latency_seconds"]
    print(f"| {name} | {t['requests_per_second']:.1f} | {l['p50']*1e3:.1f} ms | {l['p99']*1e3:.1f} ms |")
PY
cat "$out/summary.md"
