#!/usr/bin/env node
// Offline checks of deploy/kserve (run by tests/deploy/validate_kserve.sh):
//
//  1. schema: every object against the openAPIV3Schema of KServe's own CRD
//     for its kind (crd_schema.js: types, required, enums, unknown fields);
//  2. invariants: the ClusterServingRuntime and the ServingRuntime have one
//     spec; the runtime speaks grpc-v2 on a port named h2c, serves the model
//     KServe mounts at /mnt/models under the InferenceService's name, with
//     gRPC probes, Prometheus annotations, non-root and Guaranteed
//     resources, and flags the server has; every InferenceService names
//     protocolVersion grpc-v2 and a model format a runtime supports, loads
//     from a PVC, and autoscales the way its deployment mode needs (KEDA on
//     qlinear_queue_rows for Standard, Knative's KPA for Knative).
//
// Usage:
//   node kserve_check.js --modules DIR --source DIR --crds DIR
//   node kserve_check.js --modules DIR --source DIR --crds DIR --self-test
// --modules holds js-yaml; --crds the serving.kserve.io_*.yaml CRDs.
// --self-test applies known-bad edits to the kit and fails unless each is
// caught.
'use strict';

const fs = require('fs');
const path = require('path');
const {crdValidator} = require('./crd_schema.js');
const {duration, parseFlagArgs, quantity, serverFlagNames} = require('./kit_lib.js');

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--modules') out.modules = argv[++i];
    else if (a === '--source') out.source = argv[++i];
    else if (a === '--crds') out.crds = argv[++i];
    else if (a === '--self-test') out.selfTest = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!out.modules || !out.source || !out.crds) {
    throw new Error('usage: kserve_check.js --modules DIR --source DIR --crds DIR [--self-test]');
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const yaml = require(path.join(path.resolve(args.modules), 'js-yaml'));

const MODEL_FORMAT = 'qlinear';
const PROTOCOL = 'grpc-v2';
const MOUNT = '/mnt/models';
const IMAGE_USER = 65532;  // USER of the Dockerfile
const QUEUE_METRIC = 'qlinear_queue_rows';
const DEFAULT_GRACE_SECONDS = 30;
// Deployment modes by their KServe >= 0.15 names, and the older ones.
const MODES = {Standard: 'Standard', RawDeployment: 'Standard', Knative: 'Knative', Serverless: 'Knative'};

function validators() {
  const out = {};
  for (const file of fs.readdirSync(args.crds).filter((f) => /^serving\.kserve\.io_.*\.yaml$/.test(f))) {
    const v = crdValidator(yaml.load(fs.readFileSync(path.join(args.crds, file), 'utf8')));
    out[v.kind] = v;
  }
  for (const kind of ['ClusterServingRuntime', 'ServingRuntime', 'InferenceService']) {
    if (!out[kind]) throw new Error(`${args.crds}: no CRD for ${kind}`);
  }
  return out;
}

function loadKit() {
  const dir = path.join(args.source, 'deploy', 'kserve');
  const docs = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const d of yaml.loadAll(fs.readFileSync(path.join(dir, file), 'utf8'))) {
      if (d !== null && d !== undefined) docs.push(d);
    }
  }
  return docs;
}

const id = (d) => `${d.kind}/${d.metadata && d.metadata.name}`;

function runtimeErrors(rt, flagNames, err) {
  const where = id(rt);
  const spec = rt.spec || {};
  if (!(spec.protocolVersions || []).includes(PROTOCOL)) err(`${where}: protocolVersions must include ${PROTOCOL}`);
  if (!(spec.supportedModelFormats || []).some((f) => f.name === MODEL_FORMAT)) {
    err(`${where}: supportedModelFormats must name '${MODEL_FORMAT}'`);
  }
  const ann = spec.annotations || {};
  if (ann['prometheus.io/scrape'] !== 'true' || !ann['prometheus.kserve.io/port'] ||
      ann['prometheus.io/port'] !== ann['prometheus.kserve.io/port']) {
    err(`${where}: annotations must enable the Prometheus scrape (prometheus.io/* and prometheus.kserve.io/port)`);
  }
  const containers = spec.containers || [];
  const c = containers.find((x) => x.name === 'kserve-container');
  if (!c) {
    err(`${where}: the runtime container must be named kserve-container`);
    return;
  }
  const flags = parseFlagArgs(c.args);
  for (const name of flags.keys()) {
    if (!flagNames.has(name)) err(`${where}: --${name} is not a qlinear-server flag`);
  }
  if (flags.get('model_dir') !== MOUNT) err(`${where}: args must serve --model-dir=${MOUNT} (where KServe mounts the model)`);
  if (flags.get('model_name') !== '{{.Name}}') err(`${where}: args must name the model --model-name={{.Name}}`);
  if (flags.has('model_repository')) err(`${where}: --model-repository does not fit KServe's layout`);
  if (String(Number(flags.get('metrics_port'))) !== ann['prometheus.kserve.io/port']) {
    err(`${where}: --metrics-port must be the annotated scrape port ${ann['prometheus.kserve.io/port']}`);
  }
  if (!(duration(flags.get('max_connection_age') || '0') > 0)) {
    err(`${where}: --max-connection-age must be set, so clients rebalance over new replicas`);
  }
  const ports = c.ports || [];
  if (ports.length !== 1 || ports[0].name !== 'h2c') err(`${where}: one container port, named h2c (gRPC for Knative and KServe)`);
  const grpcPort = ports.length ? ports[0].containerPort : undefined;
  if (Number(flags.get('port')) !== grpcPort) err(`${where}: --port=${flags.get('port')} is not the h2c port ${grpcPort}`);
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    const p = c[probe];
    if (!p || !p.grpc) err(`${where}: ${probe} must be a native grpc probe`);
    else if (p.grpc.port !== grpcPort) err(`${where}: ${probe} port ${p.grpc.port} is not the h2c port`);
  }
  const sleep = c.lifecycle && c.lifecycle.preStop && c.lifecycle.preStop.exec ?
      Number(c.lifecycle.preStop.exec.command[1]) : 0;
  const drain = duration(flags.get('drain_timeout') || '30s');
  if (!(sleep + drain < DEFAULT_GRACE_SECONDS)) {
    err(`${where}: preStop ${sleep} s + --drain-timeout ${drain} s must fit KServe's default grace of ${DEFAULT_GRACE_SECONDS} s`);
  }
  const res = c.resources || {};
  for (const r of ['cpu', 'memory']) {
    const req = res.requests && res.requests[r];
    const lim = res.limits && res.limits[r];
    if (req === undefined || quantity(req) !== quantity(lim)) err(`${where}: ${r} requests must equal limits`);
  }
  if (!Number.isInteger(quantity(res.limits && res.limits.cpu))) err(`${where}: cpu must be whole CPUs`);
  const sc = c.securityContext || {};
  if (sc.runAsNonRoot !== true || sc.runAsUser !== IMAGE_USER) err(`${where}: must run as non-root user ${IMAGE_USER}`);
  if (sc.readOnlyRootFilesystem !== true || sc.allowPrivilegeEscalation !== false ||
      !((sc.capabilities || {}).drop || []).includes('ALL')) {
    err(`${where}: read-only root, no privilege escalation, capabilities drop ALL`);
  }
}

function inferenceServiceErrors(isvc, runtimes, err) {
  const where = id(isvc);
  const ann = (isvc.metadata && isvc.metadata.annotations) || {};
  const mode = MODES[ann['serving.kserve.io/deploymentMode']];
  if (!mode) err(`${where}: annotation serving.kserve.io/deploymentMode must be one of ${Object.keys(MODES).join(', ')}`);
  const pred = (isvc.spec && isvc.spec.predictor) || {};
  const model = pred.model || {};
  if (model.protocolVersion !== PROTOCOL) {
    err(`${where}: predictor.model.protocolVersion must be ${PROTOCOL} (KServe rejects a v1 default for this runtime)`);
  }
  const format = (model.modelFormat || {}).name;
  const served = runtimes.filter((rt) => (rt.spec.supportedModelFormats || []).some((f) => f.name === format) &&
                                         (!model.runtime || rt.metadata.name === model.runtime));
  if (!served.length) err(`${where}: no runtime of the kit serves model format '${format}'${model.runtime ? ` as '${model.runtime}'` : ''}`);
  if (!/^pvc:\/\/[a-z0-9-]+\/.+/.test(model.storageUri || '')) err(`${where}: storageUri must be pvc://CLAIM/PATH`);
  const grace = pred.terminationGracePeriodSeconds === undefined ? DEFAULT_GRACE_SECONDS : pred.terminationGracePeriodSeconds;
  for (const rt of served) {
    const c = rt.spec.containers.find((x) => x.name === 'kserve-container') || {};
    const drain = duration(parseFlagArgs(c.args).get('drain_timeout') || '30s');
    if (!(grace > drain)) err(`${where}: terminationGracePeriodSeconds ${grace} must exceed the runtime's --drain-timeout`);
  }
  if (mode === 'Standard') {
    if (ann['serving.kserve.io/autoscalerClass'] !== 'keda') err(`${where}: Standard mode scales through KEDA (autoscalerClass: keda)`);
    const metrics = (pred.autoScaling && pred.autoScaling.metrics) || [];
    const queue = metrics.filter((m) => m.type === 'External' && m.external && m.external.metric &&
                                        m.external.metric.backend === 'prometheus' &&
                                        (m.external.metric.query || '').includes(QUEUE_METRIC));
    if (queue.length !== 1) err(`${where}: needs one External prometheus metric on ${QUEUE_METRIC}`);
    if (!(pred.minReplicas >= 2)) err(`${where}: minReplicas must be >= 2 (a rolling restart keeps a replica)`);
  }
  if (mode === 'Knative' && !['concurrency', 'rps'].includes(pred.scaleMetric)) {
    err(`${where}: Knative mode scales on concurrency (scaleMetric) through its own autoscaler`);
  }
}

function check(docs, v, flagNames) {
  const errors = [];
  const err = (m) => errors.push(m);
  for (const d of docs) {
    if (!d || !v[d.kind]) {
      err(`${d && d.kind}: not a KServe kind this kit validates`);
      continue;
    }
    v[d.kind].validate(d).forEach(err);
  }
  const runtimes = docs.filter((d) => d.kind === 'ClusterServingRuntime' || d.kind === 'ServingRuntime');
  const cluster = runtimes.filter((d) => d.kind === 'ClusterServingRuntime');
  const namespaced = runtimes.filter((d) => d.kind === 'ServingRuntime');
  if (cluster.length !== 1 || namespaced.length !== 1) err('want one ClusterServingRuntime and one ServingRuntime');
  else if (JSON.stringify(cluster[0].spec) !== JSON.stringify(namespaced[0].spec)) {
    err('the ClusterServingRuntime and the ServingRuntime specs differ: keep them identical');
  }
  runtimes.forEach((rt) => runtimeErrors(rt, flagNames, err));
  const isvcs = docs.filter((d) => d.kind === 'InferenceService');
  isvcs.forEach((i) => inferenceServiceErrors(i, runtimes, err));
  const modes = new Set(isvcs.map((i) => MODES[((i.metadata || {}).annotations || {})['serving.kserve.io/deploymentMode']]));
  for (const m of ['Standard', 'Knative']) if (!modes.has(m)) err(`no example InferenceService in ${m} mode`);
  return errors;
}

function selfTest(v, flagNames) {
  const find = (docs, kind, mode) => docs.find((d) => d.kind === kind &&
      (!mode || MODES[d.metadata.annotations['serving.kserve.io/deploymentMode']] === mode));
  const crt = (d) => find(d, 'ClusterServingRuntime');
  const ctr = (d) => crt(d).spec.containers[0];
  const std = (d) => find(d, 'InferenceService', 'Standard');
  const kn = (d) => find(d, 'InferenceService', 'Knative');
  const cases = [
    // The CRD schemas: each edit is one the API server would refuse.
    ['unknown field in a runtime spec', /spec\.protocolVersion: unknown field/,
      (d) => { crt(d).spec.protocolVersion = 'grpc-v2'; }],
    ['unknown field in a container', /containers\[0\]\.probes: unknown field/,
      (d) => { ctr(d).probes = {}; }],
    ['a string for an integer', /predictor\.minReplicas: expected integer/,
      (d) => { std(d).spec.predictor.minReplicas = 'two'; }],
    ['int32 overflow', /out of the int32 range/, (d) => { std(d).spec.predictor.maxReplicas = 2 ** 31; }],
    ['a value outside an enum', /scaleMetric: "queue" is not one of/,
      (d) => { kn(d).spec.predictor.scaleMetric = 'queue'; }],
    ['a required field missing', /modelFormat\.name: required/,
      (d) => { delete std(d).spec.predictor.model.modelFormat.name; }],
    ['no predictor', /spec\.predictor: required/, (d) => { delete kn(d).spec.predictor; }],
    ['a list for an object', /autoScaling: expected object/, (d) => { std(d).spec.predictor.autoScaling = []; }],
    ['a duplicate port (list-map key)', /ports\[1\]: duplicates .*ports\[0\]/,
      (d) => { ctr(d).ports.push({name: 'h2c-again', containerPort: 8001, protocol: 'TCP'}); }],
    ['a namespace on a cluster-scoped runtime', /namespace set on a cluster-scoped/,
      (d) => { crt(d).metadata.namespace = 'qlinear'; }],
    ['the wrong API version', /apiVersion serving\.kserve\.io\/v1alpha1, the CRD serves/,
      (d) => { std(d).apiVersion = 'serving.kserve.io/v1alpha1'; }],
    // The kit's invariants.
    ['no protocolVersion', /protocolVersion must be grpc-v2/, (d) => { delete std(d).spec.predictor.model.protocolVersion; }],
    ['port not named h2c', /named h2c/, (d) => { ctr(d).ports[0].name = 'grpc'; }],
    ['runtimes drift apart', /specs differ/, (d) => { ctr(d).args.push('--log-level=debug'); }],
    ['an unknown server flag', /not a qlinear-server flag/, (d) => { ctr(d).args.push('--model-version=1'); }],
    ['the repository layout', /--model-dir=\/mnt\/models/, (d) => { ctr(d).args[0] = '--model-repository=/mnt/models'; }],
    ['an unsupported model format', /no runtime of the kit serves model format 'onnx'/,
      (d) => { kn(d).spec.predictor.model.modelFormat.name = 'onnx'; }],
    ['Standard without KEDA', /through KEDA/,
      (d) => { delete std(d).metadata.annotations['serving.kserve.io/autoscalerClass']; }],
    ['grace below the drain', /must exceed the runtime's --drain-timeout/,
      (d) => { kn(d).spec.predictor.terminationGracePeriodSeconds = 10; }],
    ['root user', /non-root/, (d) => { ctr(d).securityContext.runAsUser = 0; }],
  ];
  let failures = 0;
  const clean = check(loadKit(), v, flagNames);
  if (clean.length) {
    console.error(`self-test: the unmodified kit fails:\n  ${clean.join('\n  ')}`);
    failures++;
  }
  for (const [name, want, mutate] of cases) {
    const docs = loadKit();
    mutate(docs);
    const errors = check(docs, v, flagNames);
    if (!errors.some((e) => want.test(e))) {
      console.error(`self-test: '${name}' not caught (want ${want}); got:\n  ${errors.join('\n  ') || '(nothing)'}`);
      failures++;
    }
  }
  console.log(`self-test: ${cases.length + 1 - failures} of ${cases.length + 1} cases as expected`);
  return failures === 0;
}

function main() {
  const v = validators();
  const flagNames = serverFlagNames(args.source);
  if (args.selfTest) return selfTest(v, flagNames) ? 0 : 1;
  const docs = loadKit();
  const errors = check(docs, v, flagNames);
  if (errors.length) {
    console.error(`deploy/kserve: ${errors.length} problem(s):\n  ${errors.join('\n  ')}`);
    return 1;
  }
  console.log(`deploy/kserve: ${docs.length} objects valid against the KServe CRDs (${docs.map(id).join(', ')})`);
  return 0;
}

process.exitCode = main();
