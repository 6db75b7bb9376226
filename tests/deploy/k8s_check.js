#!/usr/bin/env node
// Offline checks of rendered Kubernetes manifests (`kubectl kustomize` output
// of deploy/k8s/overlays/*), run by tests/deploy/validate_k8s.sh:
//
//  1. schema: every built-in object against the Kubernetes 1.27 OpenAPI
//     schemas bundled in npm kubernetes-models@4; CRDs (ServiceMonitor) are
//     checked structurally instead;
//  2. invariants of the kit: gRPC probes, grace period above drain timeout
//     plus preStop, integer CPU with requests == limits, non-root read-only
//     container without capabilities, models volume, Services, PDB,
//     NetworkPolicy, ServiceMonitor, HPA on qlinear_queue_rows as the
//     prometheus-adapter rule exposes it, server flags that exist, GOAWAY
//     after a maximum connection age in prod.
//
// Usage:
//   node k8s_check.js --modules DIR --source DIR --overlay NAME RENDERED.yaml
//   node k8s_check.js --modules DIR --source DIR --self-test RENDERED.yaml
// --modules is the node_modules directory holding kubernetes-models and
// js-yaml; --source the repository root. --self-test applies known-bad
// mutations to a rendered prod overlay and fails unless each is caught.
'use strict';

const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const out = {files: []};
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--modules') out.modules = argv[++i];
    else if (a === '--source') out.source = argv[++i];
    else if (a === '--overlay') out.overlay = argv[++i];
    else if (a === '--self-test') out.selfTest = true;
    else if (a.startsWith('--')) throw new Error(`unknown flag ${a}`);
    else out.files.push(a);
  }
  if (!out.modules || !out.source || out.files.length !== 1 ||
      (!out.overlay && !out.selfTest)) {
    throw new Error('usage: k8s_check.js --modules DIR --source DIR ' +
                    '(--overlay NAME | --self-test) RENDERED.yaml');
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const yaml = require(path.join(path.resolve(args.modules), 'js-yaml'));
const modelsDir = path.join(path.resolve(args.modules), 'kubernetes-models');
const {duration, parseFlagArgs, quantity, serverFlagNames} = require('./kit_lib.js');

// What each overlay must be; other overlays get the common checks only.
const OVERLAYS = {
  dev: {hpa: false, replicas: 1, serviceMonitor: false},
  prod: {hpa: true, serviceMonitor: true, maxConnectionAge: true},
};
const APP = 'qlinear-server';
const IMAGE_USER = 65532;  // USER of the Dockerfile
const HPA_METRIC = 'qlinear_queue_rows';
const MIN_STARTUP_SECONDS = 60;
// Set in the Deployment's args, next to the ports and probes.
const ARGS_ONLY_FLAGS = ['host', 'port', 'metrics_port'];

// ---------------------------------------------------------------------------
// Helpers

function id(doc) {
  const ns = doc.metadata && doc.metadata.namespace ? `${doc.metadata.namespace}/` : '';
  return `${doc.kind}/${ns}${doc.metadata ? doc.metadata.name : '?'}`;
}

function labelsMatch(selector, labels) {
  if (!selector) return false;
  return Object.entries(selector).every(([k, v]) => labels && labels[k] === v);
}

// The flags a container gets: its args plus the --flagfile's lines, read
// from the ConfigMap mounted at the flagfile's directory.
function containerFlags(container, podSpec, docs, errors) {
  const flags = new Map();
  const args = [...(container.command || []).slice(1), ...(container.args || [])];
  const fromArgs = parseFlagArgs(args);
  const flagfile = fromArgs.get('flagfile') || null;
  fromArgs.delete('flagfile');
  if (flagfile) {
    const mount = (container.volumeMounts || []).find(
        (vm) => flagfile.startsWith(vm.mountPath.replace(/\/?$/, '/')));
    const volume = mount && (podSpec.volumes || []).find((v) => v.name === mount.name);
    const cmName = volume && volume.configMap && volume.configMap.name;
    const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === cmName);
    const key = mount ? flagfile.slice(mount.mountPath.replace(/\/?$/, '/').length) : '';
    if (!cm || !cm.data || cm.data[key] === undefined) {
      errors.push(`--flagfile=${flagfile}: no ConfigMap key '${key}' mounted there`);
    } else {
      cm.data[key].split('\n').forEach((raw, i) => {
        const line = raw.trim();
        if (line === '' || line.startsWith('#')) return;
        const m = /^--([\w-]+)=(.*)$/.exec(line);
        if (!m) {
          errors.push(`ConfigMap ${cmName} ${key}:${i + 1}: '${line}' is not --name=value`);
          return;
        }
        if (m[1].includes('-')) {
          errors.push(`ConfigMap ${cmName} ${key}:${i + 1}: --${m[1]}: a flagfile needs ` +
                      `underscores (--${m[1].replace(/-/g, '_')})`);
        }
        if (ARGS_ONLY_FLAGS.includes(m[1])) {
          errors.push(`ConfigMap ${cmName} ${key}:${i + 1}: --${m[1]} belongs in the ` +
                      'Deployment args (ports and probes depend on it)');
        }
        flags.set(m[1], m[2]);
      });
    }
  }
  for (const [k, v] of fromArgs) flags.set(k, v);  // later args win
  return flags;
}

// ---------------------------------------------------------------------------
// 1. Schema

function schemaErrors(doc) {
  if (!doc || typeof doc !== 'object' || !doc.apiVersion || !doc.kind) {
    return ['object without apiVersion/kind'];
  }
  const [group, version] = doc.apiVersion.includes('/') ?
      doc.apiVersion.split('/') : [null, doc.apiVersion];
  if (group === 'monitoring.coreos.com') return serviceMonitorShape(doc);
  let Cls;
  try {
    const mod = require(path.join(modelsDir, ...(group ? [group, version] : [version])));
    Cls = mod[doc.kind];
  } catch (e) {
    Cls = undefined;
  }
  if (!Cls) return [`${id(doc)}: no schema for ${doc.apiVersion} ${doc.kind}`];
  try {
    new Cls(doc).validate();
  } catch (e) {
    return [`${id(doc)}: schema: ${e.message}`];
  }
  return [];
}

// A CRD: no schema here, so the fields the kit relies on, with their types.
function serviceMonitorShape(doc) {
  const errors = [];
  const where = id(doc);
  if (doc.apiVersion !== 'monitoring.coreos.com/v1' || doc.kind !== 'ServiceMonitor') {
    return [`${where}: unexpected custom resource ${doc.apiVersion} ${doc.kind}`];
  }
  const known = new Set(['apiVersion', 'kind', 'metadata', 'spec']);
  Object.keys(doc).filter((k) => !known.has(k)).forEach((k) => errors.push(`${where}: unknown field ${k}`));
  if (!doc.metadata || typeof doc.metadata.name !== 'string') errors.push(`${where}: metadata.name`);
  const spec = doc.spec || {};
  const specKeys = new Set(['selector', 'endpoints', 'namespaceSelector', 'jobLabel',
    'targetLabels', 'podTargetLabels', 'sampleLimit']);
  Object.keys(spec).filter((k) => !specKeys.has(k)).forEach((k) => errors.push(`${where}: unknown field spec.${k}`));
  if (!spec.selector || typeof spec.selector.matchLabels !== 'object') {
    errors.push(`${where}: spec.selector.matchLabels must be a map`);
  }
  if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) {
    errors.push(`${where}: spec.endpoints must be a non-empty list`);
  } else {
    const epKeys = new Set(['port', 'targetPort', 'path', 'scheme', 'interval', 'scrapeTimeout',
      'honorLabels', 'relabelings', 'metricRelabelings', 'tlsConfig', 'bearerTokenSecret']);
    spec.endpoints.forEach((ep, i) => {
      Object.keys(ep).filter((k) => !epKeys.has(k)).forEach((k) => errors.push(`${where}: unknown field spec.endpoints[${i}].${k}`));
      if (typeof ep.port !== 'string') errors.push(`${where}: spec.endpoints[${i}].port must be a port name`);
      for (const k of ['interval', 'scrapeTimeout']) {
        if (ep[k] !== undefined && !/^([0-9]+(ms|s|m|h))+$/.test(ep[k])) {
          errors.push(`${where}: spec.endpoints[${i}].${k} '${ep[k]}' is not a duration`);
        }
      }
      if (ep.scheme !== undefined && !['http', 'https'].includes(ep.scheme)) {
        errors.push(`${where}: spec.endpoints[${i}].scheme`);
      }
    });
  }
  return errors;
}

// ---------------------------------------------------------------------------
// 2. Invariants

function invariantErrors(docs, overlay, source) {
  const errors = [];
  const err = (msg) => errors.push(msg);
  const expect = OVERLAYS[overlay] || {};
  const of = (kind) => docs.filter((d) => d.kind === kind);

  const deployments = of('Deployment').filter((d) => d.metadata.name === APP);
  if (deployments.length !== 1) {
    err(`want one Deployment ${APP}, found ${deployments.length}`);
    return errors;
  }
  const dep = deployments[0];
  const where = id(dep);
  const podSpec = (dep.spec.template || {}).spec || {};
  const podLabels = ((dep.spec.template || {}).metadata || {}).labels || {};
  if (!labelsMatch(dep.spec.selector && dep.spec.selector.matchLabels, podLabels)) {
    err(`${where}: selector does not match the pod template labels`);
  }
  const container = (podSpec.containers || []).find((c) => c.name === APP);
  if (!container) {
    err(`${where}: no container ${APP}`);
    return errors;
  }

  // Image: a registry path with a tag or digest, never :latest.
  const image = container.image || '';
  if (!/[:@]/.test(image.split('/').pop()) || /:latest$/.test(image) || !image.includes('/')) {
    err(`${where}: image '${image}' must be REGISTRY/NAME:TAG (set by the overlay's images:)`);
  }

  // Flags.
  const flagErrors = [];
  const flags = containerFlags(container, podSpec, docs, flagErrors);
  flagErrors.forEach(err);
  const known = serverFlagNames(source);
  for (const name of flags.keys()) {
    if (!known.has(name)) err(`${where}: flag --${name} is not a qlinear-server flag`);
  }

  // Ports: args, container ports, probes agree.
  const ports = Object.fromEntries((container.ports || []).map((p) => [p.name, p.containerPort]));
  if (ports.grpc === undefined) err(`${where}: no container port named grpc`);
  if (ports.metrics === undefined) err(`${where}: no container port named metrics`);
  if (flags.has('port') && Number(flags.get('port')) !== ports.grpc) {
    err(`${where}: --port=${flags.get('port')} but container port grpc is ${ports.grpc}`);
  }
  if (flags.has('metrics_port') && Number(flags.get('metrics_port')) !== ports.metrics) {
    err(`${where}: --metrics-port=${flags.get('metrics_port')} but container port metrics is ${ports.metrics}`);
  }
  if (!flags.has('port') || !flags.has('metrics_port')) {
    err(`${where}: args must set --port and --metrics-port`);
  }

  // Native gRPC probes.
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    const p = container[probe];
    if (!p) {
      err(`${where}: ${probe} missing`);
      continue;
    }
    if (!p.grpc) err(`${where}: ${probe} must be a native grpc probe`);
    else if (p.grpc.port !== ports.grpc) err(`${where}: ${probe} port ${p.grpc.port} is not the grpc port ${ports.grpc}`);
  }
  const ready = container.readinessProbe;
  if (ready && ready.grpc && !ready.grpc.service) {
    err(`${where}: readinessProbe must name a model (grpc.service), so readiness follows model readiness`);
  }
  const startup = container.startupProbe;
  if (startup) {
    const budget = (startup.periodSeconds || 10) * (startup.failureThreshold || 3);
    if (budget < MIN_STARTUP_SECONDS) {
      err(`${where}: startupProbe allows ${budget} s for the weight load, want >= ${MIN_STARTUP_SECONDS} s`);
    }
  }

  // Graceful termination: grace > preStop sleep + drain timeout.
  const preStop = container.lifecycle && container.lifecycle.preStop;
  let sleep = NaN;
  if (!preStop) err(`${where}: no preStop hook`);
  else if (preStop.sleep) sleep = Number(preStop.sleep.seconds);
  else if (preStop.exec && preStop.exec.command && preStop.exec.command[0] === 'sleep') {
    sleep = Number(preStop.exec.command[1]);
  }
  if (preStop && !(sleep > 0)) err(`${where}: preStop must sleep a positive number of seconds`);
  const drainText = flags.has('drain_timeout') ? flags.get('drain_timeout') : '30s';
  const drain = duration(drainText);
  if (Number.isNaN(drain)) err(`${where}: --drain_timeout=${drainText} is not a duration`);
  const grace = podSpec.terminationGracePeriodSeconds === undefined ?
      30 : podSpec.terminationGracePeriodSeconds;
  if (!(grace > drain + (sleep || 0))) {
    err(`${where}: terminationGracePeriodSeconds ${grace} must exceed preStop ${sleep} s + ` +
        `--drain_timeout ${drainText}`);
  }

  // GOAWAY on old connections, so clients rebalance over new replicas.
  if (expect.maxConnectionAge && !(duration(flags.get('max_connection_age') || '0') > 0)) {
    err(`${where}: --max_connection_age must be set in ${overlay}, so clients reach replicas the HPA adds`);
  }

  // Guaranteed QoS with integer CPUs.
  const res = container.resources || {};
  for (const r of ['cpu', 'memory']) {
    const req = res.requests && res.requests[r];
    const lim = res.limits && res.limits[r];
    if (req === undefined || lim === undefined) {
      err(`${where}: resources.requests.${r} and resources.limits.${r} must both be set`);
      continue;
    }
    if (quantity(req) !== quantity(lim)) {
      err(`${where}: ${r} requests (${req}) must equal limits (${lim})`);
    }
    if (r === 'cpu' && !(Number.isInteger(quantity(lim)) && quantity(lim) >= 1)) {
      err(`${where}: cpu ${lim} must be an integer number of CPUs (static CPU pinning)`);
    }
  }

  // Non-root, read-only, no capabilities.
  const psc = podSpec.securityContext || {};
  const csc = container.securityContext || {};
  const eff = (k) => (csc[k] !== undefined ? csc[k] : psc[k]);
  if (eff('runAsNonRoot') !== true) err(`${where}: runAsNonRoot must be true`);
  if (eff('runAsUser') !== IMAGE_USER) err(`${where}: runAsUser must be ${IMAGE_USER} (the image's user)`);
  if (csc.readOnlyRootFilesystem !== true) err(`${where}: readOnlyRootFilesystem must be true`);
  if (csc.allowPrivilegeEscalation !== false) err(`${where}: allowPrivilegeEscalation must be false`);
  if (csc.privileged) err(`${where}: privileged`);
  const drop = (csc.capabilities && csc.capabilities.drop) || [];
  if (!drop.includes('ALL')) err(`${where}: capabilities.drop must include ALL`);
  if ((csc.capabilities && csc.capabilities.add || []).length) err(`${where}: capabilities.add must be empty`);
  const seccomp = eff('seccompProfile');
  if (!seccomp || seccomp.type !== 'RuntimeDefault') err(`${where}: seccompProfile must be RuntimeDefault`);

  // The models volume, mounted where --model_repository points.
  const models = (podSpec.volumes || []).find((v) => v.name === 'models');
  const modelsMount = (container.volumeMounts || []).find((vm) => vm.name === 'models');
  if (!models || !modelsMount) err(`${where}: no models volume mounted`);
  const repo = flags.get('model_repository') || '';
  if (repo && !(container.volumeMounts || []).some(
      (vm) => repo === vm.mountPath || repo.startsWith(vm.mountPath.replace(/\/?$/, '/')))) {
    err(`${where}: --model_repository=${repo} is not on a mounted volume`);
  }
  if (models && models.persistentVolumeClaim) {
    const claim = models.persistentVolumeClaim.claimName;
    if (!of('PersistentVolumeClaim').some((p) => p.metadata.name === claim)) {
      err(`${where}: models volume claims '${claim}', which the kit does not define`);
    }
  }

  // Replicas and the autoscaler.
  const hpas = of('HorizontalPodAutoscaler');
  if (expect.replicas !== undefined && dep.spec.replicas !== expect.replicas) {
    err(`${where}: replicas ${dep.spec.replicas}, want ${expect.replicas} in ${overlay}`);
  }
  if (expect.hpa === false && hpas.length) err(`${overlay} must not have a HorizontalPodAutoscaler`);
  if (expect.hpa === true && hpas.length !== 1) err(`${overlay} needs one HorizontalPodAutoscaler`);
  const adapterMetrics = adapterMetricNames(source, err);
  let minReplicas = dep.spec.replicas === undefined ? 1 : dep.spec.replicas;
  for (const hpa of hpas) {
    const h = id(hpa);
    if (hpa.apiVersion !== 'autoscaling/v2') err(`${h}: must be autoscaling/v2`);
    const ref = hpa.spec.scaleTargetRef || {};
    if (ref.kind !== 'Deployment' || ref.name !== APP) err(`${h}: must scale Deployment ${APP}`);
    const pods = (hpa.spec.metrics || []).filter((m) => m.type === 'Pods' && m.pods &&
                                                  m.pods.metric.name === HPA_METRIC);
    if (pods.length !== 1) err(`${h}: needs a Pods metric ${HPA_METRIC} (queue depth)`);
    for (const m of hpa.spec.metrics || []) {
      if (m.type === 'Pods' && !adapterMetrics.has(m.pods.metric.name)) {
        err(`${h}: metric ${m.pods.metric.name} is not exposed by deploy/k8s/prometheus-adapter`);
      }
    }
    if (!(hpa.spec.minReplicas >= 2)) err(`${h}: minReplicas must be >= 2`);
    if (!(hpa.spec.maxReplicas >= hpa.spec.minReplicas)) err(`${h}: maxReplicas < minReplicas`);
    if (dep.spec.replicas !== undefined) {
      err(`${where}: spec.replicas is set while ${h} owns the replica count (every apply would reset it)`);
    }
    minReplicas = hpa.spec.minReplicas;
  }

  // Services: a ClusterIP one and a headless one, gRPC with appProtocol.
  const services = of('Service').filter((s) => labelsMatch(s.spec.selector, podLabels));
  const grpcPort = (s) => (s.spec.ports || []).find(
      (p) => p.appProtocol === 'grpc' && (p.targetPort === 'grpc' || p.targetPort === ports.grpc));
  const clusterIP = services.find((s) => s.spec.clusterIP !== 'None' &&
                                         (s.spec.type || 'ClusterIP') === 'ClusterIP' && grpcPort(s));
  const headless = services.find((s) => s.spec.clusterIP === 'None' && grpcPort(s));
  if (!clusterIP) err('no ClusterIP Service with an appProtocol: grpc port for the server pods');
  if (!headless) err('no headless Service (clusterIP: None) with a grpc port for the server pods');
  of('Service').filter((s) => !labelsMatch(s.spec.selector, podLabels))
      .forEach((s) => err(`${id(s)}: selector matches no server pod`));

  // PodDisruptionBudget: present, and allows a voluntary disruption.
  const pdbs = of('PodDisruptionBudget').filter((p) => labelsMatch(p.spec.selector.matchLabels, podLabels));
  if (pdbs.length !== 1) err('want one PodDisruptionBudget selecting the server pods');
  for (const p of pdbs) {
    if (typeof p.spec.minAvailable === 'number' && p.spec.minAvailable >= minReplicas) {
      err(`${id(p)}: minAvailable ${p.spec.minAvailable} blocks every eviction at ${minReplicas} replicas`);
    }
    if (p.spec.maxUnavailable === 0 || p.spec.maxUnavailable === '0%') err(`${id(p)}: maxUnavailable 0`);
  }

  // NetworkPolicy: ingress to grpc and metrics, nothing open to all.
  const nps = of('NetworkPolicy').filter((n) => labelsMatch(n.spec.podSelector.matchLabels, podLabels));
  if (nps.length < 1) err('no NetworkPolicy selects the server pods');
  const portNames = {grpc: ports.grpc, metrics: ports.metrics};
  const covered = new Set();
  for (const n of nps) {
    for (const rule of n.spec.ingress || []) {
      if (!rule.from || rule.from.length === 0) err(`${id(n)}: an ingress rule admits every source`);
      for (const p of rule.ports || []) {
        covered.add(typeof p.port === 'string' ? portNames[p.port] : p.port);
      }
    }
  }
  for (const [name, port] of Object.entries(portNames)) {
    if (!covered.has(port)) err(`NetworkPolicy: no ingress rule for the ${name} port ${port}`);
  }

  // ServiceMonitor: selects the ClusterIP Service and its metrics port.
  const sms = of('ServiceMonitor');
  if (expect.serviceMonitor === true && sms.length !== 1) err(`${overlay} needs one ServiceMonitor`);
  if (expect.serviceMonitor === false && sms.length) err(`${overlay} must not have a ServiceMonitor`);
  for (const sm of sms) {
    const selected = of('Service').filter((s) => labelsMatch(sm.spec.selector.matchLabels, s.metadata.labels));
    if (selected.length !== 1) {
      err(`${id(sm)}: selects ${selected.length} Services, want exactly one (no duplicate scrapes)`);
      continue;
    }
    for (const ep of sm.spec.endpoints || []) {
      const sp = (selected[0].spec.ports || []).find((p) => p.name === ep.port);
      if (!sp) err(`${id(sm)}: Service ${selected[0].metadata.name} has no port '${ep.port}'`);
      else if (sp.targetPort !== 'metrics' && sp.targetPort !== ports.metrics) {
        err(`${id(sm)}: port '${ep.port}' does not reach the metrics container port`);
      }
      if ((ep.path || '/metrics') !== '/metrics') err(`${id(sm)}: path must be /metrics`);
    }
  }

  // One namespace for everything namespaced.
  const namespaces = new Set(docs.filter((d) => d.kind !== 'Namespace').map((d) => d.metadata.namespace));
  if (namespaces.size !== 1 || namespaces.has(undefined)) {
    err(`objects must share one namespace set by the overlay, found ${[...namespaces].join(', ')}`);
  }
  return errors;
}

// Metric names the prometheus-adapter rules expose (name.as).
function adapterMetricNames(source, err) {
  const names = new Set();
  const file = path.join(source, 'deploy/k8s/prometheus-adapter/values.yaml');
  let values;
  try {
    values = yaml.load(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    err(`${file}: ${e.message}`);
    return names;
  }
  const rules = (values && values.rules && values.rules.custom) || [];
  for (const r of rules) {
    if (!r.seriesQuery || !r.metricsQuery || !r.resources || !r.name) {
      err(`${file}: a rule needs seriesQuery, resources, name and metricsQuery`);
      continue;
    }
    const ov = (r.resources.overrides) || {};
    if (!ov.pod || ov.pod.resource !== 'pod' || !ov.namespace) {
      err(`${file}: rule ${r.seriesQuery} must map the pod and namespace labels`);
    }
    names.add(r.name.as || r.seriesQuery.replace(/\{.*$/, ''));
  }
  return names;
}

// ---------------------------------------------------------------------------

function check(docs, overlay) {
  const errors = [];
  for (const d of docs) errors.push(...schemaErrors(d));
  errors.push(...invariantErrors(docs, overlay, args.source));
  return errors;
}

function loadDocs(file) {
  return yaml.loadAll(fs.readFileSync(file, 'utf8')).filter((d) => d !== null && d !== undefined);
}

// Known-bad edits of a good prod render: each must be reported.
function selfTest(file) {
  const dep = (docs) => docs.find((d) => d.kind === 'Deployment');
  const ctr = (docs) => dep(docs).spec.template.spec.containers[0];
  const flagsCm = (docs) => docs.find((d) => d.kind === 'ConfigMap');
  const cases = [
    ['grace not above drain + preStop', /terminationGracePeriodSeconds/,
      (d) => { dep(d).spec.template.spec.terminationGracePeriodSeconds = 30; }],
    ['drain timeout raised in the flags', /terminationGracePeriodSeconds/,
      (d) => { const cm = flagsCm(d); const k = Object.keys(cm.data)[0]; cm.data[k] += '--drain_timeout=2m\n'; }],
    ['no readiness probe', /readinessProbe missing/, (d) => { delete ctr(d).readinessProbe; }],
    ['HTTP liveness probe', /livenessProbe must be a native grpc/,
      (d) => { ctr(d).livenessProbe = {httpGet: {path: '/', port: 8001}}; }],
    ['readiness without a model', /must name a model/, (d) => { delete ctr(d).readinessProbe.grpc.service; }],
    ['fractional CPU', /integer number of CPUs/,
      (d) => { ctr(d).resources.requests.cpu = '2500m'; ctr(d).resources.limits.cpu = '2500m'; }],
    ['limits above requests', /must equal limits/, (d) => { ctr(d).resources.limits.memory = '8Gi'; }],
    ['root user', /runAsUser/, (d) => { ctr(d).securityContext.runAsUser = 0; }],
    ['writable root filesystem', /readOnlyRootFilesystem/,
      (d) => { ctr(d).securityContext.readOnlyRootFilesystem = false; }],
    ['capabilities kept', /drop must include ALL/, (d) => { delete ctr(d).securityContext.capabilities; }],
    ['port as a string', /schema: .*containerPort/, (d) => { ctr(d).ports[0].containerPort = 'fifty'; }],
    ['dashed flag in the flagfile', /underscores/,
      (d) => { const cm = flagsCm(d); const k = Object.keys(cm.data)[0]; cm.data[k] += '--log-level=info\n'; }],
    ['unknown flag', /not a qlinear-server flag/,
      (d) => { const cm = flagsCm(d); const k = Object.keys(cm.data)[0]; cm.data[k] += '--max_batch=8\n'; }],
    ['HPA without the queue metric', /qlinear_queue_rows/,
      (d) => { d.find((x) => x.kind === 'HorizontalPodAutoscaler').spec.metrics.shift(); }],
    ['no max connection age', /--max_connection_age must be set/,
      (d) => { const cm = flagsCm(d); const k = Object.keys(cm.data)[0]; cm.data[k] += '--max_connection_age=0\n'; }],
    ['no preStop', /no preStop/, (d) => { delete ctr(d).lifecycle; }],
    ['no models volume', /models volume/,
      (d) => { const c = ctr(d); c.volumeMounts = c.volumeMounts.filter((v) => v.name !== 'models'); }],
    ['ServiceMonitor on a missing port', /has no port/,
      (d) => { d.find((x) => x.kind === 'ServiceMonitor').spec.endpoints[0].port = 'prom'; }],
  ];
  let failures = 0;
  const clean = check(loadDocs(file), 'prod');
  if (clean.length) {
    console.error(`self-test: the unmodified render fails:\n  ${clean.join('\n  ')}`);
    failures++;
  }
  for (const [name, want, mutate] of cases) {
    const docs = loadDocs(file);
    mutate(docs);
    const errors = check(docs, 'prod');
    if (!errors.some((e) => want.test(e))) {
      console.error(`self-test: '${name}' not caught (want ${want}); got:\n  ${errors.join('\n  ') || '(nothing)'}`);
      failures++;
    }
  }
  console.log(`self-test: ${cases.length - failures + (clean.length ? 0 : 1)} of ${cases.length + 1} cases as expected`);
  return failures === 0;
}

function main() {
  const file = args.files[0];
  if (args.selfTest) return selfTest(file) ? 0 : 1;
  const docs = loadDocs(file);
  const errors = check(docs, args.overlay);
  if (errors.length) {
    console.error(`${args.overlay}: ${errors.length} problem(s):\n  ${errors.join('\n  ')}`);
    return 1;
  }
  const kinds = docs.map((d) => d.kind).join(', ');
  console.log(`${args.overlay}: ${docs.length} objects valid (${kinds})`);
  return 0;
}

process.exitCode = main();
