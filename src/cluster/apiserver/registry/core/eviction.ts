/**
 * `pods/<name>/eviction` (kubectl drain): deletes the pod with the eviction's options unless a
 * PodDisruptionBudget selecting it allows no disruption now (429, as Kubernetes answers).
 */
import { ApiError, type KObject } from '../../objects.js';
import { storageKey } from '../../resources.js';
import type { DeleteOptions, Subresource } from '../strategy.js';

export const eviction: Subresource = {
  kind: 'Eviction',
  verbs: ['create', 'get'],
  async handle(ctx, { t, body, dryRun }) {
    const request = await body();
    const pod = await ctx.store.read({ res: t.res, namespace: t.namespace, name: t.name });
    const labels = pod.metadata?.labels ?? {};
    for (const kv of (await ctx.storage.list(storageKey(ctx.resource('poddisruptionbudgets'), t.namespace))).kvs) {
      const pdb = JSON.parse(kv.value.toString('utf8')) as KObject;
      const sel = (pdb.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector
        ?.matchLabels;
      if (!sel || !Object.entries(sel).every(([k, v]) => labels[k] === v)) continue;
      const status = (pdb.status ?? {}) as {
        disruptionsAllowed?: number;
        desiredHealthy?: number;
        currentHealthy?: number;
      };
      if ((status.disruptionsAllowed ?? 0) > 0) continue;
      const needs = status.desiredHealthy ?? (pdb.spec as { minAvailable?: unknown } | undefined)?.minAvailable ?? 0;
      throw new ApiError(429, 'TooManyRequests', `Cannot evict pod as it would violate the pod's disruption budget.`, {
        causes: [
          {
            reason: 'DisruptionBudget',
            message: `The disruption budget ${pdb.metadata?.name} needs ${String(needs)} healthy pods and has ${status.currentHealthy ?? 0} currently`,
          },
        ],
      });
    }
    await ctx.store.remove(
      { res: t.res, namespace: t.namespace, name: t.name },
      dryRun,
      (request.deleteOptions ?? {}) as DeleteOptions,
    );
    return [201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 }];
  },
};
