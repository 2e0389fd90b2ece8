/**
 * PodDisruptionBudget status, after kube-controller-manager's disruption controller: for each budget,
 * the pods it selects (`expectedPods`), how many are Ready (`currentHealthy`), how many must stay so
 * (`desiredHealthy`, from `minAvailable` or `maxUnavailable`, a number or a percentage of the expected
 * pods) and so how many may go now (`disruptionsAllowed`), which the eviction subresource — what
 * `kubectl drain` calls — honours and counts down. Gantry counts the selected pods as expected rather
 * than asking their controllers' scale, which differs only while a controller is short of pods.
 */
import { isNotFound } from '../api/errors.js';
import type { Logger } from '../../common/log.js';
import { keyOf, nowRfc3339, type KObject } from '../api/object.js';
import { isPodReady } from '../api/pod.js';
import { labelSelectorMatches, type LabelSelector } from '../api/selector.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import { BY_NAMESPACE, type Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';

interface BudgetSpec {
  selector?: LabelSelector;
  minAvailable?: number | string;
  maxUnavailable?: number | string;
}

/** An int-or-percent of `total`, rounded up as Kubernetes rounds budgets. */
function scaled(v: number | string, total: number): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  return m ? Math.ceil((Number(m[1]) * total) / 100) : Number(v) || 0;
}

/** The budget's status for the pods it selects. */
export function budgetStatus(spec: BudgetSpec, pods: KObject[]): Record<string, number> {
  const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
  const expectedPods = live.length;
  const currentHealthy = live.filter(isPodReady).length;
  const desiredHealthy =
    spec.maxUnavailable !== undefined
      ? Math.max(0, expectedPods - scaled(spec.maxUnavailable, expectedPods))
      : scaled(spec.minAvailable ?? 0, expectedPods);
  return {
    expectedPods,
    currentHealthy,
    desiredHealthy,
    disruptionsAllowed: Math.max(0, currentHealthy - desiredHealthy),
  };
}

export class DisruptionController {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly budgets: Informer,
    private readonly pods: Informer,
    private readonly logger: Logger,
  ) {
    pods.addIndex(BY_NAMESPACE);
    budgets.addIndex(BY_NAMESPACE);
    const budget = (b: KObject): void => this.queue.add(keyOf(b));
    budgets.on({ add: budget, update: (_o, b) => budget(b), delete: () => undefined });
    // A pod changing changes the budgets of its namespace that select it.
    const pod = (p: KObject): void => {
      for (const b of budgets.byIndex(BY_NAMESPACE, p.metadata?.namespace ?? ''))
        if (labelSelectorMatches((b.spec as BudgetSpec | undefined)?.selector, p.metadata?.labels ?? {}))
          this.queue.add(keyOf(b));
    };
    pods.on({ add: pod, update: (_o, p) => pod(p), delete: pod });
  }

  run(): Promise<void> {
    return this.queue.run('disruption', (key) => this.sync(key), this.logger);
  }

  async sync(key: string): Promise<void> {
    const b = this.budgets.get(key);
    if (!b) return;
    const spec = (b.spec ?? {}) as BudgetSpec;
    const ns = b.metadata?.namespace ?? '';
    const selected = this.pods
      .byIndex(BY_NAMESPACE, ns)
      .filter((p) => labelSelectorMatches(spec.selector, p.metadata?.labels ?? {}));
    const counts = budgetStatus(spec, selected);
    const have = (b.status ?? {}) as Record<string, unknown>;
    const generation = b.metadata?.generation ?? 0;
    if (have.observedGeneration === generation && Object.entries(counts).every(([k, v]) => have[k] === v)) return;
    const allowed = counts.disruptionsAllowed! > 0;
    const status = {
      ...counts,
      observedGeneration: generation,
      conditions: [
        {
          type: 'DisruptionAllowed',
          status: allowed ? 'True' : 'False',
          reason: allowed ? 'SufficientPods' : 'InsufficientPods',
          message: '',
          observedGeneration: generation,
          lastTransitionTime: nowRfc3339(),
        },
      ],
    };
    await this.client
      .mergePatch(`${collectionPath('policy/v1', 'poddisruptionbudgets', ns)}/${b.metadata?.name}/status`, { status })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }
}
