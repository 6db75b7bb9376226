#!/usr/bin/python3
"""Measures the server's memory against its packed weight bytes.

    measure-memory.py BUILD_DIR [--sizes small,medium,large] [--out FILE.json]
                      [--sources float] [--workdir DIR] [--threads 2]

For each model size and source it generates a model with
scripts/make-test-model.py (group size 128, float source, so the load
quantizes: int4_opaque). --sources int4_plain and torchao_intx convert that
float model with qlinear-convert into a pre-quantized one (int4_opaque from
int4_plain tensors; intx_opaque 4-bit, symmetric, from torchao_intx tensors),
so the load only packs. It serves the model from a repository and reads the
server's /proc/PID/status:

  load peak     VmHWM once the model serves (the load's high-water mark)
  steady RSS    VmRSS after 5 s of closed-loop Forward traffic (8 in flight)
  swap peak     VmHWM (reset through clear_refs before) while version 2 of
                the same model loads and warms under traffic, then swaps in
  after swap    VmRSS 3 s after the swap, traffic stopped

and the model's packed and held bytes from GetModel (qlinear-cli describe).
It prints a table and the derived figures of docs/deploy.md, "Sizing CPU and
memory": the fixed overhead (steady RSS minus packed bytes of the smallest
model) and the slope (RSS difference over packed-bytes difference between
the two largest models, per source). The load-peak bound uses the largest
layer's source tensors as stored in the model's safetensors file. Needs about
8 GB of disk in --workdir for "large".
"""
import argparse
import json
import os
import shutil
import socket
import struct
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


# The qlinear-convert spec of each pre-quantized source (model/convert.h).
CONVERT_FORMATS = {
    "int4_plain": {"format": "int4_opaque", "group_size": 128},
    "torchao_intx": {"format": "intx_opaque", "group_size": 128, "bits": 4,
                     "mapping": "symmetric"},
}


def largest_layer_source_bytes(path):
    """The largest sum of one layer's tensor bytes ("fc3.*") in a safetensors file."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    per_layer = {}
    for name, t in header.items():
        if name != "__metadata__":
            begin, end = t["data_offsets"]
            layer = name.split(".")[0]
            per_layer[layer] = per_layer.get(layer, 0) + end - begin
    return max(per_layer.values())


def make_model(size, source, build, version1, workdir):
    """Writes the model of `size` with weights from `source` into version1."""
    t0 = time.time()
    float_dir = version1 if source == "float" else os.path.join(workdir, "float-" + size)
    run(["/usr/bin/python3", os.path.join(HERE, "make-test-model.py"), float_dir,
         "--layers", SIZES[size], "--format", "int4_opaque", "--group-size", "128"])
    if source != "float":
        with open(os.path.join(float_dir, "model.json")) as f:
            float_manifest = json.load(f)
        spec = dict(CONVERT_FORMATS[source])
        spec["layers"] = [{"name": l["name"], "activation": l["activation"]}
                          for l in float_manifest["layers"]]
        spec_path = os.path.join(workdir, "convert-spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        run([os.path.join(build, "tools/convert/qlinear-convert"),
             "--input", os.path.join(float_dir, "model.safetensors"),
             "--spec", spec_path, "--output", version1])
        shutil.rmtree(float_dir, ignore_errors=True)
        # The same batching as the float model, so that only the source differs.
        manifest_path = os.path.join(version1, "model.json")
        with open(manifest_path) as f:
            manifest = json.load(f)
        manifest["batching"] = float_manifest["batching"]
        with open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=2)
    source_bytes = os.path.getsize(os.path.join(version1, "model.safetensors"))
    print("%s/%s: generated %.0f MB of source in %.1f s" %
          (size, source, source_bytes / 1e6, time.time() - t0), file=sys.stderr)
    return source_bytes


def measure(size, source, build, workdir, threads):
    cli = os.path.join(build, "clients/cli/qlinear-cli")
    bench = os.path.join(build, "clients/bench/qlinear-bench")
    server_bin = os.path.join(build, "server/qlinear-server")
    repo = os.path.join(workdir, "repo-" + size)
    shutil.rmtree(repo, ignore_errors=True)
    version1 = os.path.join(repo, "m", "1")
    source_bytes = make_model(size, source, build, version1, workdir)
    largest_layer = largest_layer_source_bytes(os.path.join(version1, "model.safetensors"))

    port = free_port()
    target = "127.0.0.1:%d" % port
    proc = subprocess.Popen(
        [server_bin, "--port", str(port), "--metrics-port", "0", "--threads", str(threads),
         "--model-repository", repo],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_serving(cli, target, proc, 900)
        result = {"size": size, "source": source, "layers": SIZES[size],
                  "source_bytes": source_bytes, "largest_layer_source_bytes": largest_layer}
        result["load_peak_kib"] = status_kib(proc.pid, "VmHWM")
        described = json.loads(run([cli, "--target", target, "describe", "m", "--json"]))
        result["packed_bytes"] = int(described["packed_bytes"])
        result["held_bytes"] = int(described["held_bytes"])
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
    parser.add_argument("--sources", default="float",
                        help="comma-separated: float, int4_plain, torchao_intx")
    parser.add_argument("--workdir", default="/tmp/qlinear-memory")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    sources = args.sources.split(",")
    for source in sources:
        if source != "float" and source not in CONVERT_FORMATS:
            parser.error("unknown source %r" % source)
    results = [measure(size, source, args.build, args.workdir, args.threads)
               for source in sources for size in args.sizes.split(",")]

    print("| model | source | packed MiB | held MiB | load peak MiB | steady RSS MiB | "
          "RSS/packed | swap peak MiB | after swap MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        packed = r["packed_bytes"] / 2**20
        print("| %s | %s | %.1f | %.1f | %.0f | %.0f | %.2f | %.0f | %.0f |" % (
            r["size"], r["source"], packed, r["held_bytes"] / 2**20,
            mib(r["load_peak_kib"]), mib(r["steady_rss_kib"]),
            mib(r["steady_rss_kib"]) / packed, mib(r["swap_peak_kib"]),
            mib(r["after_swap_rss_kib"])))
    for source in sources:
        by_packed = sorted((r for r in results if r["source"] == source),
                           key=lambda r: r["packed_bytes"])
        smallest = by_packed[0]
        overhead = mib(smallest["steady_rss_kib"]) - smallest["packed_bytes"] / 2**20
        print("\n%s: fixed overhead (steady RSS - packed, %s): %.1f MiB" %
              (source, smallest["size"], overhead))
        if len(by_packed) >= 2:
            a, b = by_packed[-2], by_packed[-1]
            slope = ((b["steady_rss_kib"] - a["steady_rss_kib"]) * 1024.0 /
                     (b["packed_bytes"] - a["packed_bytes"]))
            print("%s: slope (RSS difference / packed difference, %s -> %s): %.3f" %
                  (source, a["size"], b["size"], slope))
        for r in by_packed:
            packed = r["packed_bytes"] / 2**20
            layer = r["largest_layer_source_bytes"] / 2**20
            bound = (packed + layer + overhead) * 1.1
            print("%s/%s: load peak %.0f MiB = packed + %.1f MiB vs bound (packed + largest "
                  "layer source %.1f MiB + overhead) x 1.1 = %.0f MiB; swap peak %.0f MiB vs "
                  "2 x packed + overhead = %.0f MiB" % (
                      r["size"], source, mib(r["load_peak_kib"]),
                      mib(r["load_peak_kib"]) - packed, layer, bound,
                      mib(r["swap_peak_kib"]), 2 * packed + overhead))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
