#!/usr/bin/python3
"""Scale-out e2e test (ctest e2e_scale_out): three qlinear-server replicas
on loopback, each with --threads 1, behind one client target.

  1. spread: qlinear-bench with a list of three IP:PORT (an ipv4: target,
     round_robin) sends 900 requests; every replica's ModelStatistics
     success count is within 15 % of the mean. The Python client with the
     same target reaches all three, and its service config equals the C++
     clients' (qlinear-cli service-config).
  2. rolling restart: during a closed loop at concurrency 32, each replica
     in turn gets SIGTERM (it drains: new calls get UNAVAILABLE and are
     retried elsewhere), exits 0 and is restarted on its port; the next
     goes once the restarted one serves traffic. The client sees 0 failed
     requests; every request it issued completed OK (none lost); the
     retried attempts are reported.
  3. SIGKILL: during a closed loop at concurrency 32 one replica is killed;
     the client's errors are at most the requests in flight (32), and within
     one second the survivors serve at least half the rate the three served
     in the second before.

  4. (--throughput-seconds > 0, scripts/bench-scale-out.sh) throughput of
     the same closed loop against 1 replica with 1 thread, 2 replicas with
     1 thread each, and 1 replica with 2 threads.

The defaults are the ctest's (about 40 s); scripts/bench-scale-out.sh runs
longer phases and writes --summary for docs/benchmarks.md. Usage:
  scale_out_test.py --server BIN --bench BIN --cli BIN --protoc BIN
                    --proto-dir DIR --stubs DIR [--rolling-seconds 22]
                    [--restart-gap 0] [--kill-seconds 7]
                    [--spread-requests 900]
                    [--throughput-seconds 0] [--summary FILE.json]
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "clients",
                            "python")
CONCURRENCY = 32
SUMMARY: Dict[str, Dict] = {}


def fail(message: str) -> None:
    raise SystemExit(f"FAIL: {message}")


def free_ports(count: int) -> List[int]:
    """Ports free on 127.0.0.1 now (bound together, so distinct)."""
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def wait_until(predicate, timeout: float, what: str, poll: float = 0.05):
    """Polls predicate() until it returns a true value (returned)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    fail(f"{what}: not within {timeout:.0f} s")


class Replica:
    """One qlinear-server process on a fixed loopback port."""

    def __init__(self, binary: str, port: int, work: str, index: int):
        self.binary, self.port, self.work, self.index = binary, port, work, index
        self.starts = 0
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = ""
        self.threads = 1

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        self.log_path = os.path.join(self.work,
                                     f"replica{self.index}.{self.starts}.log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen([
                self.binary, "--host", "127.0.0.1", "--port", str(self.port),
                "--metrics-port", "0", "--threads", str(self.threads),
                "--drain-timeout", "5s"
            ], stdout=log, stderr=subprocess.STDOUT)

    def wait_listening(self) -> None:
        def listening():
            if self.proc.poll() is not None:
                fail(f"replica {self.index} exited at start-up:\n{self.log()}")
            return f"listening on {self.target}" in self.log()
        wait_until(listening, 60, f"replica {self.index} listening")

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail(f"replica {self.index} did not exit within 15 s of {sig}")

    def successes(self) -> int:
        """ModelStatistics success count of model 'default' (all versions)."""
        from qlinear_client import Client, QLinearError
        try:
            with Client(self.target, timeout=5) as client:
                return sum(s.inference_stats.success.count
                           for s in client.statistics("default"))
        except QLinearError:
            return -1


def run_bench(args, targets: str, extra: List[str],
              json_path: str) -> subprocess.Popen:
    out = open(json_path + ".out", "w")
    return subprocess.Popen([
        args.bench, "--target", targets, "--noserver_stats", "--json",
        json_path, "--assert", "errors==0"
    ] + extra, stdout=out, stderr=subprocess.STDOUT)


def bench_point(proc: subprocess.Popen, json_path: str, timeout: float,
                expect_pass: Optional[bool] = True) -> Dict:
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("qlinear-bench did not finish")
    with open(json_path + ".out") as f:
        out = f.read()
    print(out, end="")
    if code not in (0, 1):
        fail(f"qlinear-bench exit code {code}")
    if expect_pass is not None and (code == 0) != expect_pass:
        fail(f"qlinear-bench exit code {code}, expected the assertion to "
             f"{'pass' if expect_pass else 'fail'}")
    with open(json_path) as f:
        return json.load(f)["points"][0]


def start_loaded_run(args, replicas: List[Replica], targets: str,
                     json_path: str, seconds: int) -> subprocess.Popen:
    """Starts a closed loop at CONCURRENCY for `seconds` and returns once
    every replica serves part of it."""
    bench = run_bench(args, targets, [
        "--concurrency", str(CONCURRENCY), "--duration", f"{seconds}s",
        "--warmup", "1s", "--timeout", "10s"
    ], json_path)
    for r in replicas:
        base = r.successes()
        wait_until(lambda: r.successes() > base, 10,
                   f"traffic on replica {r.index}")
    return bench


def test_spread(args, replicas: List[Replica], targets: str,
                work: str) -> None:
    before = [r.successes() for r in replicas]
    point = bench_point(
        run_bench(args, targets, ["--concurrency", "6", "--requests",
                                  str(args.spread_requests), "--warmup", "0s"],
                  os.path.join(work, "spread.json")),
        os.path.join(work, "spread.json"), 60)
    counts = [r.successes() - b for r, b in zip(replicas, before)]
    mean = sum(counts) / len(counts)
    print(f"spread: ModelStatistics successes per replica {counts}, "
          f"mean {mean:.1f}, client ok {point['ok']}")
    SUMMARY["spread"] = {"counts": counts, "mean": mean,
                         "client_ok": point["ok"]}
    for i, c in enumerate(counts):
        if abs(c - mean) > 0.15 * mean:
            fail(f"replica {i} served {c}, more than 15 % from the mean "
                 f"{mean:.1f}: {counts}")

    from qlinear_client import Client, service_config
    import numpy as np
    before = [r.successes() for r in replicas]
    with Client([r.target for r in replicas]) as client:
        x = np.ones((1, 1024), dtype=np.float32)
        for _ in range(30):
            client.forward(x, "default")
    gained = [r.successes() - b for r, b in zip(replicas, before)]
    print(f"spread: the Python client's 30 calls per replica {gained}")
    if min(gained) < 5:
        fail(f"the Python client did not balance over the replicas: {gained}")
    cli = subprocess.run([args.cli, "service-config"], check=True,
                         capture_output=True, text=True).stdout
    if json.loads(cli) != json.loads(service_config()):
        fail(f"service configs differ:\n C++ {cli}\n Python "
             f"{service_config()}")


def test_rolling_restart(args, replicas: List[Replica], targets: str,
                         work: str) -> None:
    path = os.path.join(work, "rolling.json")
    start = time.monotonic()
    bench = start_loaded_run(args, replicas, targets, path,
                             args.rolling_seconds)
    # --restart-gap spreads the restarts over the window: one SIGTERM every
    # `gap` s (0: each as soon as the previous replica serves again).
    gap = args.restart_gap
    restarts = []
    for i, r in enumerate(replicas):
        if gap:
            time.sleep(max(0.0, start + (i + 1) * gap - time.monotonic()))
        stopped = time.monotonic()
        code = r.stop(signal.SIGTERM)
        if code != 0:
            fail(f"replica {r.index} exit code {code} after SIGTERM:\n{r.log()}")
        if "draining" not in r.log():
            fail(f"replica {r.index} did not drain:\n{r.log()}")
        r.start()
        r.wait_listening()
        wait_until(lambda: r.successes() > 0, 10,
                   f"restarted replica {r.index} serving traffic")
        restarts.append({"replica": r.index,
                         "sigterm_at": round(stopped - start, 2),
                         "serving_again_after": round(time.monotonic() - stopped, 2)})
        print(f"rolling restart: replica {r.index} restarted and serving at "
              f"{time.monotonic() - start:.1f} s")
    if bench.poll() is not None:
        fail("the closed loop ended before the rolling restart did")
    point = bench_point(bench, path, 60)
    print(f"rolling restart: {point['requests']} requests, {point['ok']} ok, "
          f"{point['errors']} failed, {point['retries']} retried attempts")
    SUMMARY["rolling_restart"] = {
        key: point[key] for key in ("requests", "ok", "errors", "retries",
                                    "requests_per_second", "seconds")
    }
    SUMMARY["rolling_restart"]["latency_seconds"] = point["latency_seconds"]
    SUMMARY["rolling_restart"]["restarts"] = restarts
    if point["errors"] != 0 or point["ok"] != point["requests"] or \
            point["requests"] == 0:
        fail(f"requests failed or were lost during the rolling restart: "
             f"{point}")


def test_sigkill(args, replicas: List[Replica], targets: str,
                 work: str) -> None:
    path = os.path.join(work, "kill.json")
    bench = start_loaded_run(args, replicas, targets, path, args.kill_seconds)
    victim, survivors = replicas[0], replicas[1:]
    t0 = time.monotonic()
    s0 = [r.successes() for r in replicas]
    time.sleep(1.0)  # a fixed measurement window, not a wait for an event
    s1 = [r.successes() for r in replicas]
    before_rate = (sum(s1) - sum(s0)) / (time.monotonic() - t0)
    victim.stop(signal.SIGKILL)
    t1 = time.monotonic()
    # The survivors' successes every 100 ms through the second after.
    timeline = [(0.0, sum(r.successes() for r in survivors))]
    while timeline[-1][0] < 1.0:
        time.sleep(0.1)
        timeline.append((time.monotonic() - t1,
                         sum(r.successes() for r in survivors)))
    after_rate = (timeline[-1][1] - timeline[0][1]) / timeline[-1][0]
    print("SIGKILL: survivors' successes after the kill: " + ", ".join(
        f"{t:.2f} s: {n - timeline[0][1]}" for t, n in timeline))
    point = bench_point(bench, path, 60, expect_pass=None)
    codes = {k: v for k, v in point["codes"].items() if k != "OK" and v}
    print(f"SIGKILL: {before_rate:.0f} req/s on 3 replicas before, "
          f"{after_rate:.0f} req/s on the 2 survivors in the second after; "
          f"client errors {point['errors']} {codes}, "
          f"{point['retries']} retried attempts")
    SUMMARY["sigkill"] = {
        "rate_before": before_rate, "survivors_rate_after": after_rate,
        "errors": point["errors"], "codes": codes,
        "retries": point["retries"], "requests": point["requests"],
        "timeline": timeline
    }
    if point["errors"] > CONCURRENCY:
        fail(f"{point['errors']} errors after one SIGKILL, more than the "
             f"{CONCURRENCY} requests in flight")
    if after_rate < 0.5 * before_rate:
        fail(f"traffic did not move to the survivors within a second: "
             f"{after_rate:.0f} req/s after vs {before_rate:.0f} before")


def test_throughput(args, replicas: List[Replica], targets: str,
                    work: str) -> None:
    """1 replica x 1 thread, 2 replicas x 1 thread, 1 replica x 2 threads,
    each under the same closed loop (concurrency 32)."""
    for r in replicas:
        if r.proc is not None and r.proc.poll() is None:
            r.stop(signal.SIGTERM)
    results = {}
    for name, count, threads in (("1 replica, 1 thread", 1, 1),
                                 ("2 replicas, 1 thread each", 2, 1),
                                 ("1 replica, 2 threads", 1, 2)):
        chosen = replicas[:count]
        for r in chosen:
            r.threads = threads
            r.start()
        for r in chosen:
            r.wait_listening()
        path = os.path.join(work, f"throughput{count}x{threads}.json")
        point = bench_point(
            run_bench(args, ",".join(r.target for r in chosen), [
                "--concurrency", str(CONCURRENCY), "--duration",
                f"{args.throughput_seconds}s", "--warmup", "2s"
            ], path), path, args.throughput_seconds + 60)
        results[name] = {
            key: point[key] for key in ("requests_per_second", "errors")
        }
        results[name]["latency_seconds"] = point["latency_seconds"]
        print(f"throughput: {name}: {point['requests_per_second']:.1f} req/s")
        for r in chosen:
            r.stop(signal.SIGTERM)
    SUMMARY["throughput"] = results


def main() -> int:
    parser = argparse.ArgumentParser()
    for flag in ("--server", "--bench", "--cli", "--protoc", "--proto-dir",
                 "--stubs"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--spread-requests", type=int, default=900)
    parser.add_argument("--rolling-seconds", type=int, default=22)
    parser.add_argument("--restart-gap", type=float, default=0)
    parser.add_argument("--kill-seconds", type=int, default=7)
    parser.add_argument("--throughput-seconds", type=int, default=0)
    parser.add_argument("--summary", default="")
    args = parser.parse_args()
    sys.path.insert(0, PACKAGE_ROOT)
    import generate_stubs
    generate_stubs.generate(args.proto_dir, args.stubs, protoc=args.protoc)
    os.environ["QLINEAR_CLIENT_STUBS"] = args.stubs

    with tempfile.TemporaryDirectory() as work:
        replicas = [
            Replica(args.server, port, work, i)
            for i, port in enumerate(free_ports(3))
        ]
        try:
            for r in replicas:
                r.start()
            for r in replicas:
                r.wait_listening()
            targets = ",".join(r.target for r in replicas)
            tests = [test_spread, test_rolling_restart, test_sigkill]
            if args.throughput_seconds > 0:
                tests.append(test_throughput)
            for test in tests:
                started = time.monotonic()
                test(args, replicas, targets, work)
                print(f"ok: {test.__name__} ({time.monotonic() - started:.1f} s)")
        except SystemExit:
            for r in replicas:
                for start in range(1, r.starts + 1):
                    path = os.path.join(work, f"replica{r.index}.{start}.log")
                    with open(path) as f:
                        text = f.read()
                    print(f"--- replica {r.index}, start {start}: {path}")
                    print(text[-3000:])
            raise
        finally:
            for r in replicas:
                if r.proc is not None and r.proc.poll() is None:
                    r.proc.kill()
                    r.proc.wait()
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(SUMMARY, f, indent=1)
    print("scale_out: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
