/**
 * Write the OpenAPI schemas of the built-in Kubernetes types (`src/cluster/apiserver/openapi/k8s-schemas.json`)
 * that the API server serves at /openapi/v3 for `kubectl explain`.
 *
 * The source is @kubernetes/client-node's generated models: each class carries its fields' JSON names
 * and types (`attributeTypeMap`), and its .d.ts the descriptions from the Kubernetes OpenAPI document
 * it was generated from. Schema names follow Kubernetes' (`io.k8s.api.apps.v1.DeploymentSpec` when the
 * model names its group, `io.k8s.api.v1.DeploymentSpec` otherwise), so kubectl prints the same type names.
 *
 * Usage: make-k8s-openapi.ts
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

interface Attribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}
type Schema = Record<string, unknown>;

const require = createRequire(import.meta.url);
const pkgDir = path.dirname(require.resolve('@kubernetes/client-node/package.json'));
const modelsDir = path.join(pkgDir, 'dist', 'gen', 'models');
const version = (JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;

/** `AppsV1Deployment` -> io.k8s.api.apps.v1.Deployment; `V1Deployment` -> io.k8s.api.v1.Deployment. */
function schemaName(cls: string): string {
  const m = /^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$/.exec(cls);
  if (!m) return `io.k8s.api.${cls}`;
  return m[1]
    ? `io.k8s.api.${m[1].toLowerCase()}.${m[2]!.toLowerCase()}.${m[3]}`
    : `io.k8s.api.${m[2]!.toLowerCase()}.${m[3]}`;
}

/** Descriptions of a class and its properties, and which properties are required, from its .d.ts. */
function docs(file: string): { description?: string; properties: Map<string, string>; required: string[] } {
  const lines = readFileSync(file, 'utf8').split('\n');
  const properties = new Map<string, string>();
  const required: string[] = [];
  let description: string | undefined;
  let comment: string[] | undefined;
  let pending: string | undefined;
  for (const line of lines) {
    if (/^\s*\/\*\*/.test(line)) {
      comment = [];
      continue;
    }
    if (comment && /^\s*\*\//.test(line)) {
      pending = comment.join('\n').trim();
      comment = undefined;
      continue;
    }
    if (comment) {
      // The generator escaped quotes for a JavaScript string; the text is plain.
      comment.push(line.replace(/^\s*\* ?/, '').replace(/\\(["'\\])/g, '$1'));
      continue;
    }
    if (/^export declare class/.test(line)) {
      description = pending;
      pending = undefined;
      continue;
    }
    const prop = /^\s*'([^']+)'(\?)?:/.exec(line);
    if (prop) {
      if (pending) properties.set(prop[1]!, pending);
      if (!prop[2]) required.push(prop[1]!);
    }
    pending = undefined;
  }
  return {
    description: description && !description.startsWith('Kubernetes\n') ? description : undefined,
    properties,
    required,
  };
}

function typeSchema(type: string, format: string, known: Set<string>): Schema {
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return { type: 'array', items: typeSchema(array[1]!, format, known) };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return { type: 'object', additionalProperties: typeSchema(map[1]!, format, known) };
  switch (type) {
    case 'string':
      return { type: 'string', ...(format && format !== 'date-time' ? { format } : {}) };
    case 'Date':
    case 'V1MicroTime':
      return { type: 'string', format: 'date-time' };
    case 'number':
      return format === 'int32' || format === 'int64'
        ? { type: 'integer', format }
        : { type: 'number', ...(format ? { format } : {}) };
    case 'boolean':
      return { type: 'boolean' };
    case 'IntOrString':
      return { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] };
    case 'any':
    case 'object':
      return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  }
  if (known.has(type)) return { $ref: `#/components/schemas/${schemaName(type)}` };
  throw new Error(`unknown model type ${type}`);
}

const classes = readdirSync(modelsDir)
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.slice(0, -3))
  .filter((c) => c !== 'all' && c !== 'ObjectSerializer');
const known = new Set(classes);
const schemas: Record<string, Schema> = {};
for (const cls of classes) {
  const mod = (await import(path.join(modelsDir, `${cls}.js`))) as Record<string, { attributeTypeMap?: Attribute[] }>;
  const attrs = mod[cls]?.attributeTypeMap;
  if (!attrs) continue;
  const doc = docs(path.join(modelsDir, `${cls}.d.ts`));
  const properties: Record<string, Schema> = {};
  for (const a of attrs) {
    const t = typeSchema(a.type, a.format, known);
    const description = doc.properties.get(a.name);
    // OpenAPI v3 cannot describe a $ref beside other keys, so Kubernetes wraps it in allOf.
    properties[a.baseName] = t.$ref
      ? { ...(description ? { description } : {}), allOf: [t], default: {} }
      : { ...(description ? { description } : {}), ...t };
  }
  schemas[schemaName(cls)] = {
    ...(doc.description ? { description: doc.description } : {}),
    type: 'object',
    ...(doc.required.length
      ? { required: doc.required.map((n) => attrs.find((a) => a.name === n)?.baseName ?? n) }
      : {}),
    properties,
  };
}
const out = new URL('../src/cluster/apiserver/openapi/k8s-schemas.json', import.meta.url);
writeFileSync(out, JSON.stringify({ source: `@kubernetes/client-node ${version} models`, schemas }) + '\n');
console.log(`wrote ${Object.keys(schemas).length} schemas`);
