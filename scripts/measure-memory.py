#!/usr/bin/python3
"""Measures the server's memory against its packed weight bytes.

    measure-memory.py BUILD_DIR [--sizes small,medium,large] [--out FILE.json]
                      [--workdir DIR] [--threads 2]

For each model size it generates a model with scripts/make-test-model.py
(int4_opaque, group size 128, float source, so the load quantizes), serves it
from a repository and reads the server's /proc/PID/status:

  load peak     VmHWM once the model serves (the load's high-water mark)
  steady RSS    VmRSS after 5 s of closed-loop Forward traffic (8 in flight)
  swap peak     VmHWM (reset through clear_refs before) while version 2 of
                the same model loads and warms under traffic, then swaps in
  after swap    VmRSS 3 s after the swap, traffic stopped

and the model's packed and held bytes from GetModel (qlinear-cli describe).
It prints a table and the derived figures of docs/deploy.md, "Sizing CPU and
memory": the fixed overhead (steady RSS minus packed bytes of the smallest
model) and the slope (RSS difference over packed-bytes difference between
the two largest models). Needs about 8 GB of disk in --workdir for "large".
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# Widths per size: int4 g128 packs about 0.5625 bytes per weight.
SIZES = {
    # The shape of the embedded default model: 23.6 MB packed.
    "small": "1024x4096x4096x4096x1024",
    # Six 4096x11008 layers (a 7B-class MLP stack): about 152 MB packed.
    "medium": "x".join(["4096", "11008"] * 3 + ["4096"]),
    # Forty such layers: about 1.0 GB packed (7.2 GB of float source).
    "large": "x".join(["4096", "11008"] * 20 + ["4096"]),
}


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def mib(kib):
    return kib / 1024.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout


def wait_serving(cli, target, proc, timeout_s):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("server exited with %d" % proc.returncode)
        if subprocess.run([cli, "--target", target, "health"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            return
        time.sleep(0.2)
    sys.exit("server not SERVING after %d s" % timeout_s)


def traffic(bench, target, seconds):
    return subprocess.Popen(
        [bench, "--target", target, "--model", "m", "--concurrency", "8",
         "--warmup", "0s", "--duration", "%ds" % seconds],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(size, build, workdir, threads):
    cli = os.path.join(build, "clients/cli/qlinear-cli")
    bench = os.path.join(build, "clients/bench/qlinear-bench")
    server_bin = os.path.join(build, "server/qlinear-server")
    repo = os.path.join(workdir, "repo-" + size)
    shutil.rmtree(repo, ignore_errors=True)
    version1 = os.path.join(repo, "m", "1")
    t0 = time.time()
    run(["/usr/bin/python3", os.path.join(HERE, "make-test-model.py"), version1,
         "--layers", SIZES[size], "--format", "int4_opaque", "--group-size", "128"])
    source_bytes = os.path.getsize(os.path.join(version1, "model.safetensors"))
    print("%s: generated %.0f MB of float source in %.1f s" %
          (size, source_bytes / 1e6, time.time() - t0), file=sys.stderr)

    port = free_port()
    target = "127.0.0.1:%d" % port
    proc = subprocess.Popen(
        [server_bin, "--port", str(port), "--metrics-port", "0", "--threads", str(threads),
         "--model-repository", repo],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_serving(cli, target, proc, 900)
        result = {"size": size, "layers": SIZES[size], "source_bytes": source_bytes}
        result["load_peak_kib"] = status_kib(proc.pid, "VmHWM")
        described = json.loads(run([cli, "--target", target, "describe", "m", "--json"]))
        result["packed_bytes"] = int(described["packed_bytes"])
        result["held_bytes"] = int(described["held_bytes"])
        result["largest_layer_source_bytes"] = max(
            4 * int(l["in_features"]) * int(l["out_features"]) for l in described["layers"])
        traffic(bench, target, 5).wait()
        result["steady_rss_kib"] = status_kib(proc.pid, "VmRSS")

        # Version swap under traffic: version 2 holds the same files.
        os.symlink("1", os.path.join(repo, "m", "2"))
        with open("/proc/%d/clear_refs" % proc.pid, "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        load_traffic = traffic(bench, target, 3600)
        time.sleep(1)
        t0 = time.time()
        run([cli, "--target", target, "--timeout", "15m", "load", "m", "--version", "2"])
        result["swap_seconds"] = time.time() - t0
        result["swap_peak_kib"] = status_kib(proc.pid, "VmHWM")
        load_traffic.terminate()
        load_traffic.wait()
        time.sleep(3)
        result["after_swap_rss_kib"] = status_kib(proc.pid, "VmRSS")
        return result
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(repo, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build")
    parser.add_argument("--sizes", default="small,medium,large")
    parser.add_argument("--out", default="")
    parser.add_argument("--workdir", default="/tmp/qlinear-memory")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    results = [measure(s, args.build, args.workdir, args.threads)
               for s in args.sizes.split(",")]

    print("| model | packed MiB | held MiB | load peak MiB | steady RSS MiB | RSS/packed | "
          "swap peak MiB | after swap MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        packed = r["packed_bytes"] / 2**20
        print("| %s | %.1f | %.1f | %.0f | %.0f | %.2f | %.0f | %.0f |" % (
            r["size"], packed, r["held_bytes"] / 2**20, mib(r["load_peak_kib"]),
            mib(r["steady_rss_kib"]), mib(r["steady_rss_kib"]) / packed,
            mib(r["swap_peak_kib"]), mib(r["after_swap_rss_kib"])))
    by_packed = sorted(results, key=lambda r: r["packed_bytes"])
    smallest = by_packed[0]
    overhead = mib(smallest["steady_rss_kib"]) - smallest["packed_bytes"] / 2**20
    print("\nfixed overhead (steady RSS - packed, %s): %.1f MiB" % (smallest["size"], overhead))
    if len(by_packed) >= 2:
        a, b = by_packed[-2], by_packed[-1]
        slope = ((b["steady_rss_kib"] - a["steady_rss_kib"]) * 1024.0 /
                 (b["packed_bytes"] - a["packed_bytes"]))
        print("slope (RSS difference / packed difference, %s -> %s): %.3f" %
              (a["size"], b["size"], slope))
    for r in results:
        packed = r["packed_bytes"] / 2**20
        bound = (packed + r["largest_layer_source_bytes"] / 2**20 + overhead) * 1.1
        print("%s: load peak %.0f MiB vs bound (packed + largest layer source + overhead) "
              "x 1.1 = %.0f MiB; swap peak %.0f MiB vs 2 x packed + overhead = %.0f MiB" % (
                  r["size"], mib(r["load_peak_kib"]), bound, mib(r["swap_peak_kib"]),
                  2 * packed + overhead))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
