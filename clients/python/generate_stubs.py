"""Generates the Python gRPC stubs of qlinear's protos.

The stubs are build products, not sources: they are generated from
proto/qlinear/v1/qlinear.proto, proto/inference/*.proto and the standard
grpc.health.v1 proto with protoc and /usr/bin/grpc_python_plugin, into a
directory that qlinear_client puts on sys.path (see qlinear_client._stubs).

Usage (from a source checkout):
  /usr/bin/python3 clients/python/generate_stubs.py [--proto-dir DIR] [--out DIR]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from typing import List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
# The repository's proto/ directory.
DEFAULT_PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
# Where qlinear_client looks when QLINEAR_CLIENT_STUBS is not set.
DEFAULT_OUT_DIR = os.path.join(HERE, "qlinear_client", "_generated")
HEALTH_PROTO = "/usr/share/grpc-proto/grpc/health/v1/health.proto"
GRPC_PYTHON_PLUGIN = "/usr/bin/grpc_python_plugin"

PROTOS = [
    os.path.join("qlinear", "v1", "qlinear.proto"),
    os.path.join("inference", "model_config.proto"),
    os.path.join("inference", "grpc_service.proto"),
]


def generate(proto_dir: str = DEFAULT_PROTO_DIR,
             out_dir: str = DEFAULT_OUT_DIR,
             protoc: str = "protoc",
             plugin: str = GRPC_PYTHON_PLUGIN,
             health_proto: str = HEALTH_PROTO) -> str:
    """Generates *_pb2.py, *_pb2.pyi and *_pb2_grpc.py into out_dir.

    The health proto is generated as the top-level module health_pb2: under
    its own path (grpc/health/v1/) it would shadow the grpc package.
    Returns out_dir. Raises subprocess.CalledProcessError if protoc fails.
    """
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging:
        shutil.copy(health_proto, os.path.join(staging, "health.proto"))
        cmd: List[str] = [
            protoc, "-I", proto_dir, "-I", staging,
            "--python_out=" + out_dir, "--pyi_out=" + out_dir,
            "--grpc_python_out=" + out_dir,
            "--plugin=protoc-gen-grpc_python=" + plugin,
        ] + [os.path.join(proto_dir, p) for p in PROTOS] + [
            os.path.join(staging, "health.proto")]
        subprocess.run(cmd, check=True)
    return out_dir


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR)
    parser.add_argument("--out", default=DEFAULT_OUT_DIR)
    parser.add_argument("--protoc", default="protoc")
    args = parser.parse_args(argv)
    print(generate(args.proto_dir, args.out, args.protoc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
