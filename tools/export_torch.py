#!/usr/bin/python3
"""Exports a torch.nn.Sequential of Linear and activation modules to a
qlinear model directory: model.json (the manifest, in a chosen format) and
model.safetensors (the float weights, which the server quantizes at load).

Runs under Debian's /usr/bin/python3 with python3-torch. The safetensors file
is written by hand (struct + json): the safetensors package is not needed.

Supported modules, in order: Linear, each optionally followed by one of ReLU,
GELU (approximate "none" or "tanh") and SiLU, which becomes that layer's
activation. Dropout and Identity are skipped (inference). Layers are named by
their index in the Sequential ("0", "2", ...), as in its state_dict, so the
tensors are "<name>.weight" and "<name>.bias".

As a library:
    import export_torch
    export_torch.export_sequential(model, "out/mymodel/1", fmt="intx_opaque",
                                   group_size=32, bits=4, mapping="asymmetric")
    w_hat = export_torch.dequantize_like_qlinear(linear.weight, ...)

From the command line (the model saved with torch.save(model, path)):
    /usr/bin/python3 tools/export_torch.py --model model.pt --out DIR \\
        --format int4_opaque --group-size 128
"""

import argparse
import json
import os
import struct

import torch

_ACTIVATIONS = {torch.nn.ReLU: "relu", torch.nn.SiLU: "silu"}
_SKIPPED = (torch.nn.Dropout, torch.nn.Identity)
_DTYPES = {torch.float32: ("fp32", "F32"), torch.bfloat16: ("bf16", "BF16"),
           torch.float16: ("fp16", "F16")}
_TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16,
                 "fp16": torch.float16}


def _activation_name(module):
    if isinstance(module, torch.nn.GELU):
        approximate = getattr(module, "approximate", "none")
        if approximate == "none":
            return "gelu"
        if approximate == "tanh":
            return "gelu_tanh"
        raise ValueError("GELU(approximate=%r) is not supported" % approximate)
    for cls, name in _ACTIVATIONS.items():
        if isinstance(module, cls):
            return name
    return None


def sequential_layers(model):
    """[(name, Linear, activation name)] of a Sequential; raises ValueError for
    anything qlinear cannot serve."""
    if not isinstance(model, torch.nn.Sequential):
        raise ValueError("expected a torch.nn.Sequential, got %s" %
                         type(model).__name__)
    layers = []
    for name, module in model.named_children():
        if isinstance(module, torch.nn.Linear):
            layers.append([name, module, "none"])
            continue
        if isinstance(module, _SKIPPED):
            continue
        activation = _activation_name(module)
        if activation is None:
            raise ValueError("module %s (%s) is not supported: use Linear, "
                             "ReLU, GELU, SiLU" % (name, type(module).__name__))
        if not layers or layers[-1][2] != "none":
            raise ValueError("module %s (%s) must follow a Linear" %
                             (name, type(module).__name__))
        layers[-1][2] = activation
    if not layers:
        raise ValueError("the Sequential has no Linear")
    for (a, la, _), (b, lb, _) in zip(layers, layers[1:]):
        if la.out_features != lb.in_features:
            raise ValueError("layer %s has %d outputs but layer %s takes %d" %
                             (a, la.out_features, b, lb.in_features))
    return [tuple(layer) for layer in layers]


def _tensor_bytes(tensor):
    tensor = tensor.detach().contiguous().cpu()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().astype("<i2").tobytes()
    if tensor.dtype == torch.float16:
        return tensor.numpy().astype("<f2").tobytes()
    return tensor.to(torch.float32).numpy().astype("<f4").tobytes()


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: float tensor} (fp32/bf16/fp16) in the safetensors format:
    an 8-byte little-endian header length, a JSON header padded with spaces
    to a multiple of 8, then the data."""
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        if tensor.dtype not in _DTYPES:
            raise ValueError("tensor %s: dtype %s is not fp32/bf16/fp16" %
                             (name, tensor.dtype))
        blob = _tensor_bytes(tensor)
        header[name] = {"dtype": _DTYPES[tensor.dtype][1],
                        "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def _layer_format(fmt, group_size, bits, mapping, in_features):
    """The manifest keys of one layer's format."""
    if fmt == "fp32":
        return {"format": "fp32"}
    if group_size == "per_channel":
        if fmt != "intx_opaque":
            raise ValueError("per-channel groups need format intx_opaque")
        group_size = in_features
    if in_features % group_size:
        raise ValueError("in_features %d is not a multiple of group_size %d" %
                         (in_features, group_size))
    keys = {"format": fmt, "group_size": group_size}
    if fmt == "intx_opaque":
        keys.update(bits=bits, mapping=mapping)
    elif fmt != "int4_opaque":
        raise ValueError("unknown format %r" % fmt)
    return keys


def export_sequential(model, out_dir, fmt="int4_opaque", group_size=128,
                      bits=4, mapping="symmetric", dtype=None,
                      default_act_quant="none", layer_formats=None):
    """Writes out_dir/model.json and out_dir/model.safetensors.

    fmt, group_size ("per_channel" for intx), bits and mapping apply to every
    layer unless layer_formats maps a layer name to a dict of those keys.
    dtype ("fp32", "bf16", "fp16") defaults to the first weight's dtype;
    the weights are written in it. Returns the manifest (a dict)."""
    layers = sequential_layers(model)
    if dtype is None:
        dtype = _DTYPES[layers[0][1].weight.dtype][0]
    torch_dtype = _TORCH_DTYPES[dtype]
    manifest_layers, tensors = [], {}
    for name, linear, activation in layers:
        options = dict(fmt=fmt, group_size=group_size, bits=bits,
                       mapping=mapping)
        options.update((layer_formats or {}).get(name, {}))
        entry = {"name": name, "in_features": linear.in_features,
                 "out_features": linear.out_features,
                 "bias": linear.bias is not None, "activation": activation}
        entry.update(_layer_format(options["fmt"], options["group_size"],
                                   options["bits"], options["mapping"],
                                   linear.in_features))
        entry["source"] = "float"
        manifest_layers.append(entry)
        tensors[name + ".weight"] = linear.weight.detach().to(torch_dtype)
        if linear.bias is not None:
            tensors[name + ".bias"] = linear.bias.detach().to(torch_dtype)
    manifest = {"dtype": dtype, "default_act_quant": default_act_quant,
                "scale_floor": "smallest_normal", "layers": manifest_layers}
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest


# --- The numerics of docs/numerics.md in eager PyTorch -----------------------
# Each op on a bf16/fp16 tensor rounds its result to that dtype, which is the
# per-op rounding docs/numerics.md ("Notation") and qlinear's reference
# quantizers define.


def dequantize_like_qlinear(weight, fmt, group_size, bits=4,
                            mapping="symmetric", scale_floor="smallest_normal"):
    """The dequantized weight ŵ the server computes with for a float weight
    [N, K] in its dtype T: int4_opaque (ŵ in fp32) or intx_opaque (ŵ in T),
    as docs/numerics.md ("Weights: int4_opaque", "Weights: intx_opaque")
    defines them. Returns an fp32 tensor."""
    w = weight.detach()
    t = w.dtype
    n, k = w.shape
    if group_size == "per_channel":
        group_size = k
    g = w.reshape(n, k // group_size, group_size)
    if fmt == "int4_opaque":
        mn = g.amin(dim=-1, keepdim=True)
        mx = g.amax(dim=-1, keepdim=True)
        scale = (mx - mn) / 15
        scale = torch.maximum(scale, torch.tensor(1e-6, dtype=t))
        zero = mn + scale * 8
        base = zero - scale * 8
        q = torch.clamp(torch.round((g - base) / scale), 0, 15)
        w_hat = (q.float() - 8) * scale.float() + zero.float()
        return w_hat.reshape(n, k)
    if fmt != "intx_opaque":
        return w.float()
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    finfo = torch.finfo(t)
    eps = torch.tensor(finfo.tiny if scale_floor == "smallest_normal"
                       else finfo.eps, dtype=t)
    zeros = torch.zeros((), dtype=t)
    min_neg = torch.minimum(g.amin(dim=-1, keepdim=True), zeros)
    max_pos = torch.maximum(g.amax(dim=-1, keepdim=True), zeros)
    zp = torch.zeros_like(min_neg, dtype=torch.float32)
    if mapping == "symmetric":
        amax = torch.maximum(-min_neg, max_pos)
        scale = torch.maximum(amax / ((qmax - qmin) / 2), eps)
    elif mapping == "symmetric_no_clipping_err":
        scale = torch.maximum(torch.maximum(min_neg / qmin, max_pos / qmax),
                              eps)
    elif mapping == "asymmetric":
        scale = torch.maximum((max_pos - min_neg) / (qmax - qmin), eps)
        zp = torch.clamp(qmin - torch.round(min_neg / scale).float(), qmin,
                         qmax)
    else:
        raise ValueError("unknown mapping %r" % mapping)
    inv = 1.0 / scale
    q = torch.clamp(torch.round(g * inv).float() + zp, qmin, qmax)
    w_hat = (q - zp).to(t) * scale
    return w_hat.float().reshape(n, k)


def fake_quantize_activations(x, scale_floor="smallest_normal"):
    """int8_asym_per_token activations as qlinear quantizes them
    (docs/numerics.md, "Activations: int8_asym_per_token"): per row, in fp32
    arithmetic whatever the model dtype. Returns x_hat (fp32)."""
    x = x.float()
    eps = (torch.finfo(torch.float32).tiny if scale_floor == "smallest_normal"
           else torch.finfo(torch.float32).eps)
    mn = torch.clamp(x.amin(dim=-1, keepdim=True), max=0)
    mx = torch.clamp(x.amax(dim=-1, keepdim=True), min=0)
    s = torch.clamp((mx - mn) / 255, min=eps)
    zp = torch.clamp(-128 - torch.round(mn / s), -128, 127)
    qa = torch.clamp(torch.round(x * (1.0 / s)) + zp, -128, 127)
    return (qa - zp) * s


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True,
                        help="a torch.save()d torch.nn.Sequential")
    parser.add_argument("--out", required=True, help="model directory")
    parser.add_argument("--format", default="int4_opaque",
                        choices=["int4_opaque", "intx_opaque", "fp32"])
    parser.add_argument("--group-size", default="128",
                        help="an integer, or per_channel (intx_opaque)")
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--mapping", default="symmetric",
                        choices=["symmetric", "asymmetric",
                                 "symmetric_no_clipping_err"])
    parser.add_argument("--dtype", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--default-act-quant", default="none",
                        choices=["none", "int8_asym_per_token"])
    args = parser.parse_args()
    model = torch.load(args.model)
    group_size = (args.group_size if args.group_size == "per_channel"
                  else int(args.group_size))
    manifest = export_sequential(model, args.out, fmt=args.format,
                                 group_size=group_size, bits=args.bits,
                                 mapping=args.mapping, dtype=args.dtype,
                                 default_act_quant=args.default_act_quant)
    print("wrote %s/model.json and model.safetensors: %d layers, dtype %s" %
          (args.out, len(manifest["layers"]), manifest["dtype"]))


if __name__ == "__main__":
    main()
