/**
 * Listing: label and field selectors over a storage prefix, pages filled by reading on until the limit
 * is met, and Kubernetes' paging tokens.
 */
import path from 'node:path';
import type { Storage } from '../../storage/types.js';
import { badRequest, type KObject } from '../objects.js';
import { storageKey } from '../resources.js';
import { parseFieldSelector, parseLabelSelector, type Selector } from '../selectors.js';
import { strategyFor } from './index.js';
import { decode, viewOf } from './store.js';
import type { Target } from './strategy.js';

export function selectors(q: URLSearchParams): { labels: Selector; fields: Selector } {
  try {
    return {
      labels: parseLabelSelector(q.get('labelSelector') ?? ''),
      fields: parseFieldSelector(q.get('fieldSelector') ?? ''),
    };
  } catch (err) {
    throw badRequest((err as Error).message);
  }
}

/**
 * The field labels Kubernetes selects each kind by, beyond `metadata.name` and `metadata.namespace`,
 * each with its value when the field is absent (Go's zero value, printed).
 */
const FIELD_LABELS: Record<string, Record<string, string>> = {
  pods: {
    'spec.nodeName': '',
    'spec.restartPolicy': '',
    'spec.schedulerName': '',
    'spec.serviceAccountName': '',
    'spec.hostNetwork': 'false',
    'status.phase': '',
    'status.podIP': '',
    'status.nominatedNodeName': '',
  },
  events: Object.fromEntries(
    [
      ...['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath'].map(
        (f) => `involvedObject.${f}`,
      ),
      'reason',
      'reportingComponent',
      'source',
      'type',
    ].map((l) => [l, '']),
  ),
  secrets: { type: '' },
  namespaces: { 'status.phase': '' },
  nodes: { 'spec.unschedulable': 'false' },
  replicasets: { 'status.replicas': '0' },
  replicationcontrollers: { 'status.replicas': '0' },
  jobs: { 'status.successful': '0' },
  certificatesigningrequests: { 'spec.signerName': '' },
};

/** The labels a request's field selector may name for its kind. */
export function supportedFieldLabels(t: Target): Set<string> {
  const own = t.res.custom ? {} : (FIELD_LABELS[t.res.plural] ?? {});
  return new Set(['metadata.name', 'metadata.namespace', ...Object.keys(own)]);
}

function valueAt(o: KObject, dotted: string): unknown {
  let cur: unknown = o;
  for (const part of dotted.split('.')) cur = (cur as Record<string, unknown> | undefined)?.[part];
  return cur;
}

/** The fields field selectors can use: name and namespace, the kind's field labels, and what its strategy adds. */
export function fieldSet(t: Target, o: KObject): Record<string, string> {
  const out: Record<string, string> = {
    'metadata.name': o.metadata?.name ?? '',
    'metadata.namespace': o.metadata?.namespace ?? '',
  };
  for (const [label, zero] of Object.entries(t.res.custom ? {} : (FIELD_LABELS[t.res.plural] ?? {}))) {
    const v = valueAt(o, label === 'source' ? 'source.component' : label);
    out[label] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : zero;
  }
  return { ...out, ...strategyFor(t.res).fields?.(o) };
}

/** Whether an object passes a request's selectors. */
export function matcher(t: Target, q: URLSearchParams): (o: KObject) => boolean {
  const { labels, fields } = selectors(q);
  return (o) => labels(o.metadata?.labels ?? {}) && fields(fieldSet(t, o));
}

export async function listObjects(
  storage: Storage,
  q: URLSearchParams,
  t: Target,
): Promise<{ items: KObject[]; revision: number; continueToken?: string }> {
  const match = matcher(t, q);
  const limit = Number(q.get('limit') ?? 0) || 0;
  let startKey: string | undefined;
  let revision: number | undefined =
    q.get('resourceVersion') && q.get('resourceVersionMatch') === 'Exact'
      ? Number(q.get('resourceVersion'))
      : undefined;
  const prefix = storageKey(t.res, t.namespace);
  const cont = q.get('continue');
  if (cont) ({ startKey, revision } = decodeContinue(cont, prefix));
  const items: KObject[] = [];
  const view = viewOf(t.res);
  let next: string | undefined = startKey;
  // Selectors filter after reading, so pages are filled by reading on until the limit is met.
  for (;;) {
    const page = await storage.list(prefix, { revision, limit: limit ? limit - items.length : 0, startKey: next });
    revision = page.revision;
    for (const kv of page.kvs) {
      const obj = decode(kv);
      if (match(obj)) items.push(view(obj));
    }
    next = page.kvs.length ? page.kvs.at(-1)!.key + '\0' : next;
    if (!page.more) return { items, revision };
    if (limit && items.length >= limit)
      return { items, revision, continueToken: encodeContinue(next!, prefix, revision) };
  }
}

/**
 * Paging tokens as Kubernetes makes them: the revision and the next key relative to the listed prefix,
 * so a token can only continue inside the collection the request names (and was authorized for): a
 * forged or altered token is a 400, never a read of another resource's keys.
 */
function encodeContinue(nextKey: string, prefix: string, revision: number): string {
  return Buffer.from(
    JSON.stringify({ v: 'meta.k8s.io/v1', rv: revision, start: nextKey.slice(prefix.length) }),
  ).toString('base64url');
}

function decodeContinue(token: string, prefix: string): { startKey: string; revision: number } {
  let parsed: { v?: unknown; rv?: unknown; start?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString()) as typeof parsed;
  } catch {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
  if (
    parsed?.v !== 'meta.k8s.io/v1' ||
    typeof parsed.start !== 'string' ||
    !Number.isSafeInteger(parsed.rv) ||
    (parsed.rv as number) <= 0
  ) {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
  // As Kubernetes: the key is relative to the listed prefix, already clean, and never climbs out of it.
  const start = parsed.start;
  if (start !== '' && (path.posix.normalize(start) !== start || start.startsWith('/') || start.endsWith('/')))
    throw badRequest(`continue key is not valid: ${start}`);
  if (start === '..' || start.startsWith('../')) throw badRequest('continue key is not valid: cannot contain ..');
  return { startKey: prefix + start, revision: parsed.rv as number };
}
