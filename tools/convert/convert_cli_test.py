#!/usr/bin/python3
"""Test of the qlinear-convert binary (ctest tools_convert_cli).

Writes a small float checkpoint by hand (struct + json, no safetensors
package), converts it with one format for all layers and with a per-layer
spec, and relies on --verify: the written model must load and compute exactly
what the float checkpoint quantized at load computes. Also checks the summary
and that bad input fails with a message naming the problem.

Usage: convert_cli_test.py PATH/TO/qlinear-convert
"""

import json
import os
import random
import struct
import subprocess
import sys
import tempfile


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype "F32", shape, list of floats)."""
    header, blobs, offset = {}, [], 0
    for name, dtype, shape, values in tensors:
        assert dtype == "F32"
        blob = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True,
                          timeout=60)


def main():
    binary = sys.argv[1]
    rng = random.Random(7)
    widths = [64, 96, 40, 24, 16]
    tensors = []
    for i in range(len(widths) - 1):
        k, n = widths[i], widths[i + 1]
        name = str(2 * i)  # "0", "2", "4": torch.nn.Sequential names
        tensors.append((name + ".weight", "F32", [n, k],
                        [rng.gauss(0, 0.1) for _ in range(n * k)]))
        if i != 1:  # one layer without bias
            tensors.append((name + ".bias", "F32", [n],
                            [rng.gauss(0, 0.1) for _ in range(n)]))
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "float.safetensors")
        write_safetensors(src, tensors)
        specs = {
            "all_intx": {"format": "intx_opaque", "group_size": "per_channel",
                         "bits": 3, "mapping": "asymmetric",
                         "activation": "relu"},
            "per_layer": {
                "dtype": "bf16",
                "default_act_quant": "int8_asym_per_token",
                "layers": [
                    {"name": "0", "format": "int4_opaque", "group_size": 32,
                     "activation": "silu"},
                    {"name": "2", "format": "intx_opaque", "bits": 8,
                     "group_size": 32, "activation": "gelu_tanh"},
                    # K = 40: per channel, not a multiple of 16.
                    {"name": "4", "format": "intx_opaque", "bits": 5,
                     "group_size": "per_channel",
                     "mapping": "symmetric_no_clipping_err"},
                    {"name": "6", "format": "fp32"},
                ]},
        }
        for label, spec in specs.items():
            spec_path = os.path.join(tmp, label + ".json")
            with open(spec_path, "w") as f:
                json.dump(spec, f)
            out = os.path.join(tmp, label)
            r = run(binary, "--input", src, "--spec", spec_path, "--output",
                    out, "--verify")
            if r.returncode != 0:
                failures.append("%s: exit %d\n%s%s" % (label, r.returncode,
                                                       r.stdout, r.stderr))
                continue
            if "verified" not in r.stdout or "SQNR" not in r.stdout:
                failures.append("%s: summary missing:\n%s" % (label, r.stdout))
            with open(os.path.join(out, "model.json")) as f:
                manifest = json.load(f)
            names = [layer["name"] for layer in manifest["layers"]]
            if names != ["0", "2", "4", "6"]:
                failures.append("%s: layer order %s" % (label, names))
            if label == "per_layer":
                sources = [layer["source"] for layer in manifest["layers"]]
                if sources != ["int4_plain", "torchao_intx", "torchao_intx",
                               "float"]:
                    failures.append("per_layer: sources %s" % sources)
                if manifest["dtype"] != "bf16":
                    failures.append("per_layer: dtype %s" % manifest["dtype"])
            print("%s:\n%s" % (label, r.stdout))
            # A second run refuses to overwrite without --force.
            r = run(binary, "--input", src, "--spec", spec_path, "--output",
                    out)
            if r.returncode != 2 or "--force" not in r.stderr:
                failures.append("%s: overwrite without --force: exit %d %s" %
                                (label, r.returncode, r.stderr))

        # Errors name the problem.
        bad = {
            "group size not dividing K": (
                {"format": "intx_opaque", "group_size": 32, "bits": 4},
                "group_size"),
            "unknown layer": (
                {"layers": [{"name": "9", "format": "fp32"}]},
                "tensor '9.weight': missing"),
            "bits out of range": (
                {"format": "intx_opaque", "bits": 9}, "bits"),
            "no format": ({"group_size": 32}, "format"),
        }
        for label, (spec, needle) in bad.items():
            spec_path = os.path.join(tmp, "bad.json")
            with open(spec_path, "w") as f:
                json.dump(spec, f)
            r = run(binary, "--input", src, "--spec", spec_path, "--output",
                    os.path.join(tmp, "bad"))
            if r.returncode != 1 or needle not in r.stderr:
                failures.append("%s: exit %d, stderr %r" %
                                (label, r.returncode, r.stderr))
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
