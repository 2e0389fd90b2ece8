/**
 * Custom resources checked against their CustomResourceDefinition's openAPIV3Schema as the
 * apiextensions API server does: types (with `nullable` and `x-kubernetes-int-or-string`), required
 * fields, enums, bounds, lengths, patterns and list sizes, each refusal named by its field path in
 * Kubernetes' words; and unknown fields pruned unless the schema preserves them (structural schemas
 * prune, as CRDs of apiextensions.k8s.io/v1 always do).
 */
import { isDeepStrictEqual } from 'node:util';

export interface SchemaProps {
  type?: string;
  nullable?: boolean;
  properties?: Record<string, SchemaProps>;
  additionalProperties?: SchemaProps | boolean;
  items?: SchemaProps;
  required?: string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

export interface Cause {
  field: string;
  message: string;
  value?: unknown;
}

/** At most this many causes are reported, as a request carries only so much of an answer. */
const MAX_CAUSES = 20;

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeFits(type: string, v: unknown): boolean {
  switch (type) {
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    default:
      return true;
  }
}

function walk(value: unknown, s: SchemaProps, at: string, out: Cause[]): void {
  if (out.length >= MAX_CAUSES) return;
  if (value === null) {
    if (!s.nullable && s.type)
      out.push({ field: at, value: 'null', message: `${at} in body must be of type ${s.type}: "null"` });
    return;
  }
  if (s['x-kubernetes-int-or-string']) {
    if (!(typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value))))
      out.push({
        field: at,
        value: jsonType(value),
        message: `${at} in body must be of type integer or string: "${jsonType(value)}"`,
      });
    return;
  }
  if (s.type && !typeFits(s.type, value)) {
    out.push({
      field: at,
      value: jsonType(value),
      message: `${at} in body must be of type ${s.type}: "${jsonType(value)}"`,
    });
    return;
  }
  if (s.enum && !s.enum.some((e) => isDeepStrictEqual(e, value)))
    out.push({
      field: at,
      message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`,
    });
  if (typeof value === 'string') {
    if (s.maxLength !== undefined && [...value].length > s.maxLength)
      out.push({ field: at, message: `Too long: may not be more than ${s.maxLength} bytes` });
    if (s.minLength !== undefined && [...value].length < s.minLength)
      out.push({ field: at, value, message: `${at} in body should be at least ${s.minLength} chars long` });
    if (s.pattern !== undefined) {
      let re: RegExp | undefined;
      try {
        re = new RegExp(s.pattern, 'u');
      } catch {
        // A pattern JavaScript cannot read (the CRD was accepted with it): not enforced.
      }
      if (re && !re.test(value)) out.push({ field: at, value, message: `${at} in body should match '${s.pattern}'` });
    }
  }
  if (typeof value === 'number') {
    if (s.minimum !== undefined && (s.exclusiveMinimum ? value <= s.minimum : value < s.minimum))
      out.push({
        field: at,
        value,
        message: `${at} in body should be greater than ${s.exclusiveMinimum ? '' : 'or equal to '}${s.minimum}`,
      });
    if (s.maximum !== undefined && (s.exclusiveMaximum ? value >= s.maximum : value > s.maximum))
      out.push({
        field: at,
        value,
        message: `${at} in body should be less than ${s.exclusiveMaximum ? '' : 'or equal to '}${s.maximum}`,
      });
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems)
      out.push({ field: at, value: value.length, message: `${at} in body should have at least ${s.minItems} items` });
    if (s.maxItems !== undefined && value.length > s.maxItems)
      out.push({ field: at, message: `Too many: ${value.length}: must have at most ${s.maxItems} items` });
    if (s.items) value.forEach((item, i) => walk(item, s.items!, `${at}[${i}]`, out));
    return;
  }
  if (typeof value !== 'object') return;
  const obj = value as Record<string, unknown>;
  for (const name of s.required ?? [])
    if (obj[name] === undefined) out.push({ field: at ? `${at}.${name}` : name, message: 'Required value' });
  const extra = typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
  const keepsUnknown = s['x-kubernetes-preserve-unknown-fields'] || s.additionalProperties === true || extra;
  for (const [key, item] of Object.entries(obj)) {
    const field = at ? `${at}.${key}` : key;
    const own = s.properties?.[key];
    if (own) walk(item, own, field, out);
    else if (extra) walk(item, extra, field, out);
    else if (!keepsUnknown && s.properties) delete obj[key];
  }
}

/**
 * The causes `obj` is invalid for under `schema` (none when valid), pruning its unknown fields.
 * `apiVersion`, `kind` and `metadata` are the API server's, never the schema's.
 */
export function validateCustomObject(schema: SchemaProps, obj: Record<string, unknown>): Cause[] {
  const own = new Set(['apiVersion', 'kind', 'metadata']);
  const root: SchemaProps = {
    ...schema,
    properties: Object.fromEntries(Object.entries(schema.properties ?? {}).filter(([k]) => !own.has(k))),
    required: (schema.required ?? []).filter((r) => !own.has(r)),
  };
  // The rest is walked (and pruned in place) apart from the API server's own fields.
  const body = Object.fromEntries(Object.entries(obj).filter(([k]) => !own.has(k)));
  const out: Cause[] = [];
  walk(body, root, '', out);
  for (const key of Object.keys(obj)) if (!own.has(key) && !(key in body)) delete obj[key];
  return out;
}
