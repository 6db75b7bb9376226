#!/usr/bin/env bash
# Installs every Debian package that qlinear's build, tests and tools need.
# Idempotent: packages already present are skipped, and `apt-get update` runs
# only when something is missing. Runs as root, or through sudo otherwise.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake make pkg-config git clang-14 clang-format-14
  # sanitizer job (scripts/ci-sanitize.sh): ASan/UBSan/TSan/libFuzzer runtimes,
  # llvm-symbolizer for the reports' stacks
  libclang-rt-14-dev llvm-14
  # serving stack
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  # kernels baseline (oneDNN needs the OpenCL dev files for its CMake config)
  libdnnl-dev ocl-icd-opencl-dev
  # metrics
  prometheus-cpp-dev prometheus
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # python client and tools (used through /usr/bin/python3)
  python3 python3-grpcio python3-protobuf python3-numpy
  # PyTorch for tools/export_torch.py and its end-to-end test (about 130 MB to
  # download and 530 MB installed with its dependencies; about 30 s here)
  python3-torch
  # e2e helpers
  curl openssl
  # offline Kubernetes manifest checks (tests/deploy)
  yamllint
  # qlinear-bench --plot (latency vs throughput PNGs, through /usr/bin/python3)
  python3-matplotlib
)

# tests/deploy also needs node + npm (kubernetes-models, js-yaml and
# dockerfilelint go into a cache in the build tree). Debian's, unless a node
# with npm is already on PATH (nodesource's nodejs bundles npm and conflicts
# with Debian's npm package).
if ! command -v npm > /dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

# `install-deps.sh --image`: only what `make test-image` adds (image builds
# with podman or buildah, runc instead of crun, debootstrap for the base image;
# see scripts/build-image.sh), so `make test` stays lean.
image_packages() {
  PACKAGES=(podman buildah runc debootstrap)
}
if [ "${1:-}" = "--image" ]; then
  image_packages
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
