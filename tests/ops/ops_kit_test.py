#!/usr/bin/env python3
"""Checks the operations kit offline: promtool accepts the scrape config and
the rule files, and every expression of the rules and of the Grafana
dashboard uses only metrics the server exports or recording rules define."""
import json
import os
import re
import subprocess
import sys

root = sys.argv[1]
prom_dir = os.path.join(root, "deploy", "prometheus")
failures = []


def check(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f"{' '.join(cmd)}: {r.stdout}{r.stderr}")


check(["promtool", "check", "config", "prometheus.yml"], prom_dir)
rules = [os.path.join("rules", f) for f in sorted(os.listdir(os.path.join(prom_dir, "rules")))]
check(["promtool", "check", "rules", *rules], prom_dir)

# Metric families the server exports: every name given in server/metrics.cc.
source = open(os.path.join(root, "server", "metrics.cc")).read()
exported = set(re.findall(r'"((?:qlinear|process)_[a-z_]+)"', source))
histograms = set(re.findall(r'ToFamily\(\s*"([a-z_]+)"', source))
for h in histograms:
    exported |= {h + "_bucket", h + "_sum", h + "_count"}
recorded = set()
expressions = []
for f in rules:
    text = open(os.path.join(prom_dir, f)).read()
    recorded |= set(re.findall(r"record:\s*(\S+)", text))
    expressions += re.findall(r"expr:\s*>?\s*\n?((?:.*\n)*?)\s*(?:labels:|for:|- record|- alert|$)", text)
dashboard = json.load(open(os.path.join(root, "deploy", "grafana", "qlinear-dashboard.json")))
for panel in dashboard["panels"]:
    for target in panel["targets"]:
        expressions.append(target["expr"])
if len(expressions) < 20:
    failures.append(f"only {len(expressions)} expressions found: the parser is off")
known = exported | recorded
for expr in expressions:
    for name in re.findall(r"\b((?:qlinear|process)[a-z0-9_:]*)", expr):
        if name not in known:
            failures.append(f"unknown metric {name!r} in: {expr.strip()}")
for needed in ["qlinear_kernel_duration_seconds_bucket", "qlinear_requests_total",
               "qlinear_queue_rows", "qlinear_model_ready", "qlinear_kernel_ops_total"]:
    if needed not in exported:
        failures.append(f"the server does not export {needed}")

if failures:
    print("\n".join(failures))
    print("0 passed, 1 failed")
    sys.exit(1)
print(f"checked {len(expressions)} expressions against {len(known)} metric names")
print("1 passed, 0 failed")
