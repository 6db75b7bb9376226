#!/usr/bin/env bash
# Smoke test of the container image from outside (make test-image): runs the
# image the way Kubernetes will (non-root, read-only root filesystem, no
# capabilities), ports mapped to free loopback ports, then checks with the
# host's qlinear-cli: health SERVING, list, Forward OK (both activation
# modes); /metrics through curl when the server has --metrics-port; the
# image's HEALTHCHECK; and a graceful SIGTERM stop. Removes the container it
# started, whatever happens.
#
# Usage: tests/deploy/test_image.sh IMAGE QLINEAR_CLI
set -euo pipefail
cd "$(dirname "$0")/../.."

image=${1:?usage: test_image.sh IMAGE QLINEAR_CLI}
cli=${2:?usage: test_image.sh IMAGE QLINEAR_CLI}
[ -x "$cli" ] || { echo "FAIL: no qlinear-cli at $cli" >&2; exit 1; }

# The same containers.conf (runc, ulimits) as the build.
CONTAINERS_CONF=$(bash scripts/build-image.sh --print-conf)
export CONTAINERS_CONF
runtime=()
if command -v runc > /dev/null 2>&1; then runtime=(--runtime runc); fi

name="qlinear-test-image-$$"
started=0
cleanup() {
  if [ "$started" = 1 ]; then
    podman rm -f -t 0 "$name" > /dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "FAIL: $*" >&2
  if [ "$started" = 1 ]; then
    echo "--- container log" >&2
    podman logs "$name" >&2 || true
  fi
  exit 1
}
pass() { echo "ok: $*"; }

# The image's own server decides whether /metrics is part of the test.
# (--help exits 1, so capture it rather than pipe it under pipefail.)
metrics=0
help=$(podman run --rm --no-healthcheck "${runtime[@]}" "$image" --help 2>&1 || true)
if grep -q metrics_port <<< "$help"; then
  metrics=1
fi

# Static image checks: non-root numeric user, ports, labels, HEALTHCHECK.
user=$(podman image inspect --format '{{.Config.User}}' "$image")
[ "${user%%:*}" = 65532 ] || fail "image user is '$user', want 65532"
ports=$(podman image inspect --format '{{json .Config.ExposedPorts}}' "$image")
case "$ports" in *8001/tcp*8002/tcp*) ;; *) fail "exposed ports $ports" ;; esac
for label in title version revision created; do
  value=$(podman image inspect --format "{{index .Config.Labels \"org.opencontainers.image.$label\"}}" "$image")
  [ -n "$value" ] || fail "label org.opencontainers.image.$label missing"
done
podman image inspect --format '{{json .Config.Healthcheck}}' "$image" | grep -q health ||
  fail "no HEALTHCHECK (build with --format docker)"
pass "image: user $user, ports $ports, OCI labels, HEALTHCHECK"

# Run it as Kubernetes would. 127.0.0.1::PORT lets podman pick a free host port.
# No healthcheck timer (podman's needs systemd); the check runs by hand below.
publish=(-p 127.0.0.1::8001)
if [ "$metrics" = 1 ]; then publish+=(-p 127.0.0.1::8002); fi
podman run -d --name "$name" "${runtime[@]}" "${publish[@]}" \
  --read-only --cap-drop ALL --security-opt no-new-privileges \
  --cpus 2 --memory 1g --no-healthcheck \
  "$image" --host=0.0.0.0 --port=8001 --drain-timeout=5s > /dev/null
started=1
host_port() { podman port "$name" "$1/tcp" | head -n 1 | sed 's/.*://'; }
grpc_port=$(host_port 8001)
[ -n "$grpc_port" ] || fail "no host port for 8001"
target="127.0.0.1:$grpc_port"

# Health turns SERVING once the weights are loaded.
state=""
for _ in $(seq 1 240); do
  state=$("$cli" --target "$target" health 2> /dev/null || true)
  [ "$state" = SERVING ] && break
  [ "$(podman inspect --format '{{.State.Running}}' "$name")" = true ] || fail "container exited"
  sleep 0.5
done
[ "$state" = SERVING ] || fail "health is '$state' after 120 s"
pass "health SERVING on $target"

"$cli" --target "$target" list | grep -q default || fail "list has no 'default'"
out=$("$cli" --target "$target" forward --model default --rows 2 --json) || fail "forward: $out"
grep -q '"output_shape": \[2, 1024\]' <<< "$out" || fail "forward: $out"
out=$("$cli" --target "$target" forward --rows 1 --act-quant int8_asym_per_token --json) ||
  fail "forward int8: $out"
grep -q '"output_shape": \[1, 1024\]' <<< "$out" || fail "forward int8: $out"
pass "list and Forward OK (none and int8_asym_per_token)"

if [ "$metrics" = 1 ]; then
  metrics_url="http://127.0.0.1:$(host_port 8002)/metrics"
  body=$(curl -fsS --max-time 10 "$metrics_url") || fail "curl $metrics_url"
  grep -q '^qlinear_' <<< "$body" || fail "no qlinear_ metric at $metrics_url"
  # The HPA's metric (deploy/k8s: qlinear_queue_rows through prometheus-adapter)
  # and the requests just sent.
  grep -q '^qlinear_queue_rows{' <<< "$body" || fail "no qlinear_queue_rows at $metrics_url"
  grep -q '^qlinear_requests_total{' <<< "$body" || fail "no qlinear_requests_total at $metrics_url"
  pass "/metrics scraped ($(echo "$body" | grep -c '^qlinear_') qlinear_ samples)"
else
  echo "skip: /metrics (this server has no --metrics-port yet)"
fi

# The image's HEALTHCHECK command ("CMD" + argv), run inside the container.
read -r -a check <<< "$(podman image inspect --format '{{range .Config.Healthcheck.Test}}{{.}} {{end}}' "$image")"
[ "${check[0]}" = CMD ] || fail "HEALTHCHECK is not an exec-form CMD: ${check[*]}"
podman exec "$name" "${check[@]:1}" > /dev/null || fail "HEALTHCHECK failed: ${check[*]:1}"
pass "HEALTHCHECK (${check[*]:1}) healthy"

# SIGTERM drains and exits 0 (the server is PID 1).
podman stop -t 30 "$name" > /dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
podman logs "$name" 2>&1 | grep -q stopped || fail "no clean stop in the log"
pass "SIGTERM: drained and exited 0"
echo "test-image: all checks passed"
