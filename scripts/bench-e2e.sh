#!/usr/bin/env bash
# The end-to-end (server) benchmarks of docs/benchmarks.md, "End-to-end":
#
#   scripts/bench-e2e.sh OUT_DIR [overhead] [batching] [openloop] [soak] [backlog]
#
# With no section it runs overhead, batching and openloop (about 6 minutes);
# soak adds a 10-minute run ($SOAK) at 80 % of the capacity (or $SOAK_RATE),
# backlog the RSS after three bursts of 2000 queued requests. Each section starts its own
# qlinear-server on 127.0.0.1 (port 0) and drives it with qlinear-bench; the
# server and the generator run on the same machine and share its cores.
# $ACT_QUANT (none or int8_asym_per_token; default: the model's, none) sets
# the activation mode of the batching, openloop and soak requests.
# Binaries come from $BUILD_DIR (default: build). Results (JSON, CSV, PNG,
# logs) go to OUT_DIR, and a summary of the published figures is printed at
# the end (and written to OUT_DIR/summary.md).
set -euo pipefail

if [ $# -lt 1 ]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
out=$1
shift
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(overhead batching openloop)
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD_DIR:-build}
server_bin=$build/server/qlinear-server
bench=$build/clients/bench/qlinear-bench
duration=${DURATION:-10s}
act_quant=(--act-quant "${ACT_QUANT:-default}")
soak=${SOAK:-10m}
mkdir -p "$out"

server_pid=""
sampler_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -TERM "$server_pid"; fi
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

# Other work on the machine skews every figure: sample the compilers running
# (cc1plus) and the load average every 5 s for the summary.
echo "unix_seconds cc1plus loadavg" > "$out/machine-load.txt"
(while true; do
   echo "$(date +%s) $(pgrep -c cc1plus || true) $(cut -d' ' -f1 /proc/loadavg)" >> "$out/machine-load.txt"
   sleep 5
 done) &
sampler_pid=$!

# start_server NAME ARGS...: starts qlinear-server and sets $server_pid and
# $target once it listens (after loading its models).
start_server() {
  local name=$1
  shift
  local extra=()
  # Serve /metrics as in production, on a free port (0 would disable it).
  # (--help exits non-zero: keep pipefail from hiding the match.)
  if { "$server_bin" --help 2>&1 || true; } | grep -q -- "--metrics_port"; then
    extra=(--metrics-port "$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')")
  fi
  "$server_bin" --host 127.0.0.1 --port 0 "${extra[@]}" "$@" > "$out/server-$name.log" 2>&1 &
  server_pid=$!
  local port=""
  for _ in $(seq 1 600); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$out/server-$name.log" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$out/server-$name.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$port" ] || { echo "server did not start" >&2; exit 1; }
  target=127.0.0.1:$port
}

stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=""
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

machine() {
  {
    echo "date: $(date -u +%FT%TZ)"
    echo "commit: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
    echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "kernel: $(uname -r)"
  } > "$out/machine.txt"
}

machine
for section in "${sections[@]}"; do
  case $section in
    overhead)
      # Serving overhead: Forward on a one-layer 256x256 model vs RPCs
      # without compute, at concurrency 1, interleaved three times.
      /usr/bin/python3 "$here/make-test-model.py" "$out/repo/tiny/1" --layers 256x256
      start_server overhead --model-repository "$out/repo"
      for rep in 1 2 3; do
        "$bench" --target "$target" --rpc health --concurrency 1 --duration "$duration" \
          --json "$out/overhead-health-$rep.json"
        "$bench" --target "$target" --rpc list --concurrency 1 --duration "$duration" \
          --json "$out/overhead-list-$rep.json"
        "$bench" --target "$target" --model tiny --concurrency 1 --duration "$duration" \
          --json "$out/overhead-forward-$rep.json"
        "$bench" --target "$target" --model tiny --concurrency 1 --duration "$duration" \
          --noserver_timings --json "$out/overhead-forward-notimings-$rep.json"
        "$bench" --target "$target" --api kserve --model tiny --concurrency 1 \
          --duration "$duration" --json "$out/overhead-infer-$rep.json"
      done
      stop_server
      ;;
    batching)
      # Batching: the default model, M=1, concurrency 1 -> 64.
      start_server batching
      "$bench" --target "$target" "${act_quant[@]}" --concurrency 1,2,4,8,16,32,64 --duration "$duration" \
        --csv "$out/batching.csv" --json "$out/batching.json" --plot "$out/batching.png" \
        --title "default model, M=1, closed loop (server and generator share 2 cores)"
      stop_server
      ;;
    openloop)
      # Open loop: Poisson arrivals at 50/80/95 % of the capacity measured
      # just before (closed loop at concurrency 64).
      start_server openloop
      "$bench" --target "$target" "${act_quant[@]}" --rate-fractions 0.5,0.8,0.95 --capacity-concurrency 64 \
        --poisson --duration "${OPEN_DURATION:-20s}" --csv "$out/openloop.csv" --json "$out/openloop.json" \
        --plot "$out/openloop.png" \
        --title "default model, M=1, Poisson arrivals at 50/80/95% of capacity (shared 2 cores)"
      stop_server
      ;;
    soak)
      # Soak: 80 % of the capacity for $soak; errors and the server's RSS.
      # The capacity is a 30 s closed loop at concurrency 64, unless
      # $SOAK_RATE gives the rate.
      start_server soak
      rate=${SOAK_RATE:-}
      if [ -z "$rate" ]; then
        "$bench" --target "$target" "${act_quant[@]}" --concurrency 64 --duration 30s --json "$out/soak-capacity.json"
        rate=$(/usr/bin/python3 -c 'import json,sys; print("%.1f" % (0.8 * json.load(open(sys.argv[1]))["points"][0]["requests_per_second"]))' "$out/soak-capacity.json")
      fi
      echo "soak: $rate req/s for $soak"
      "$bench" --target "$target" "${act_quant[@]}" --rate "$rate" --poisson --warmup 5s --duration "$soak" \
        --assert errors==0 --json "$out/soak.json" --csv "$out/soak.csv" > "$out/soak.out" 2>&1 &
      bench_pid=$!
      # RSS every 30 s (the first sample after the warmup), with how many
      # compilers were running on the machine at the time.
      sleep 5
      echo "seconds rss_kib cc1plus" > "$out/soak-rss.txt"
      start=$(date +%s)
      while kill -0 "$bench_pid" 2>/dev/null; do
        echo "$(( $(date +%s) - start )) $(rss_kib "$server_pid") $(pgrep -c cc1plus || true)" >> "$out/soak-rss.txt"
        for _ in $(seq 1 30); do kill -0 "$bench_pid" 2>/dev/null || break; sleep 1; done
      done
      wait "$bench_pid" || echo "soak: qlinear-bench exit code $?" >> "$out/soak.out"
      echo "$(( $(date +%s) - start )) $(rss_kib "$server_pid") $(pgrep -c cc1plus || true)" >> "$out/soak-rss.txt"
      cat "$out/soak.out"
      stop_server
      ;;
    backlog)
      # Backlogs must not pin memory: 60 s at a steady 400 req/s, then three
      # times 10 s of closed loop at concurrency 2000 (a queue of ~2000
      # requests and 256-row batches) followed by 20 s at 400 req/s; the
      # server's VmRSS after the first minute and after each burst.
      start_server backlog
      "$bench" --target "$target" --rate 400 --poisson --duration 60s > /dev/null
      echo "phase rss_kib" > "$out/backlog-rss.txt"
      echo "steady_60s $(rss_kib "$server_pid")" >> "$out/backlog-rss.txt"
      for burst in 1 2 3; do
        "$bench" --target "$target" --concurrency 2000 --duration 10s > "$out/backlog-burst-$burst.out"
        "$bench" --target "$target" --rate 400 --poisson --duration 20s > /dev/null
        echo "after_burst_$burst $(rss_kib "$server_pid")" >> "$out/backlog-rss.txt"
      done
      cat "$out/backlog-rss.txt"
      stop_server
      ;;
    *)
      echo "unknown section '$section' (overhead, batching, openloop, soak, backlog)" >&2
      exit 2
      ;;
  esac
done

/usr/bin/python3 - "$out" <<'PY' | tee "$out/summary.md"
import glob, json, os, statistics, sys
out = sys.argv[1]
def load(name):
    path = os.path.join(out, name)
    return json.load(open(path)) if os.path.exists(path) else None
def us(s):
    return "%.1f us" % (s * 1e6)
print(open(os.path.join(out, "machine.txt")).read())
reps = {}
for kind in ("health", "list", "forward", "forward-notimings", "infer"):
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, "overhead-%s-[0-9].json" % kind)))]
    if runs:
        reps[kind] = [r["points"][0] for r in runs]
if reps:
    print("## Overhead (concurrency 1; median of %d interleaved runs)" % len(reps["health"]))
    print("| RPC | p50 | p99 | req/s |")
    print("|---|---|---|---|")
    med = {}
    for kind, pts in reps.items():
        med[kind] = statistics.median(p["latency_seconds"]["p50"] for p in pts)
        print("| %s | %s | %s | %.0f |" % (kind, us(med[kind]),
              us(statistics.median(p["latency_seconds"]["p99"] for p in pts)),
              statistics.median(p["requests_per_second"] for p in pts)))
    if "forward" in med:
        print("\nForward p50 - health p50 = %s (per run: %s)" % (
            us(med["forward"] - med["health"]),
            ", ".join(us(f["latency_seconds"]["p50"] - h["latency_seconds"]["p50"])
                      for f, h in zip(reps["forward"], reps["health"]))))
        srv = [p["server"]["compute_infer_seconds"] for p in reps["forward"] if p["server"]["compute_infer_seconds"] is not None]
        if srv:
            print("server layer time per request (median): %s" % us(statistics.median(srv)))
b = load("batching.json")
if b:
    pts = b["points"]
    print("\n## Batching (default model, M=1)")
    print("| concurrency | req/s | p50 | p99 | batch rows mean/max | GOP/s |")
    print("|---|---|---|---|---|---|")
    for p in pts:
        print("| %d | %.0f | %.2f ms | %.2f ms | %.1f / %d | %.1f |" % (
            p["concurrency"], p["requests_per_second"], p["latency_seconds"]["p50"] * 1e3,
            p["latency_seconds"]["p99"] * 1e3, p["batch_rows"]["mean"] or 0,
            p["batch_rows"]["max"] or 0, p["gops"]))
    print("\nthroughput at %d / at %d = %.2fx" % (pts[-1]["concurrency"], pts[0]["concurrency"],
          pts[-1]["requests_per_second"] / pts[0]["requests_per_second"]))
o = load("openloop.json")
if o:
    print("\n## Open loop (Poisson), capacity %.0f req/s at concurrency %d" % (
        o["run"]["capacity_rps"], o["run"]["capacity_concurrency"]))
    print("| load | target req/s | achieved | p50 | p99 | p99/p50 | p99.9 | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for p in o["points"]:
        l = p["latency_seconds"]
        print("| %.0f%% | %.0f | %.0f | %.2f ms | %.2f ms | %.1f | %.2f ms | %d |" % (
            100 * p["target_rate"] / o["run"]["capacity_rps"], p["target_rate"],
            p["requests_per_second"], l["p50"] * 1e3, l["p99"] * 1e3, l["p99"] / l["p50"],
            l["p99.9"] * 1e3, p["errors"]))
rows = [l.split() for l in open(os.path.join(out, "machine-load.txt")).read().splitlines()[1:]]
if rows:
    busy = [int(r[1]) for r in rows if r[1].isdigit()]
    print("\nOther work on the machine: compilers (cc1plus) running in %d of %d samples "
          "(every 5 s; at most %d at once); load average %s..%s" % (
              sum(1 for b in busy if b > 0), len(rows), max(busy or [0]),
              min(r[2] for r in rows), max(r[2] for r in rows)))
s = load("soak.json")
if s:
    p = s["points"][0]
    rows = [l.split() for l in open(os.path.join(out, "soak-rss.txt")).read().splitlines()[1:]]
    first, last = int(rows[0][1]), int(rows[-1][1])
    print("\n## Soak: %.0f req/s (Poisson) for %.0f s" % (p["target_rate"], p["seconds"]))
    print("requests %d, errors %d (codes %s, dropped by the client at --max-inflight: %d)" % (
        p["requests"], p["errors"], p["codes"], p["client_dropped"]))
    print("p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms" % tuple(
        p["latency_seconds"][k] * 1e3 for k in ("p50", "p99", "p99.9", "max")))
    print("server RSS: %d KiB at start, %d KiB at end (%+.2f%%), max %d KiB" % (
        first, last, 100.0 * (last - first) / first, max(int(r[1]) for r in rows)))
    half = rows[len(rows) // 2]
    print("second half: %d KiB at %s s -> %d KiB (%+.2f%%)" % (
        int(half[1]), half[0], last, 100.0 * (last - int(half[1])) / int(half[1])))
    busy = sum(1 for r in rows if len(r) > 2 and r[2] not in ("", "0"))
    print("samples with compilers running on the machine: %d of %d" % (busy, len(rows)))
PY
