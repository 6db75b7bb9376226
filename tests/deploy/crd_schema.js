// A structural validator for custom resources against the openAPIV3Schema
// of their CustomResourceDefinition, as the API server applies it with
// kubectl's strict field validation: types (with int32/int64 ranges),
// required fields, enums, patterns, bounds, unknown fields (rejected unless
// the schema has additionalProperties or x-kubernetes-preserve-unknown-
// fields), x-kubernetes-int-or-string, anyOf, and unique keys of
// x-kubernetes-list-type map/set lists. CEL rules (x-kubernetes-validations)
// are not evaluated: the CRDs this project checks against have none, and
// crdValidator() refuses a CRD that has them rather than pass in silence.
//
// Usage (tests/deploy/kserve_check.js):
//   const {crdValidator} = require('./crd_schema.js');
//   const v = crdValidator(crdObject);      // throws on an unsupported CRD
//   v.kind, v.apiVersion, v.namespaced;
//   const errors = v.validate(doc);         // [] or messages naming the path
'use strict';

const INT_RANGE = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

// ObjectMeta keys a manifest may set (the API server validates metadata
// itself; a CRD's schema says only `type: object`).
const OBJECT_META = {
  name: 'string', generateName: 'string', namespace: 'string', labels: 'map',
  annotations: 'map', finalizers: 'list', ownerReferences: 'list',
};

function typeOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;  // string, boolean, object
}

function typeMatches(want, value) {
  const got = typeOf(value);
  return got === want || (want === 'number' && got === 'integer');
}

function walk(value, schema, where, errors) {
  if (value === null) {
    if (!schema.nullable) errors.push(`${where}: null is not allowed`);
    return;
  }
  if (schema['x-kubernetes-int-or-string']) {
    if (!['integer', 'string'].includes(typeOf(value))) {
      errors.push(`${where}: expected an integer or a string, got ${typeOf(value)}`);
      return;
    }
  } else if (schema.type && !typeMatches(schema.type, value)) {
    errors.push(`${where}: expected ${schema.type}, got ${typeOf(value)} ${JSON.stringify(value)}`);
    return;
  }
  if (schema.anyOf && !schema['x-kubernetes-int-or-string']) {
    const ok = schema.anyOf.some((branch) => {
      const sub = [];
      walk(value, branch, where, sub);
      return sub.length === 0;
    });
    if (!ok) errors.push(`${where}: matches none of the anyOf schemas`);
  }
  if (schema.enum && !schema.enum.includes(value)) {
    errors.push(`${where}: ${JSON.stringify(value)} is not one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  }
  const t = typeOf(value);
  if (t === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern).test(value)) {
      errors.push(`${where}: '${value}' does not match ${schema.pattern}`);
    }
    if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`${where}: longer than ${schema.maxLength}`);
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${where}: shorter than ${schema.minLength}`);
  }
  if (t === 'integer' || t === 'number') {
    const range = INT_RANGE[schema.format];
    if (range && (value < range[0] || value > range[1])) errors.push(`${where}: ${value} is out of the ${schema.format} range`);
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${where}: ${value} is below the minimum ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${where}: ${value} is above the maximum ${schema.maximum}`);
  }
  if (t === 'array') {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${where}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${where}: more than ${schema.maxItems} items`);
    value.forEach((item, i) => schema.items && walk(item, schema.items, `${where}[${i}]`, errors));
    const listType = schema['x-kubernetes-list-type'];
    if (listType === 'map' || listType === 'set') {
      const keys = schema['x-kubernetes-list-map-keys'];
      const seen = new Map();
      value.forEach((item, i) => {
        const key = listType === 'set' ? JSON.stringify(item) :
            JSON.stringify(keys.map((k) => (item && item[k] !== undefined ? item[k] :
                (schema.items.properties[k] || {}).default)));
        if (seen.has(key)) errors.push(`${where}[${i}]: duplicates ${where}[${seen.get(key)}] (${listType} key ${key})`);
        else seen.set(key, i);
      });
    }
  }
  if (t === 'object') {
    for (const k of schema.required || []) {
      if (value[k] === undefined) errors.push(`${where}.${k}: required`);
    }
    const props = schema.properties || {};
    const extra = schema.additionalProperties;
    for (const [k, v] of Object.entries(value)) {
      if (props[k]) walk(v, props[k], `${where}.${k}`, errors);
      else if (extra && typeof extra === 'object') walk(v, extra, `${where}.${k}`, errors);
      else if (!extra && !schema['x-kubernetes-preserve-unknown-fields']) {
        errors.push(`${where}.${k}: unknown field`);
      }
    }
  }
}

function validateMeta(meta, namespaced, where, errors) {
  if (typeOf(meta) !== 'object') {
    errors.push(`${where}: metadata must be an object`);
    return;
  }
  if (typeof meta.name !== 'string' || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(meta.name)) {
    errors.push(`${where}: metadata.name '${meta.name}' is not a DNS subdomain name`);
  }
  if (namespaced && meta.namespace === undefined) errors.push(`${where}: metadata.namespace missing (namespaced kind)`);
  if (!namespaced && meta.namespace !== undefined) errors.push(`${where}: metadata.namespace set on a cluster-scoped kind`);
  for (const [k, v] of Object.entries(meta)) {
    const kind = OBJECT_META[k];
    if (!kind) errors.push(`${where}: metadata.${k}: unknown field`);
    else if (kind === 'string' && typeof v !== 'string') errors.push(`${where}: metadata.${k} must be a string`);
    else if (kind === 'map' && (typeOf(v) !== 'object' || Object.values(v).some((x) => typeof x !== 'string'))) {
      errors.push(`${where}: metadata.${k} must map strings to strings`);
    }
  }
}

function crdValidator(crd) {
  if (!crd || crd.kind !== 'CustomResourceDefinition' || !crd.spec) {
    throw new Error('not a CustomResourceDefinition');
  }
  const version = (crd.spec.versions || []).find((v) => v.served && v.storage) ||
      (crd.spec.versions || []).find((v) => v.served);
  const schema = version && version.schema && version.schema.openAPIV3Schema;
  if (!schema) throw new Error(`${crd.metadata.name}: no served version with an openAPIV3Schema`);
  if (JSON.stringify(schema).includes('"x-kubernetes-validations"')) {
    throw new Error(`${crd.metadata.name}: has CEL rules, which this validator cannot evaluate`);
  }
  const kind = crd.spec.names.kind;
  const apiVersion = `${crd.spec.group}/${version.name}`;
  const namespaced = crd.spec.scope === 'Namespaced';
  return {
    kind, apiVersion, namespaced,
    validate(doc) {
      const where = `${kind}/${doc && doc.metadata ? doc.metadata.name : '?'}`;
      const errors = [];
      if (doc.apiVersion !== apiVersion) errors.push(`${where}: apiVersion ${doc.apiVersion}, the CRD serves ${apiVersion}`);
      if (doc.kind !== kind) errors.push(`${where}: kind ${doc.kind}, want ${kind}`);
      validateMeta(doc.metadata, namespaced, where, errors);
      if (doc.status !== undefined) errors.push(`${where}: status is written by the controller, not the manifest`);
      const body = {...doc};
      delete body.metadata;
      const rootSchema = {...schema, properties: {...schema.properties, metadata: {}}};
      walk(body, rootSchema, where, errors);
      return errors;
    },
  };
}

module.exports = {crdValidator};
