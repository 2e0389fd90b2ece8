/**
 * Objects of built-in kinds checked against their OpenAPI schemas as Kubernetes' JSON decoder checks
 * them against the Go types (sigs.k8s.io/json: case-sensitive, `null` is the zero value, unknown
 * fields are the business of field validation): the first value of the wrong type is refused with the
 * decoder's words, e.g. `json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas
 * of type int32`, before anything is stored. Quantities take numbers as well as strings, IntOrStrings
 * whole numbers or strings, byte fields base64.
 *
 * The object is left as Go would hold it: a `null` field is dropped (its zero value, as if absent),
 * and a `null` in a list or map becomes its element's zero value (`containers: [null]` is one empty
 * container, refused by validation for its missing name rather than crashing it).
 */
import generated from './k8s-schemas.json' with { type: 'json' };
import { builtinSchemaName, type Kind } from './openapi.js';

export type Schema = {
  $ref?: string;
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  type?: string;
  format?: string;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
};

const SCHEMAS = generated.schemas as Record<string, Schema>;
const REF = '#/components/schemas/';

/**
 * The fields that are resource.Quantity (a string in the generated schemas, a number too on the
 * wire), by schema and property; a map of them is a ResourceList.
 */
const QUANTITIES = new Set(
  [
    'v1.ResourceRequirements.limits',
    'v1.ResourceRequirements.requests',
    'v1.VolumeResourceRequirements.limits',
    'v1.VolumeResourceRequirements.requests',
    'v1.ContainerStatus.allocatedResources',
    'v1.EmptyDirVolumeSource.sizeLimit',
    'v1.ResourceFieldSelector.divisor',
    'v1.LimitRangeItem.default',
    'v1.LimitRangeItem.defaultRequest',
    'v1.LimitRangeItem.max',
    'v1.LimitRangeItem.min',
    'v1.LimitRangeItem.maxLimitRequestRatio',
    'v1.NodeStatus.allocatable',
    'v1.NodeStatus.capacity',
    'v1.Overhead.podFixed',
    'v1.PodSpec.overhead',
    'v1.PersistentVolumeSpec.capacity',
    'v1.PersistentVolumeClaimStatus.allocatedResources',
    'v1.PersistentVolumeClaimStatus.capacity',
    'v1.ResourceQuotaSpec.hard',
    'v1.ResourceQuotaStatus.hard',
    'v1.ResourceQuotaStatus.used',
    'v1.CSIStorageCapacity.capacity',
    'v1.CSIStorageCapacity.maximumVolumeSize',
    'v2.MetricTarget.averageValue',
    'v2.MetricTarget.value',
    'v2.MetricValueStatus.averageValue',
    'v2.MetricValueStatus.value',
  ].map((n) => `io.k8s.api.${n}`),
);

interface At {
  /** The innermost struct's Go name (`DeploymentSpec`). */
  struct: string;
  /** The field's JSON name, and where its parent sits: joined into `spec.replicas` only for a refusal. */
  field?: string;
  parent?: At;
}

function fieldPath(at: At): string {
  const names: string[] = [];
  for (let a: At | undefined = at; a; a = a.parent) if (a.field !== undefined) names.unshift(a.field);
  return names.join('.');
}

function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v;
}

const mismatch = (value: string, type: string, at: At): string =>
  `json: cannot unmarshal ${value} into Go struct field ${at.struct}.${fieldPath(at)} of type ${type}`;

const resolved = new WeakMap<Schema, { s?: Schema; name?: string; struct?: string }>();

/**
 * A schema with its references followed, the name of the last one and its struct's short name (the
 * Go struct it stands for), remembered per schema: objects are checked on every write.
 */
export function resolve(schema: Schema | undefined): { s?: Schema; name?: string; struct?: string } {
  if (!schema) return {};
  const known = resolved.get(schema);
  if (known) return known;
  let s: Schema | undefined = schema;
  let name: string | undefined;
  for (let i = 0; s && i < 8; i++) {
    if (s.$ref) {
      name = s.$ref.slice(REF.length);
      s = SCHEMAS[name];
    } else if (s.allOf?.length === 1 && !s.properties) s = s.allOf[0];
    else break;
  }
  const out = { s, name, struct: name?.slice(name.lastIndexOf('.') + 1) };
  resolved.set(schema, out);
  return out;
}

/** The Go type Kubernetes decodes into, as its errors print it (`int32`, `[]v1.Container`, `map[string]string`). */
function goType(schema: Schema | undefined): string {
  const { s, name } = resolve(schema);
  if (!s) return 'interface {}';
  if (name && s.properties) return name.split('.').slice(-2).join('.');
  if (s['x-kubernetes-int-or-string']) return 'intstr.IntOrString';
  switch (s.type) {
    case 'string':
      return s.format === 'byte' ? '[]uint8' : 'string';
    case 'integer':
      return s.format === 'int32' ? 'int32' : 'int64';
    case 'number':
      return 'float64';
    case 'boolean':
      return 'bool';
    case 'array':
      return `[]${goType(s.items)}`;
    case 'object':
      return typeof s.additionalProperties === 'object'
        ? `map[string]${goType(s.additionalProperties)}`
        : 'interface {}';
    default:
      return 'interface {}';
  }
}

/** Where a base64 text stops being base64, as Go's decoder reports it; undefined when it is fine. */
export function base64Error(text: string): number | undefined {
  const bad = text.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) return bad;
  const pad = text.indexOf('=');
  if (pad >= 0 && (!/^={1,2}$/.test(text.slice(pad)) || text.length % 4 !== 0)) return pad;
  if (text.length % 4 !== 0) return text.length - (text.length % 4);
  return undefined;
}

const INT32 = 2 ** 31;

/** Go's zero value of a schema's type, for a `null` that cannot just be left out (a list's element). */
function zero(schema: Schema | undefined): unknown {
  const { s } = resolve(schema);
  if (!s || s['x-kubernetes-preserve-unknown-fields']) return null;
  if (s['x-kubernetes-int-or-string']) return 0;
  switch (s.type) {
    case 'string':
      return '';
    case 'integer':
    case 'number':
      return 0;
    case 'boolean':
      return false;
    case 'array':
      return [];
    default:
      return s.properties || s.type === 'object' ? {} : null;
  }
}

function check(value: unknown, schema: Schema | undefined, at: At, quantity: boolean): string | undefined {
  if (value === null || value === undefined) return undefined;
  const { s, name, struct: own } = resolve(schema);
  if (!s || s['x-kubernetes-preserve-unknown-fields']) return undefined;
  if (s['x-kubernetes-int-or-string']) {
    if (typeof value === 'string') return undefined;
    if (typeof value !== 'number') return mismatch(jsonKind(value), 'int32', at);
    return Number.isInteger(value) && value >= -INT32 && value < INT32
      ? undefined
      : mismatch(`number ${value}`, 'int32', at);
  }
  // The Go type's name (goType) is only needed for a refusal: worked out then, not for every value.
  switch (s.type) {
    case 'string':
      if (quantity && typeof value === 'number') return undefined;
      if (typeof value !== 'string') return mismatch(jsonKind(value), goType(schema), at);
      if (s.format === 'byte') {
        const bad = base64Error(value);
        if (bad !== undefined) return `illegal base64 data at input byte ${bad}`;
      }
      return undefined;
    case 'integer': {
      if (typeof value !== 'number') return mismatch(jsonKind(value), goType(schema), at);
      const limit = s.format === 'int32' ? INT32 : 2 ** 63;
      return Number.isInteger(value) && value >= -limit && value < limit
        ? undefined
        : mismatch(`number ${value}`, goType(schema), at);
    }
    case 'number':
      return typeof value === 'number' ? undefined : mismatch(jsonKind(value), goType(schema), at);
    case 'boolean':
      return typeof value === 'boolean' ? undefined : mismatch(jsonKind(value), goType(schema), at);
    case 'array':
      if (!Array.isArray(value)) return mismatch(jsonKind(value), goType(schema), at);
      for (let i = 0; i < value.length; i++) {
        if (value[i] === null) value[i] = zero(s.items);
        const err = check(value[i], s.items, at, quantity);
        if (err) return err;
      }
      return undefined;
    default:
      break;
  }
  if (s.type !== 'object' && !s.properties) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) return mismatch(jsonKind(value), goType(schema), at);
  if (!s.properties) {
    if (typeof s.additionalProperties !== 'object') return undefined;
    const entries = value as Record<string, unknown>;
    for (const [key, item] of Object.entries(entries)) {
      if (item === null) entries[key] = zero(s.additionalProperties);
      const err = check(entries[key], s.additionalProperties, at, quantity);
      if (err) return err;
    }
    return undefined;
  }
  const struct = own ?? at.struct;
  const fields = value as Record<string, unknown>;
  for (const [key, item] of Object.entries(fields)) {
    const field = s.properties[key];
    if (!field) continue;
    if (item === null) {
      delete fields[key];
      continue;
    }
    const err = check(item, field, { struct, field: key, parent: at }, !!name && QUANTITIES.has(`${name}.${key}`));
    if (err) return err;
  }
  return undefined;
}

/**
 * The first value of `obj` (a `kind` object) its decoder would refuse, in its words; none for kinds
 * without a built-in schema. Leaves `obj` as the decoder would hold it (see above).
 */
export function typeError(kind: Kind, obj: unknown): string | undefined {
  const name = builtinSchemaName(kind);
  if (!name) return undefined;
  return check(obj, { $ref: REF + name }, { struct: kind.kind }, false);
}
