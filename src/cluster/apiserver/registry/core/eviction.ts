/**
 * `pods/<name>/eviction` (kubectl drain): deletes the pod with the eviction's options unless a
 * PodDisruptionBudget selecting it allows no disruption now (429, as Kubernetes answers).
 */
import { ApiError, type KObject } from '../../objects.js';
import { storageKey } from '../../resources.js';
import type { DeleteOptions, Subresource } from '../strategy.js';

export const eviction: Subresource = {
  kind: 'Eviction',
  groupVersion: { group: 'policy', version: 'v1' },
  verbs: ['create'],
  async handle(ctx, { t, body, dryRun }) {
    const request = await body();
    const pod = await ctx.store.read({ res: t.res, namespace: t.namespace, name: t.name });
    const labels = pod.metadata?.labels ?? {};
    // A pod already being deleted disrupts nothing more: Kubernetes lets its eviction through.
    const budgets = pod.metadata?.deletionTimestamp
      ? []
      : (await ctx.storage.list(storageKey(ctx.resource('poddisruptionbudgets'), t.namespace))).kvs;
    for (const kv of budgets) {
      const pdb = JSON.parse(kv.value.toString('utf8')) as KObject;
      const sel = (pdb.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector
        ?.matchLabels;
      if (!sel || !Object.entries(sel).every(([k, v]) => labels[k] === v)) continue;
      const status = (pdb.status ?? {}) as {
        disruptionsAllowed?: number;
        desiredHealthy?: number;
        currentHealthy?: number;
      };
      const allowed = status.disruptionsAllowed ?? 0;
      if (allowed > 0) {
        // Count this disruption down at once, guarded by the budget's revision, so two evictions racing
        // for the last allowed disruption do not both pass (the disruption controller recounts later).
        if (!dryRun)
          await ctx.store
            .update(
              {
                res: ctx.resource('poddisruptionbudgets'),
                namespace: t.namespace,
                name: pdb.metadata?.name,
                subresource: 'status',
              },
              false,
              (cur) => ({
                ...cur,
                metadata: { ...cur.metadata, resourceVersion: String(kv.modRevision) },
                status: { ...(cur.status ?? {}), disruptionsAllowed: allowed - 1 },
              }),
              true,
            )
            .catch((err: unknown) => {
              if (err instanceof ApiError && err.reason === 'Conflict')
                throw new ApiError(429, 'TooManyRequests', 'The disruption budget is being updated: try again.');
              throw err;
            });
        continue;
      }
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
