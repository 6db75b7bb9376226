#!/usr/bin/python3
"""Writes a small deterministic model directory for tests and benchmarks.

    make-test-model.py DIR [--layers 256x256] [--format int4_opaque]
                           [--group-size 128] [--dtype fp32]

DIR gets model.json and model.safetensors (float weights, quantized by the
server at load). --layers lists the widths K0xK1x...xKn: one layer per
adjacent pair, named fc1, fc2, ...; every layer has a bias, and SiLU between
layers (none on the last). Standard library only: no numpy needed.
"""
import argparse
import json
import os
import struct


def floats(count, seed):
    """count values in [-0.05, 0.05) from a 64-bit LCG (deterministic)."""
    state = seed & 0xFFFFFFFFFFFFFFFF
    out = []
    for _ in range(count):
        state = (state * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        out.append(((state >> 40) / float(1 << 24) - 0.5) * 0.1)
    return out


POOL = 1048573  # a prime, so that row windows do not repeat early


def tensor_chunks(rows, cols, seed):
    """The little-endian F32 bytes of a [rows, cols] tensor, in chunks."""
    count = rows * cols
    if count <= POOL:
        yield struct.pack("<%df" % count, *floats(count, seed))
        return
    pool = struct.pack("<%df" % POOL, *floats(POOL, seed))
    pool += pool[:4 * cols]  # a window may wrap around the end
    for r in range(rows):
        start = (r * 7919) % POOL
        yield pool[4 * start:4 * (start + cols)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--layers", default="256x256")
    parser.add_argument("--format", default="int4_opaque",
                        choices=["int4_opaque", "intx_opaque", "fp32"])
    parser.add_argument("--group-size", type=int, default=128)
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-queue-delay-us", type=int, default=0)
    parser.add_argument("--adaptive-delay", action="store_true",
                        help="batching.adaptive_delay (needs --max-queue-delay-us > 0)")
    args = parser.parse_args()

    widths = [int(w) for w in args.layers.split("x")]
    if len(widths) < 2:
        parser.error("--layers needs at least two widths, e.g. 256x256")
    layers, tensors, sources = [], {}, []
    offset = 0
    for i in range(len(widths) - 1):
        k, n = widths[i], widths[i + 1]
        name = "fc%d" % (i + 1)
        layer = {"name": name, "in_features": k, "out_features": n, "bias": True,
                 "activation": "silu" if i + 2 < len(widths) else "none",
                 "format": args.format, "source": "float"}
        if args.format != "fp32":
            layer["group_size"] = args.group_size
        if args.format == "intx_opaque":
            layer["bits"] = args.bits
            layer["mapping"] = "symmetric"
        layers.append(layer)
        for key, shape in ((name + ".weight", [n, k]), (name + ".bias", [1, n])):
            size = 4 * shape[0] * shape[1]
            tensors[key] = {"dtype": "F32", "shape": shape if shape[0] > 1 else [n],
                            "data_offsets": [offset, offset + size]}
            sources.append((shape[0], shape[1], args.seed * 1000 + len(sources)))
            offset += size

    header = json.dumps(tensors, separators=(",", ":")).encode()
    header += b" " * ((8 - len(header) % 8) % 8)
    manifest = {"dtype": args.dtype, "default_act_quant": "none", "layers": layers,
                "batching": {"max_batch_rows": 256,
                             "max_queue_delay_us": args.max_queue_delay_us,
                             "adaptive_delay": args.adaptive_delay,
                             "max_queue_rows": 4096}}
    os.makedirs(args.dir, exist_ok=True)
    with open(os.path.join(args.dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        for rows, cols, seed in sources:
            for chunk in tensor_chunks(rows, cols, seed):
                f.write(chunk)
    with open(os.path.join(args.dir, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
