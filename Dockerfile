# qlinear container image: qlinear-server (entrypoint), qlinear-cli and
# qlinear-convert on Debian bookworm, from Debian packages only.
#
#   podman build --format docker -t qlinear-server .        # or docker build
#   scripts/build-image.sh                                   # no registry needed
#
# BASE is any Debian bookworm image; scripts/build-image.sh passes a local
# debootstrap one (localhost/debian:bookworm-minbase) where no registry is
# reachable. --format docker keeps the HEALTHCHECK under podman/buildah.
# (The FROM lines repeat the default as ${BASE:-...}: the same image, and it
# spells out a tag for dockerfilelint, which does not expand ARGs.)
ARG BASE=debian:bookworm-slim

# ---------------------------------------------------------------------------
# Build stage: the compiler and the -dev packages of scripts/install-deps.sh
# that the binaries need (no tests, so no GoogleTest).
FROM ${BASE:-debian:bookworm-slim} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake make pkg-config \
      libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto \
      libabsl-dev nlohmann-json3-dev libspdlog-dev libfmt-dev \
      libdnnl-dev ocl-icd-opencl-dev \
      prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . /src
ARG JOBS=2
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release -DQLINEAR_BUILD_TESTS=OFF \
 && cmake --build /build -j "${JOBS}" --target qlinear-server qlinear-cli qlinear-convert \
 && mkdir -p /out \
 && install -m 0755 -s /build/server/qlinear-server /build/clients/cli/qlinear-cli \
      /build/tools/convert/qlinear-convert /out/

# ---------------------------------------------------------------------------
# Runtime stage: the shared libraries the binaries link (see `ldd`), nothing
# else. The ldd check fails the build if one is missing.
FROM ${BASE:-debian:bookworm-slim} AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libabsl20220623 \
      libspdlog1.10 libfmt9 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /models
COPY --from=build /out/ /usr/local/bin/
RUN ! ldd /usr/local/bin/qlinear-server /usr/local/bin/qlinear-cli /usr/local/bin/qlinear-convert | grep "not found"

# A numeric non-root user (Kubernetes runAsNonRoot can verify it).
USER 65532:65532
WORKDIR /models
# 8001 gRPC (qlinear.v1, KServe v2, health, reflection), 8002 Prometheus /metrics.
EXPOSE 8001 8002
# No --start-period (dockerfilelint rejects it): 12 x 10 s cover the weight load.
HEALTHCHECK --interval=10s --timeout=3s --retries=12 \
  CMD ["qlinear-cli", "--target", "127.0.0.1:8001", "health"]
# Arguments after the image name replace CMD and go to qlinear-server as flags,
# e.g. `podman run IMAGE --model-repository=/models --threads=4`.
ENTRYPOINT ["qlinear-server"]
CMD ["--host=0.0.0.0", "--port=8001"]

ARG BASE
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="qlinear-server" \
      org.opencontainers.image.description="gRPC inference server for stacks of quantized (int4/intx) linear layers on CPU" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.documentation="docs/deploy.md" \
      org.opencontainers.image.base.name="${BASE}"
