# Shared by the e2e test scripts: source it after setting $server_bin.
# Provides $work (a temporary directory, removed at exit), $server_pid (the
# running qlinear-server, killed at exit), fail MESSAGE (prints the server
# log and exits 1) and start_server ARGS... (starts qlinear-server on
# 127.0.0.1 port 0 with /metrics off and sets $server_pid and $target once it
# logs its bound port, i.e. after loading its models).

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; echo "--- server log" >&2; cat "$work/server.log" >&2; exit 1; }

start_server() {
  "$server_bin" --host 127.0.0.1 --port 0 --metrics-port 0 "$@" > "$work/server.log" 2>&1 &
  server_pid=$!
  local port=""
  for _ in $(seq 1 600); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/server.log" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || fail "server exited during start-up"
    sleep 0.1
  done
  [ -n "$port" ] || fail "server did not report a port within 60 s"
  target="127.0.0.1:$port"
}
