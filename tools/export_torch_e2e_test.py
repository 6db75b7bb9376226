#!/usr/bin/python3
"""End-to-end test of tools/export_torch.py (ctest tools_export_torch_e2e).

Builds a random torch.nn.Sequential (Linear with ReLU, GELU, GELU(tanh) and
SiLU), exports it in several formats and dtypes (int4_opaque and intx_opaque,
fp32 and bf16), converts one export with qlinear-convert (a torchao_intx
checkpoint), serves them all with the real qlinear-server (port 0), and
compares the server's Forward output in both activation modes with torch's
own forward over the dequantized weights (and the fake-quantized activations
for int8_asym_per_token), within tolerance.

Exits 77 (ctest: skipped) when /usr/bin/python3 has no torch.

Usage: export_torch_e2e_test.py --server BIN --convert BIN --proto-dir DIR
"""

import argparse
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77


def generate_stubs(proto_dir, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run(
        ["protoc", "-I", proto_dir, "--python_out=" + out_dir,
         "--grpc_python_out=" + out_dir,
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
         os.path.join(proto_dir, "qlinear", "v1", "qlinear.proto")],
        check=True)
    sys.path.insert(0, out_dir)
    pb2 = importlib.import_module("qlinear.v1.qlinear_pb2")
    grpc_pb2 = importlib.import_module("qlinear.v1.qlinear_pb2_grpc")
    return pb2, grpc_pb2


def start_server(binary, repository, log_path):
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--model-repository",
         repository], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        with open(log_path) as f:
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", f.read())
        if match:
            return proc, int(match.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    with open(log_path) as f:
        raise RuntimeError("server did not start:\n" + f.read())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--convert", required=True)
    parser.add_argument("--proto-dir", required=True)
    args = parser.parse_args()

    try:
        import torch
    except ImportError:
        print("SKIPPED: /usr/bin/python3 cannot import torch (install Debian's "
              "python3-torch, e.g. with scripts/install-deps.sh)")
        return SKIP
    import grpc
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import export_torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 96), torch.nn.GELU(),
        torch.nn.Linear(96, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 64, bias=False), torch.nn.GELU(approximate="tanh"),
        torch.nn.Linear(64, 32), torch.nn.SiLU(),
        torch.nn.Linear(32, 16))
    model.eval()
    layers = export_torch.sequential_layers(model)

    # name -> (dtype, {layer: (fmt, group_size, bits, mapping)})
    configs = {}

    def formats(fmt, group_size, bits=4, mapping="symmetric", overrides=None):
        out = {name: (fmt, group_size, bits, mapping) for name, _, _ in layers}
        out.update(overrides or {})
        return out

    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        pb2, grpc_pb2 = generate_stubs(args.proto_dir, os.path.join(tmp, "gen"))
        repo = os.path.join(tmp, "repo")
        for dtype in ("fp32", "bf16"):
            # export_sequential writes the weights rounded to `dtype`.
            m = model
            name = "int4_" + dtype
            export_torch.export_sequential(
                m, os.path.join(repo, name, "1"), fmt="int4_opaque",
                group_size=32, dtype=dtype)
            configs[name] = (dtype, formats("int4_opaque", 32))
            name = "intx_" + dtype
            per_layer = {"2": {"fmt": "intx_opaque", "group_size": "per_channel",
                               "bits": 3, "mapping": "symmetric"},
                         "6": {"fmt": "intx_opaque", "group_size": 16,
                               "bits": 8, "mapping": "asymmetric"}}
            export_torch.export_sequential(
                m, os.path.join(repo, name, "1"), fmt="intx_opaque",
                group_size=32, bits=4, mapping="asymmetric", dtype=dtype,
                layer_formats=per_layer)
            configs[name] = (dtype, formats(
                "intx_opaque", 32, 4, "asymmetric",
                {"2": ("intx_opaque", "per_channel", 3, "symmetric"),
                 "6": ("intx_opaque", 16, 8, "asymmetric")}))
        # The converter's path: a float export turned into a torchao_intx
        # checkpoint (with torchao's metadata) by qlinear-convert.
        float_dir = os.path.join(tmp, "float")
        export_torch.export_sequential(model, float_dir, fmt="fp32")
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w") as f:
            json.dump({"dtype": "bf16", "format": "intx_opaque",
                       "group_size": 32, "bits": 5,
                       "mapping": "symmetric_no_clipping_err",
                       "layers": [{"name": n, "activation": a}
                                  for n, _, a in layers]}, f)
        r = subprocess.run([args.convert, "--input",
                            os.path.join(float_dir, "model.safetensors"),
                            "--spec", spec_path, "--output",
                            os.path.join(repo, "converted", "1"), "--verify"],
                           capture_output=True, text=True, timeout=120)
        print(r.stdout, r.stderr)
        if r.returncode != 0:
            print("FAIL: qlinear-convert exit %d" % r.returncode)
            return 1
        configs["converted"] = ("bf16", formats(
            "intx_opaque", 32, 5, "symmetric_no_clipping_err"))

        proc, port = start_server(args.server, repo,
                                  os.path.join(tmp, "server.log"))
        try:
            channel = grpc.insecure_channel("127.0.0.1:%d" % port)
            stub = grpc_pb2.QLinearStub(channel)
            wire = {"fp32": (pb2.DATA_TYPE_FP32, "<f4"),
                    "bf16": (pb2.DATA_TYPE_BF16, "<u2")}
            modes = {"none": pb2.ACT_QUANT_NONE,
                     "int8_asym_per_token": pb2.ACT_QUANT_INT8_ASYM_PER_TOKEN}
            for name, (dtype, fmts) in sorted(configs.items()):
                torch_dtype = export_torch._TORCH_DTYPES[dtype]
                x = torch.randn(5, 64).to(torch_dtype)
                if dtype == "bf16":
                    data = x.view(torch.int16).numpy().astype("<i2").tobytes()
                else:
                    data = x.numpy().astype("<f4").tobytes()
                for mode, mode_enum in modes.items():
                    request = pb2.ForwardRequest(
                        model=name, act_quant=mode_enum,
                        input=pb2.Tensor(dtype=wire[dtype][0], shape=[5, 64],
                                         data=data))
                    response = stub.Forward(request, timeout=60)
                    raw = np.frombuffer(response.output.data, wire[dtype][1])
                    if dtype == "bf16":
                        raw = (raw.astype(np.uint32) << 16).view(np.float32)
                    got = torch.from_numpy(raw.astype(np.float32).copy())
                    got = got.reshape(list(response.output.shape))

                    # torch's forward over the dequantized weights, in float64,
                    # each layer's output rounded to the model dtype as the
                    # server's is.
                    h = x.float()
                    for layer_name, linear, activation in layers:
                        fmt, gs, bits, mapping = fmts[layer_name]
                        w = linear.weight.detach().to(torch_dtype)
                        w_hat = export_torch.dequantize_like_qlinear(
                            w, fmt, gs, bits, mapping)
                        inp = (export_torch.fake_quantize_activations(h)
                               if mode != "none" else h)
                        y = inp.double() @ w_hat.double().T
                        if linear.bias is not None:
                            y = y + linear.bias.detach().to(torch_dtype).double()
                        if activation == "relu":
                            y = torch.relu(y)
                        elif activation == "gelu":
                            y = torch.nn.functional.gelu(y)
                        elif activation == "gelu_tanh":
                            y = torch.nn.functional.gelu(y, approximate="tanh")
                        elif activation == "silu":
                            y = torch.nn.functional.silu(y)
                        h = y.to(torch_dtype).float()
                    want = h
                    rms = want.pow(2).mean().sqrt().item()
                    err = (got - want).abs().max().item() / max(rms, 1e-6)
                    sqnr = 10 * torch.log10(
                        want.pow(2).sum() /
                        (got - want).pow(2).sum().clamp(min=1e-30)).item()
                    # fp32: differences are accumulation-order ulps; bf16: a
                    # few output ulps, which may flip an activation code of
                    # the next layer in the int8 mode.
                    tol = 1e-4 if dtype == "fp32" else 3e-2
                    if mode != "none" and dtype == "fp32":
                        tol = 2e-3
                    ok = got.shape == want.shape and err <= tol
                    print("%-12s %-20s max|err|/rms %.2e (tol %.0e)  SQNR "
                          "%.1f dB  %s" % (name, mode, err, tol, sqnr,
                                           "ok" if ok else "FAIL"))
                    if not ok:
                        failures.append("%s %s: error %.3e > %.0e" %
                                        (name, mode, err, tol))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    for f in failures:
        print("FAIL:", f)
    print("%d passed, %d failed" % (2 * len(configs) - len(failures),
                                    len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
