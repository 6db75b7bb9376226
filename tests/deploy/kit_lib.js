// Helpers shared by the offline deploy checks (k8s_check.js for the
// kustomize kit, kserve_check.js for deploy/kserve): resource quantities,
// absl durations, and the server's flags as the sources define them.
'use strict';

const fs = require('fs');
const path = require('path');

// Flags in the command-line contract (README.md) that the server may define
// outside server/*.cc.
const CONTRACT_FLAGS = ['metrics_port'];

const SUFFIX = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};
// A Kubernetes resource quantity ("2", 2, "1500m", "4Gi") as a number.
function quantity(q) {
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$/.exec(String(q));
  if (!m || !(m[2] in SUFFIX)) return NaN;
  return Number(m[1]) * SUFFIX[m[2]];
}

// An absl::Duration flag value ("30s", "1m30s", "500ms") in seconds.
function duration(text) {
  const units = {ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600};
  let rest = text.trim();
  if (rest === '0') return 0;
  let total = 0;
  while (rest.length > 0) {
    const m = /^([0-9]+(?:\.[0-9]*)?)(ns|us|ms|s|m|h)/.exec(rest);
    if (!m) return NaN;
    total += Number(m[1]) * units[m[2]];
    rest = rest.slice(m[0].length);
  }
  return total;
}


// Flag names the server defines: ABSL_FLAG(type, name, ...) in server/ and
// common/ sources, plus the contract's.
function serverFlagNames(source) {
  const names = new Set(CONTRACT_FLAGS);
  for (const dir of ['server', 'common']) {
    const root = path.join(source, dir);
    if (!fs.existsSync(root)) continue;
    const walk = (d) => {
      for (const e of fs.readdirSync(d, {withFileTypes: true})) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(cc|h)$/.test(e.name)) {
          const text = fs.readFileSync(p, 'utf8');
          for (const m of text.matchAll(/ABSL_FLAG\(\s*[\w:<>, ]+?,\s*(\w+)\s*,/g)) names.add(m[1]);
        }
      }
    };
    walk(root);
  }
  return names;
}

// Container args (["--name=value", "--flag", ...]) as a Map from the flag
// name with underscores to its value ('true' for a bare flag). Arguments
// that are not flags are skipped.
function parseFlagArgs(args) {
  const flags = new Map();
  for (const a of args || []) {
    const m = /^--?([\w-]+)(?:=(.*))?$/.exec(a);
    if (!m) continue;
    flags.set(m[1].replace(/-/g, '_'), m[2] === undefined ? 'true' : m[2]);
  }
  return flags;
}

module.exports = {quantity, duration, serverFlagNames, parseFlagArgs};
