"""Loads the generated gRPC stubs (see generate_stubs.py).

They are looked up in $QLINEAR_CLIENT_STUBS, else in qlinear_client/_generated
beside this file. That directory goes on sys.path, because the generated
modules import each other by their proto paths (qlinear.v1, inference).
"""

import importlib
import os
import sys
from types import ModuleType

ENV_VAR = "QLINEAR_CLIENT_STUBS"
DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "_generated")


def _stub_dir() -> str:
    path = os.environ.get(ENV_VAR) or DEFAULT_DIR
    marker = os.path.join(path, "qlinear", "v1", "qlinear_pb2.py")
    if not os.path.exists(marker):
        raise ImportError(
            f"qlinear_client: no generated stubs in {path}; run "
            f"'/usr/bin/python3 clients/python/generate_stubs.py' (or set "
            f"{ENV_VAR} to the directory it wrote)")
    return path


def _load(name: str) -> ModuleType:
    return importlib.import_module(name)


_dir = _stub_dir()
if _dir not in sys.path:
    sys.path.insert(0, _dir)

qlinear_pb2 = _load("qlinear.v1.qlinear_pb2")
qlinear_pb2_grpc = _load("qlinear.v1.qlinear_pb2_grpc")
inference_pb2 = _load("inference.grpc_service_pb2")
inference_pb2_grpc = _load("inference.grpc_service_pb2_grpc")
model_config_pb2 = _load("inference.model_config_pb2")
health_pb2 = _load("health_pb2")
health_pb2_grpc = _load("health_pb2_grpc")
