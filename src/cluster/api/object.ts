/**
 * An API object of any kind, as it travels: typed metadata (the generated `ObjectMeta`), and the rest
 * left open, since one code path (the generic store, informers, the garbage collector) handles every
 * kind. Kind-specific code narrows with the generated types (`asPod`, ...).
 */
import type { ObjectMeta, OwnerReference } from './types.js';

export type KObject = {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta & { [k: string]: unknown };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
};

/** `namespace/name`, or `name` for a cluster-scoped object: the key of informers and work queues. */
export const keyOf = (o: KObject): string =>
  o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata?.name ?? '');

export const ownerReferencesOf = (o: KObject): OwnerReference[] => o.metadata?.ownerReferences ?? [];

/** The owner of an object that is its controller (`controller: true`), if any. */
export function controllerOf(o: KObject): OwnerReference | undefined {
  return ownerReferencesOf(o).find((r) => r.controller);
}

let stampSecond = -1;
let stamp = '';

/** The time as Kubernetes writes it: RFC 3339 in UTC, whole seconds (formatted once a second: writes are hot). */
export function nowRfc3339(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== stampSecond) {
    stampSecond = second;
    stamp = new Date(second * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  }
  return stamp;
}
