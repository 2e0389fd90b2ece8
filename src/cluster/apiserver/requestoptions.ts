/**
 * What a request's query and Content-Type may be, checked before anything is read or written, as the
 * Kubernetes API server decodes ListOptions (strconv's words for a bad bool or int, ValidateListOptions'
 * for resourceVersionMatch and sendInitialEvents), field selectors (only the kind's field labels) and
 * media types (415 with the accepted ones).
 */
import { ApiError, badRequest } from './objects.js';

const BOOLS = new Map([
  ...['1', 't', 'T', 'TRUE', 'true', 'True'].map((v) => [v, true] as const),
  ...['0', 'f', 'F', 'FALSE', 'false', 'False'].map((v) => [v, false] as const),
]);

/** A query's boolean as Go's strconv.ParseBool reads it; absent is false. */
export function boolQuery(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null) return false;
  const b = BOOLS.get(v);
  if (b === undefined) throw badRequest(`strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
  return b;
}

function intQuery(q: URLSearchParams, name: string): void {
  const v = q.get(name);
  if (v !== null && v !== '' && !/^[+-]?\d{1,18}$/.test(v))
    throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
}

function listOptionsInvalid(
  causes: Array<{ field: string; type: 'Forbidden' | 'Unsupported value'; detail: string }>,
): ApiError {
  const text = causes.map((c) => `${c.field}: ${c.type}: ${c.detail}`);
  return new ApiError(
    422,
    'Invalid',
    `ListOptions.meta.k8s.io "" is invalid: ${text.length > 1 ? `[${text.join(', ')}]` : text[0]}`,
    {
      group: 'meta.k8s.io',
      kind: 'ListOptions',
      causes: causes.map((c) => ({
        reason: c.type === 'Forbidden' ? 'FieldValueForbidden' : 'FieldValueNotSupported',
        message: `${c.type}: ${c.detail}`,
        field: c.field,
      })),
    },
  );
}

/**
 * A list's or watch's options (`watching` from `watch`), and the field labels its selector may use
 * (`supported`: none given means any).
 */
export function validateListOptions(q: URLSearchParams, watching: boolean, supported?: Set<string>): void {
  for (const name of ['allowWatchBookmarks', 'sendInitialEvents']) boolQuery(q, name);
  for (const name of ['limit', 'timeoutSeconds']) intQuery(q, name);
  const rv = q.get('resourceVersion');
  if (rv && !/^\d+$/.test(rv)) throw badRequest(`invalid resourceVersion: ${rv}`);
  const match = q.get('resourceVersionMatch') ?? '';
  const initial = q.get('sendInitialEvents');
  const causes: Parameters<typeof listOptionsInvalid>[0] = [];
  if (watching) {
    // Gantry serves no WatchList: it is Kubernetes' answer with that feature gate off.
    if (initial !== null) {
      if (match !== 'NotOlderThan')
        causes.push({
          field: 'resourceVersionMatch',
          type: 'Forbidden',
          detail: 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan',
        });
      causes.push({
        field: 'sendInitialEvents',
        type: 'Forbidden',
        detail: 'sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled',
      });
    }
    if (match) {
      if (initial === null)
        causes.push({
          field: 'resourceVersionMatch',
          type: 'Forbidden',
          detail: 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
        });
      if (match !== 'NotOlderThan')
        causes.push({
          field: 'resourceVersionMatch',
          type: 'Unsupported value',
          detail: `${JSON.stringify(match)}: supported values: "NotOlderThan"`,
        });
    }
  } else {
    if (match) {
      if (!rv)
        causes.push({
          field: 'resourceVersionMatch',
          type: 'Forbidden',
          detail: 'resourceVersionMatch is forbidden unless resourceVersion is provided',
        });
      if (q.get('continue'))
        causes.push({
          field: 'resourceVersionMatch',
          type: 'Forbidden',
          detail: 'resourceVersionMatch is forbidden when continue is provided',
        });
      if (match !== 'Exact' && match !== 'NotOlderThan')
        causes.push({
          field: 'resourceVersionMatch',
          type: 'Unsupported value',
          detail: `${JSON.stringify(match)}: supported values: "Exact", "NotOlderThan", ""`,
        });
      if (match === 'Exact' && rv === '0')
        causes.push({
          field: 'resourceVersionMatch',
          type: 'Forbidden',
          detail: 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        });
    }
    if (initial !== null)
      causes.push({ field: 'sendInitialEvents', type: 'Forbidden', detail: 'sendInitialEvents is forbidden for list' });
  }
  if (causes.length) throw listOptionsInvalid(causes);
  if (supported) {
    for (const term of (q.get('fieldSelector') ?? '').split(',')) {
      const label = /^\s*([^=!\s]+)\s*(?:==|!=|=)/.exec(term)?.[1];
      if (label && !supported.has(label)) throw badRequest(`field label not supported: ${label}`);
    }
  }
}

const WRITE_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];
const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/apply-patch+yaml',
  'application/strategic-merge-patch+json',
];

/** A write's media type: JSON, YAML or protobuf for a create or replace, a patch type for a patch; else 415. */
export function checkContentType(method: string, contentType: string): void {
  if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') return;
  const accepted = method === 'PATCH' ? PATCH_TYPES : WRITE_TYPES;
  // No type at all is read as JSON, as Kubernetes does for a create.
  if (accepted.includes(contentType) || (method !== 'PATCH' && contentType === '')) return;
  throw new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );
}
