/**
 * Object semantics of the Kubernetes API shared by every resource: Status errors as kubectl words them,
 * and name and label validation. What differs by kind is in the kind's strategy (`registry/`).
 */
import { StatusError as ApiError } from '../api/errors.js';
import type { ResourceType } from './resources.js';

export type { KObject } from '../api/object.js';
export { StatusError as ApiError } from '../api/errors.js';

const groupOf = (r: ResourceType): string => r.group;
const resName = (r: ResourceType): string => (r.group ? `${r.plural}.${r.group}` : r.plural);

export const notFound = (r: ResourceType, name: string): ApiError =>
  new ApiError(404, 'NotFound', `${resName(r)} "${name}" not found`, { name, group: groupOf(r), kind: r.plural });
export const alreadyExists = (r: ResourceType, name: string): ApiError =>
  new ApiError(409, 'AlreadyExists', `${resName(r)} "${name}" already exists`, {
    name,
    group: groupOf(r),
    kind: r.plural,
  });
export const conflict = (r: ResourceType, name: string): ApiError =>
  new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${resName(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group: groupOf(r), kind: r.plural },
  );
export const badRequest = (msg: string): ApiError => new ApiError(400, 'BadRequest', msg);

export function invalid(
  r: ResourceType,
  name: string,
  causes: Array<{ field: string; message: string; value?: unknown }>,
): ApiError {
  const text = causes
    .map((c) => `${c.field}: ${c.value !== undefined ? `Invalid value: ${JSON.stringify(c.value)}: ` : ''}${c.message}`)
    .join(', ');
  return new ApiError(
    422,
    'Invalid',
    `${r.group ? `${r.kind}.${r.group}` : r.kind} "${name}" is invalid: ${causes.length > 1 ? `[${text}]` : text}`,
    {
      name,
      group: groupOf(r),
      kind: r.kind,
      causes: causes.map((c) => ({
        reason: 'FieldValueInvalid',
        message: `${c.value !== undefined ? `Invalid value: ${JSON.stringify(c.value)}: ` : ''}${c.message}`,
        field: c.field,
      })),
    },
  );
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Kubernetes' name rules: most kinds take a DNS subdomain; namespaces and services a DNS label. */
export function validateName(r: ResourceType, name: string): void {
  // RBAC objects (and a few others) only need a name usable as a path segment: `system:basic-user`.
  if (r.group === 'rbac.authorization.k8s.io') {
    const bad =
      name === '.' || name === '..'
        ? `may not be '${name}'`
        : /[/%]/.test(name)
          ? `may not contain '${name.includes('/') ? '/' : '%'}'`
          : undefined;
    if (bad) throw invalid(r, name, [{ field: 'metadata.name', value: name, message: bad }]);
    return;
  }
  const label = r.plural === 'namespaces' || r.plural === 'services';
  if (label ? !DNS1123_LABEL.test(name) || name.length > 63 : !DNS1123_SUBDOMAIN.test(name) || name.length > 253) {
    const rule = label
      ? `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`
      : `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`;
    throw invalid(r, name, [{ field: 'metadata.name', value: name, message: rule }]);
  }
}

export function validateLabels(r: ResourceType, name: string, labels: Record<string, string> | undefined): void {
  for (const [k, v] of Object.entries(labels ?? {})) {
    const key = k.includes('/') ? k.slice(k.indexOf('/') + 1) : k;
    if (!/^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/.test(key) || key.length > 63)
      throw invalid(r, name, [
        {
          field: 'metadata.labels',
          value: k,
          message: `name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
        },
      ]);
    if (typeof v !== 'string' || (v !== '' && !/^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/.test(v)) || v.length > 63)
      throw invalid(r, name, [
        {
          field: 'metadata.labels',
          value: v,
          message: `a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
        },
      ]);
  }
}
