"""qlinear_client: a typed Python client for the qlinear inference server.

    from qlinear_client import Client
    with Client("localhost:8001") as client:
        y = client.forward(x, "default")   # native API
        z = client.infer(x, "default")     # KServe v2 / Open Inference Protocol

The gRPC stubs are generated, not shipped: run
/usr/bin/python3 clients/python/generate_stubs.py first (see README.md).
"""

from .client import (Client, LayerInfo, LayerTiming, ModelInfo, ModelStats,
                     ModelStatus, QLinearError, Timings, decode, encode)

__all__ = [
    "Client",
    "LayerInfo",
    "LayerTiming",
    "ModelInfo",
    "ModelStats",
    "ModelStatus",
    "QLinearError",
    "Timings",
    "decode",
    "encode",
]
