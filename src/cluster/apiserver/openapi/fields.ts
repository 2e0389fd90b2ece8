/**
 * Field validation (`fieldValidation=Strict|Warn|Ignore`): the fields of a request's object that its
 * kind's schema does not have, as Kubernetes names them (`spec.replicass`, `spec.template.spec.containers[0].imagee`).
 */
import generated from './k8s-schemas.json' with { type: 'json' };
import { builtinSchemaName, type Kind } from './openapi.js';
import { resolve, type Schema } from './types.js';

const SCHEMAS = generated.schemas as Record<string, Schema>;

function walk(value: unknown, schema: Schema | undefined, at: string, out: string[]): void {
  const { s } = resolve(schema);
  if (!s || s['x-kubernetes-preserve-unknown-fields'] || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    if (s.items) value.forEach((v, i) => walk(v, s.items, `${at}[${i}]`, out));
    return;
  }
  if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    for (const [k, v] of Object.entries(value)) walk(v, s.additionalProperties, at ? `${at}.${k}` : k, out);
    return;
  }
  if (!s.properties) return;
  for (const [k, v] of Object.entries(value)) {
    const path = at ? `${at}.${k}` : k;
    if (!(k in s.properties)) out.push(path);
    else walk(v, s.properties[k], path, out);
  }
}

/** The unknown fields of `obj`, a `kind` object; none when the kind has no built-in schema. */
export function unknownFields(kind: Kind, obj: unknown): string[] {
  const name = builtinSchemaName(kind);
  if (!name) return [];
  const out: string[] = [];
  walk(obj, SCHEMAS[name], '', out);
  return out;
}
