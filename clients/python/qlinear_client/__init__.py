"""qlinear_client: a typed Python client for the qlinear inference server.

    from qlinear_client import Client
    with Client("localhost:8001") as client:
        y = client.forward(x, "default")   # native API
        z = client.infer(x, "default")     # KServe v2 / Open Inference Protocol

The gRPC stubs are generated, not shipped: run
/usr/bin/python3 clients/python/generate_stubs.py first (see README.md).
"""

from .client import (RETRIED_METHODS, ActQuantQuality, Client,
                     LayerActQuantQuality, LayerInfo, LayerTiming, ModelInfo,
                     ModelStats, ModelStatus, QLinearError, Timings,
                     channel_target, decode, encode, service_config)

__all__ = [
    "ActQuantQuality",
    "Client",
    "RETRIED_METHODS",
    "LayerActQuantQuality",
    "LayerInfo",
    "LayerTiming",
    "ModelInfo",
    "ModelStats",
    "ModelStatus",
    "QLinearError",
    "Timings",
    "channel_target",
    "decode",
    "encode",
    "service_config",
]
