#!/usr/bin/python3
"""qlinear_client quickstart: list the models, describe one, and run the same
random input through the native Forward and the KServe v2 ModelInfer.

  /usr/bin/python3 clients/python/generate_stubs.py   # once
  make run                                            # another terminal
  /usr/bin/python3 clients/python/examples/quickstart.py --target localhost:8001
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from qlinear_client import Client, QLinearError  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="localhost:8001")
    parser.add_argument("--model", default="default")
    parser.add_argument("--rows", type=int, default=2)
    args = parser.parse_args()

    with Client(args.target) as client:
        print("health:", client.health())
        for m in client.models():
            print(f"model {m.name} version {m.version}: {m.state}")
        info = client.model(args.model)
        print(f"{info.name} v{info.version}: dtype {info.dtype}, "
              f"default act_quant {info.default_act_quant}, "
              f"{len(info.layers)} layers, {info.packed_bytes} packed bytes")
        for layer in info.layers:
            print(f"  {layer.name}: {layer.in_features} -> "
                  f"{layer.out_features} {layer.format} ({layer.kernel})")

        k = info.layers[0].in_features
        x = np.random.default_rng(0).uniform(-1, 1, (args.rows, k))
        y, timings = client.forward_with_timings(x, args.model)
        z = client.infer(x, args.model)
        print(f"forward: {y.shape} {y.dtype}, {timings.total_seconds * 1e3:.2f}"
              f" ms in the server, batch of {timings.batch_rows} rows")
        print(f"infer:   {z.shape} {z.dtype}, bitwise equal to forward: "
              f"{y.tobytes() == z.tobytes()}")
        try:
            client.forward(x[:, :-1], args.model)
        except QLinearError as e:
            print(f"a bad request: {e.code.name}: {e.message}")
        return 0 if y.tobytes() == z.tobytes() else 1


if __name__ == "__main__":
    sys.exit(main())
