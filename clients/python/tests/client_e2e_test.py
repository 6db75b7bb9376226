#!/usr/bin/python3
"""End-to-end test of qlinear_client against the real qlinear-server
(ctest python_client_e2e).

Generates the stubs with protoc + grpc_python_plugin, writes a model
repository (an fp32 and a bf16 model, float safetensors written with numpy),
starts qlinear-server on port 0 (the port is read from its log), and checks:
forward (native) and infer (KServe v2, raw and typed) agree bitwise, shapes
and dtypes, layer ranges and act_quant, matmul, models/model, health and
readiness, statistics, the error statuses of bad requests, and the target
syntax (channel_target).

Usage: client_e2e_test.py --server BIN [--protoc BIN] --proto-dir DIR
                          --stubs DIR
"""

import argparse
import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest
from typing import Dict, List, Optional, Tuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(HERE)

ARGS: Optional[argparse.Namespace] = None


def write_safetensors(path: str, tensors: Dict[str, np.ndarray]) -> None:
    """A safetensors file of float32 tensors."""
    header = {}
    offset = 0
    blobs: List[bytes] = []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def write_model(directory: str, dtype: str, widths: List[int],
                default_act_quant: str, seed: int) -> None:
    """A model directory: int4_opaque layers (gs 32), bias, ReLU between."""
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    layers = []
    tensors: Dict[str, np.ndarray] = {}
    for i in range(len(widths) - 1):
        name = f"fc{i + 1}"
        k, n = widths[i], widths[i + 1]
        layers.append({
            "name": name,
            "in_features": k,
            "out_features": n,
            "bias": True,
            "activation": "relu" if i + 2 < len(widths) else "none",
            "format": "int4_opaque",
            "group_size": 32,
            "source": "float",
        })
        tensors[name + ".weight"] = rng.normal(0, 0.1, (n, k))
        tensors[name + ".bias"] = rng.normal(0, 0.1, (n,))
    manifest = {
        "dtype": dtype,
        "default_act_quant": default_act_quant,
        "layers": layers,
        "batching": {
            "max_batch_rows": 64,
            "max_queue_delay_us": 0,
            "max_queue_rows": 4096
        },
    }
    with open(os.path.join(directory, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    write_safetensors(os.path.join(directory, "model.safetensors"), tensors)


def start_server(binary: str, repository: str,
                 log_path: str) -> Tuple[subprocess.Popen, int]:
    with open(log_path, "w") as log:
        proc = subprocess.Popen([
            binary, "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--threads", "2",
            "--model-repository", repository
        ],
                                stdout=log,
                                stderr=subprocess.STDOUT)
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
        raise RuntimeError("qlinear-server did not start:\n" + f.read())


class ClientTest(unittest.TestCase):
    client = None  # qlinear_client.Client
    proc: Optional[subprocess.Popen] = None
    tmp: Optional[tempfile.TemporaryDirectory] = None

    @classmethod
    def setUpClass(cls) -> None:
        assert ARGS is not None
        import qlinear_client  # after the stubs exist
        cls.qc = qlinear_client
        cls.tmp = tempfile.TemporaryDirectory()
        repo = os.path.join(cls.tmp.name, "repo")
        write_model(os.path.join(repo, "tiny", "1"), "fp32", [64, 32, 16],
                    "none", 1)
        write_model(os.path.join(repo, "tiny_bf16", "2"), "bf16", [64, 96, 16],
                    "int8_asym_per_token", 2)
        cls.proc, port = start_server(ARGS.server, repo,
                                      os.path.join(cls.tmp.name, "server.log"))
        cls.target = f"127.0.0.1:{port}"
        cls.client = qlinear_client.Client(cls.target, timeout=30)

    @classmethod
    def tearDownClass(cls) -> None:
        if cls.client is not None:
            cls.client.close()
        if cls.proc is not None:
            cls.proc.send_signal(signal.SIGTERM)
            try:
                cls.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
        if cls.tmp is not None:
            cls.tmp.cleanup()

    def random(self, rows: int, cols: int, seed: int) -> np.ndarray:
        return np.random.default_rng(seed).uniform(
            -1, 1, (rows, cols)).astype(np.float32)

    def test_targets(self) -> None:
        ct = self.qc.channel_target
        self.assertEqual(ct("127.0.0.1:1,127.0.0.1:2"),
                         "ipv4:127.0.0.1:1,127.0.0.1:2")
        self.assertEqual(ct(["[::1]:1", "[::1]:2"]), "ipv6:[::1]:1,[::1]:2")
        for passed in ("dns:///qlinear-headless:8001", "localhost:8001",
                       "ipv4:10.0.0.1:1,10.0.0.2:1"):
            self.assertEqual(ct(passed), passed)
        for bad, why in (("a:1,b:2", "'a:1' in a list"),
                         ("127.0.0.1:1,[::1]:2", "cannot be mixed"),
                         ("127.0.0.1:1,127.0.0.1", "'127.0.0.1' in a list"),
                         ("", "empty")):
            with self.assertRaisesRegex(ValueError, why):
                ct(bad)
        # A list of one address serves like the address.
        with self.qc.Client([self.target]) as one:
            self.assertEqual(one.health(), "SERVING")

    def test_health_and_readiness(self) -> None:
        self.assertEqual(self.client.health(), "SERVING")
        self.assertEqual(self.client.health("tiny"), "SERVING")
        self.assertTrue(self.client.server_live())
        self.assertTrue(self.client.server_ready())
        self.assertTrue(self.client.model_ready("tiny"))
        self.assertFalse(self.client.model_ready("nope"))

    def test_models_and_model(self) -> None:
        models = {m.name: m for m in self.client.models()}
        self.assertEqual(set(models), {"tiny", "tiny_bf16"})
        self.assertTrue(models["tiny"].ready)
        self.assertEqual(models["tiny_bf16"].version, "2")
        info = self.client.model("tiny_bf16")
        self.assertEqual(info.dtype, "bf16")
        self.assertEqual(info.default_act_quant, "int8_asym_per_token")
        self.assertEqual([l.name for l in info.layers], ["fc1", "fc2"])
        self.assertEqual(info.layers[0].in_features, 64)
        self.assertEqual(info.layers[1].out_features, 16)
        self.assertEqual(info.layers[0].format, "int4_opaque")
        self.assertGreater(info.packed_bytes, 0)

    def test_forward_and_infer_agree_bitwise_fp32(self) -> None:
        x = self.random(3, 64, 1)
        y = self.client.forward(x, "tiny")
        self.assertEqual(y.shape, (3, 16))
        self.assertEqual(y.dtype, np.float32)
        raw = self.client.infer(x, "tiny", request_id="r1")
        typed = self.client.infer(x, "tiny", typed=True)
        self.assertEqual(raw.tobytes(), y.tobytes())
        self.assertEqual(typed.tobytes(), y.tobytes())
        # A 1-D input is one row.
        self.assertEqual(self.client.forward(x[0], "tiny").tobytes(),
                         y[:1].tobytes())

    def test_forward_and_infer_agree_bitwise_bf16(self) -> None:
        x = self.random(2, 64, 2)
        y = self.client.forward(x, "tiny_bf16")
        self.assertEqual(y.shape, (2, 16))
        self.assertEqual(y.dtype, np.float32)  # bf16 widened exactly
        low_bits = y.view(np.uint32) & np.uint32(0xFFFF)
        self.assertTrue(np.all(low_bits == 0))
        self.assertEqual(self.client.infer(x, "tiny_bf16").tobytes(),
                         y.tobytes())
        with self.assertRaises(ValueError):
            self.client.infer(x, "tiny_bf16", typed=True)

    def test_modes_and_layer_ranges_agree(self) -> None:
        x = self.random(2, 64, 3)
        none = self.client.forward(x, "tiny_bf16", act_quant="none")
        int8 = self.client.forward(x, "tiny_bf16")  # the model default
        self.assertNotEqual(none.tobytes(), int8.tobytes())
        self.assertEqual(
            self.client.infer(x, "tiny_bf16", act_quant="none").tobytes(),
            none.tobytes())
        mid = self.random(4, 32, 4)
        ranged = self.client.forward(mid, "tiny", layer_start=1, layer_end=2)
        self.assertEqual(ranged.shape, (4, 16))
        self.assertEqual(
            self.client.infer(mid, "tiny", layer_start=1, layer_end=2,
                              priority=2, timeout_us=10_000_000).tobytes(),
            ranged.tobytes())
        first = self.client.matmul(x, "fc1", "tiny")
        self.assertEqual(first.shape, (2, 32))
        y, timings = self.client.forward_with_timings(x, "tiny")
        self.assertEqual(y.shape, (2, 16))
        self.assertEqual(len(timings.layers), 2)
        self.assertGreaterEqual(timings.batch_rows, 2)

    def check_quality(self, quality, layers: List[str], rows: int) -> None:
        self.assertIsInstance(quality, tuple)
        self.assertEqual([q.layer for q in quality], layers)
        for q in quality:
            self.assertIsInstance(q, self.qc.LayerActQuantQuality)
            self.assertTrue(math.isfinite(q.sqnr_db), q)
            self.assertTrue(15 < q.sqnr_db < 100, q)
            self.assertTrue(0 < q.rel_max_error < 0.5, q)
            self.assertTrue(1 <= q.outlier_ratio < 100, q)
            self.assertEqual(len(q.row_sqnr_db), rows)
            self.assertTrue(all(10 < r < 100 for r in q.row_sqnr_db), q)
            # The whole output's SQNR is a mean of the rows' ratios.
            self.assertLessEqual(min(q.row_sqnr_db), q.sqnr_db + 1e-9)

    def test_act_quant_quality(self) -> None:
        x = self.random(3, 64, 6)
        for model in ("tiny", "tiny_bf16"):
            for mode in ("none", "int8_asym_per_token"):
                with self.subTest(model=model, mode=mode):
                    y, quality = self.client.forward(x, model, act_quant=mode,
                                                     act_quant_quality=True)
                    self.check_quality(quality, ["fc1", "fc2"], 3)
                    # The output is the request's own, bit for bit.
                    plain = self.client.forward(x, model, act_quant=mode)
                    self.assertIsInstance(plain, np.ndarray)
                    self.assertEqual(y.tobytes(), plain.tobytes())
        _, quality = self.client.forward(self.random(2, 32, 7), "tiny",
                                         layer_start=1, act_quant_quality=True)
        self.check_quality(quality, ["fc2"], 2)
        y, quality = self.client.matmul(x, "fc1", "tiny_bf16",
                                        act_quant_quality=True)
        self.assertEqual(y.shape, (3, 96))
        self.check_quality(quality, ["fc1"], 3)
        self.assertEqual(
            self.client.matmul(x, "fc1", "tiny_bf16").tobytes(), y.tobytes())
        y, timings, quality = self.client.forward_with_timings(
            x, "tiny", act_quant_quality=True)
        self.assertEqual(len(timings.layers), 2)
        self.check_quality(quality, ["fc1", "fc2"], 3)
        # Not asked: the output alone, and (output, timings).
        self.assertIsInstance(self.client.matmul(x, "fc1", "tiny"),
                              np.ndarray)
        self.assertEqual(len(self.client.forward_with_timings(x, "tiny")), 2)

    def test_error_statuses(self) -> None:
        grpc = __import__("grpc")
        with self.assertRaises(self.qc.QLinearError) as e:
            self.client.forward(self.random(1, 63, 5), "tiny")
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("input.shape", e.exception.message)
        with self.assertRaises(self.qc.QLinearError) as e:
            self.client.infer(self.random(1, 64, 5), "tiny", act_quant="int4")
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("parameters.act_quant", e.exception.message)
        with self.assertRaises(self.qc.QLinearError) as e:
            self.client.infer(self.random(1, 64, 5), "nope")
        self.assertEqual(e.exception.code, grpc.StatusCode.NOT_FOUND)
        with self.assertRaises(ValueError):
            self.client.forward(self.random(1, 64, 5), "tiny", act_quant="x")

    def test_example_runs(self) -> None:
        example = os.path.join(PACKAGE_ROOT, "examples", "quickstart.py")
        result = subprocess.run(
            [sys.executable, example, "--target", self.target, "--model",
             "tiny_bf16"],
            capture_output=True, text=True, timeout=60, check=False)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("bitwise equal to forward: True", result.stdout)
        self.assertIn("INVALID_ARGUMENT", result.stdout)

    def test_statistics_count_requests(self) -> None:
        before = self.client.statistics("tiny")[0]
        for seed in range(3):
            self.client.infer(self.random(2, 64, seed), "tiny")
        after = self.client.statistics("tiny")[0]
        self.assertEqual(after.name, "tiny")
        self.assertEqual(
            after.inference_stats.success.count -
            before.inference_stats.success.count, 3)
        self.assertEqual(after.inference_count - before.inference_count, 6)
        self.assertGreater(self.client.model("tiny").stats.layers_executed, 0)
        self.assertEqual(len(self.client.statistics()), 2)


def main() -> int:
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--protoc", default="protoc")
    parser.add_argument("--proto-dir", required=True)
    parser.add_argument("--stubs", required=True)
    ARGS, rest = parser.parse_known_args()
    sys.path.insert(0, PACKAGE_ROOT)
    import generate_stubs
    generate_stubs.generate(ARGS.proto_dir, ARGS.stubs, protoc=ARGS.protoc)
    os.environ["QLINEAR_CLIENT_STUBS"] = ARGS.stubs
    program = unittest.main(argv=[sys.argv[0]] + rest, exit=False,
                            verbosity=2)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
