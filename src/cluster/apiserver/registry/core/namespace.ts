/**
 * Namespaces. Deleting one only marks it Terminating (deletionTimestamp, `status.phase`); the namespace
 * controller empties it and then clears the `kubernetes` finalizer in `spec.finalizers` through the
 * `finalize` subresource, after which the store removes it — as `pkg/registry/core/namespace` does.
 */
import { resourceType } from '../../resources.js';
import { ageColumn, nameColumn, status } from '../../tables.js';
import type { KObject } from '../../objects.js';
import type { Strategy } from '../strategy.js';

export const NAMESPACE_FINALIZER = 'kubernetes';

const finalizersOf = (o: { spec?: Record<string, unknown> }): string[] =>
  Array.isArray(o.spec?.finalizers) ? (o.spec.finalizers as unknown[]).map(String) : [];

export const namespaces: Strategy = {
  resource: resourceType('', 'v1', 'Namespace', 'namespaces', false, {
    shortNames: ['ns'],
    subresources: ['status', 'finalize'],
  }),
  defaults(o) {
    const s = o.spec as Record<string, unknown>;
    s.finalizers ??= [NAMESPACE_FINALIZER];
    o.status ??= { phase: 'Active' };
  },
  prepareCreate(o) {
    // A new namespace always carries the finalizer that holds it until its contents are gone.
    const s = o.spec as Record<string, unknown>;
    s.finalizers = [...new Set([...finalizersOf(o), NAMESPACE_FINALIZER])];
  },
  mergeUpdate(cur, merged, subresource) {
    // Only `finalize` changes spec.finalizers, and nothing else; every other write keeps them.
    if (subresource === 'finalize')
      return { ...cur, metadata: merged.metadata, spec: { ...cur.spec, finalizers: finalizersOf(merged) } };
    return { ...merged, spec: { ...merged.spec, finalizers: finalizersOf(cur) } };
  },
  gracefulDelete(o) {
    return (next: KObject) => {
      next.status = { ...o.status, phase: 'Terminating' };
    };
  },
  pendingFinalizers: finalizersOf,
  columns: [nameColumn, { name: 'Status', type: 'string', cell: (o) => status(o).phase ?? 'Active' }, ageColumn],
};
