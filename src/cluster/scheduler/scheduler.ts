/**
 * The scheduler, shaped as kube-scheduler: pending pods that ask for the default scheduler enter the
 * scheduling queue; one at a time a pod is taken, the Filter plugins find feasible nodes (a share of
 * a large cluster, starting where the last search stopped, as `percentageOfNodesToScore` does), the
 * Score plugins rank them, and the pod is *assumed* onto the best one in the cache before its binding
 * is sent — so the next decision already counts it while up to `MAX_BINDS_IN_FLIGHT` bindings travel.
 * A pod no node can take is marked `PodScheduled=False` (Unschedulable, with kube-scheduler's message)
 * and waits for the cluster to change.
 */
import type { Registry } from 'prom-client';
import type { Logger } from '../../common/log.js';
import { nowRfc3339, type KObject } from '../api/object.js';
import type { LabelSelector } from '../api/selector.js';
import type { PodSpec } from '../api/types.js';
import { ApiStatusError, collectionPath, type KubeClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { keyOf, type Informer } from '../client/informer.js';
import { SchedulerCache } from './cache.js';
import {
  SKIP,
  podInfo,
  podRequests,
  type FilterPlugin,
  type NodeInfo,
  type PodInfo,
  type PreBindPlugin,
  type Resources,
  type ScorePlugin,
} from './framework.js';
import { DEFAULT_FILTERS, DEFAULT_SCORES } from './plugins.js';
import { findPreemption, type DisruptionBudget, type Preemption } from './preemption.js';
import { SchedulingQueue } from './queue.js';
import { schedulerMetrics, type AttemptResult, type SchedulerMetrics } from './metrics.js';

const MAX_BINDS_IN_FLIGHT = 32;
const EXPIRE_EVERY_MS = 5000;
/** Below this many nodes every node is considered. */
const MIN_FEASIBLE_NODES = 100;

const isPending = (p: KObject): boolean => {
  const spec = (p.spec ?? {}) as PodSpec;
  return (
    !spec.nodeName &&
    (spec.schedulerName ?? 'default-scheduler') === 'default-scheduler' &&
    !p.metadata?.deletionTimestamp
  );
};

/** kube-scheduler's adaptive share of nodes to find feasible before scoring. */
export function feasibleNodesToFind(nodes: number): number {
  if (nodes < MIN_FEASIBLE_NODES) return nodes;
  const percentage = Math.max(5, 50 - Math.floor(nodes / 125));
  return Math.max(MIN_FEASIBLE_NODES, Math.floor((nodes * percentage) / 100));
}

export interface Decision {
  node?: NodeInfo;
  /** Why no node fits: each reason with how many nodes gave it. */
  reasons: Map<string, number>;
  examined: number;
}

/**
 * Filter from `start` until enough nodes are feasible, then pick the best score (first wins ties).
 * Plugins whose `prepare` answers `SKIP` are left out of this attempt, as kube-scheduler leaves them.
 */
export function decide(
  pod: PodInfo,
  nodes: NodeInfo[],
  start: number,
  filters: FilterPlugin[],
  scores: ScorePlugin[],
): Decision {
  const want = feasibleNodesToFind(nodes.length);
  const reasons = new Map<string, number>();
  const feasible: NodeInfo[] = [];
  const activeFilters = filters.filter((f) => f.prepare?.(pod, nodes) !== SKIP);
  let i = 0;
  for (; i < nodes.length && feasible.length < want; i++) {
    const node = nodes[(start + i) % nodes.length]!;
    let reason: string | undefined;
    for (const f of activeFilters) if ((reason = f.filter(pod, node))) break;
    if (reason) reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    else feasible.push(node);
  }
  const totals = new Float64Array(feasible.length);
  for (const s of scores) {
    if (s.prepare?.(pod, feasible) === SKIP) continue;
    if (!s.normalize) {
      for (let n = 0; n < feasible.length; n++) totals[n]! += s.weight * s.score(pod, feasible[n]!);
      continue;
    }
    const normalized = s.normalize(feasible.map((node) => s.score(pod, node)));
    for (let n = 0; n < feasible.length; n++) totals[n]! += s.weight * normalized[n]!;
  }
  let best: NodeInfo | undefined;
  let bestScore = -1;
  for (let n = 0; n < feasible.length; n++) {
    if (totals[n]! > bestScore) [best, bestScore] = [feasible[n], totals[n]!];
  }
  return { node: best, reasons, examined: i };
}

/** kube-scheduler's FailedScheduling message: `0/3 nodes are available: 1 Insufficient cpu, 2 ...`. */
export function unschedulableMessage(total: number, reasons: Map<string, number>): string {
  const parts = [...reasons].map(([reason, n]) => `${n} ${reason}`).sort();
  return `0/${total} nodes are available${parts.length ? `: ${parts.join(', ')}` : ''}.`;
}

export class Scheduler {
  readonly queue = new SchedulingQueue();
  private readonly cache = new SchedulerCache();
  /** Pods that preempted, by key: the node freed for them, held against pods of lower priority. */
  private readonly nominated = new Map<string, { node: string; priority: number; requests: Resources }>();
  private nextStart = 0;
  private inFlight = 0;
  private readonly slotWaiters: Array<() => void> = [];
  private expirer?: NodeJS.Timeout;
  private metrics?: SchedulerMetrics;

  constructor(
    private readonly client: KubeClient,
    private readonly pods: Informer,
    nodes: Informer,
    private readonly logger: Logger,
    private readonly events?: EventRecorder,
    private readonly plugins: { filters: FilterPlugin[]; scores: ScorePlugin[]; preBind?: PreBindPlugin[] } = {
      filters: DEFAULT_FILTERS,
      scores: DEFAULT_SCORES,
    },
    /** Namespaces, for affinity terms that pick them by label (without it such terms pick none). */
    private readonly namespaces?: Informer,
    /** PodDisruptionBudgets, whose pods preemption spares where it can. */
    private readonly budgets?: Informer,
  ) {
    const seen = (p: KObject): void => {
      const key = keyOf(p);
      this.cache.setPod(key, p);
      if (isPending(p)) this.queue.add(key, (p.spec as PodSpec).priority ?? 0);
      else this.queue.done(key);
    };
    // A namespace labelled anew may let an affinity term's namespaceSelector pick it.
    namespaces?.on({ add: () => this.queue.moveAllToActive(), update: () => this.queue.moveAllToActive() });
    pods.on({
      add: seen,
      update: (_old, p) => seen(p),
      delete: (p) => {
        const key = keyOf(p);
        this.cache.removePod(key);
        this.nominated.delete(key);
        this.queue.done(key);
        // Resources were freed: waiting pods may fit now.
        if ((p.spec as PodSpec | undefined)?.nodeName) this.queue.moveAllToActive();
      },
    });
    nodes.on({
      add: (n) => {
        this.cache.setNode(n);
        this.queue.moveAllToActive();
      },
      update: (_old, n) => {
        this.cache.setNode(n);
        this.queue.moveAllToActive();
      },
      delete: (n) => this.cache.removeNode(n.metadata?.name ?? ''),
    });
  }

  /** Report attempts and pending pods into `registry` from now on. */
  instrument(registry: Registry): void {
    this.metrics = schedulerMetrics(registry, this.queue);
  }

  private observe(result: AttemptResult, startedAt: number): void {
    this.metrics?.attempt(result, (performance.now() - startedAt) / 1000);
  }

  async run(): Promise<void> {
    this.expirer = setInterval(() => this.cache.expire(), EXPIRE_EVERY_MS);
    this.expirer.unref();
    for (;;) {
      const key = await this.queue.pop();
      if (key === undefined) break;
      const startedAt = performance.now();
      try {
        await this.scheduleOne(key, startedAt);
      } catch (err) {
        this.observe('error', startedAt);
        this.logger.warn({ pod: key, err: String(err) }, 'scheduling failed; will retry');
        this.queue.retryLater(key);
      }
    }
    clearInterval(this.expirer);
  }

  private disruptionBudgets(): DisruptionBudget[] {
    return (this.budgets?.list() ?? []).map((b) => ({
      namespace: b.metadata?.namespace ?? '',
      selector: (b.spec as { selector?: LabelSelector } | undefined)?.selector,
      disruptionsAllowed: Number((b.status as { disruptionsAllowed?: number } | undefined)?.disruptionsAllowed ?? 0),
    }));
  }

  private async scheduleOne(key: string, startedAt: number): Promise<void> {
    const pod = this.pods.get(key);
    if (!pod || !isPending(pod) || this.cache.isAssumed(key)) return;
    const info = podInfo(key, pod, (ns) => this.namespaces?.get(ns)?.metadata?.labels);
    const nodes = this.cache.nodeList();
    const d = this.withNominations(info, () =>
      decide(info, nodes, this.nextStart, this.plugins.filters, this.plugins.scores),
    );
    if (nodes.length) this.nextStart = (this.nextStart + d.examined) % nodes.length;
    if (!d.node) {
      this.queue.markUnschedulable(key);
      this.observe('unschedulable', startedAt);
      await this.reportUnschedulable(pod, unschedulableMessage(nodes.length, d.reasons));
      const preemption =
        info.priority > 0 ? findPreemption(info, nodes, this.plugins.filters, this.disruptionBudgets()) : undefined;
      if (preemption) await this.preempt(pod, preemption);
      return;
    }
    this.nominated.delete(key);
    this.cache.assume(key, pod, d.node.name);
    await this.bindSlot();
    void this.bind(key, pod, d.node.name, startedAt).finally(() => this.releaseSlot());
  }

  private bindSlot(): Promise<void> {
    if (this.inFlight < MAX_BINDS_IN_FLIGHT) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.slotWaiters.shift();
    if (next) next();
    else this.inFlight--;
  }

  private async bind(key: string, pod: KObject, node: string, startedAt: number): Promise<void> {
    const meta = pod.metadata!;
    const path = `${collectionPath('v1', 'pods', meta.namespace)}/${meta.name}/binding`;
    try {
      for (const p of this.plugins.preBind ?? []) await p.preBind(pod, node);
      await this.client.create(path, {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: meta.name, namespace: meta.namespace, uid: meta.uid },
        target: { apiVersion: 'v1', kind: 'Node', name: node },
      });
      this.cache.finishBinding(key);
      this.queue.done(key);
      this.observe('scheduled', startedAt);
      this.events?.record(
        pod,
        'Normal',
        'Scheduled',
        `Successfully assigned ${meta.namespace}/${meta.name} to ${node}`,
      );
    } catch (err) {
      this.cache.forget(key);
      // Bound by someone else, or gone: nothing to retry.
      if (err instanceof ApiStatusError && (err.code === 409 || err.code === 404)) return this.queue.done(key);
      this.observe('error', startedAt);
      this.logger.warn({ pod: key, node, err: String(err) }, 'binding failed; will retry');
      this.queue.retryLater(key);
    }
  }

  /**
   * Run `fn` with the room freed for nominated pods of at least this pod's priority counted as taken,
   * so a lower-priority pod does not take what a preemption freed (kube-scheduler's nominated pods).
   */
  private withNominations<T>(pod: PodInfo, fn: () => T): T {
    const held: Array<[NodeInfo, Resources]> = [];
    for (const [key, n] of this.nominated) {
      const node = this.cache.node(n.node);
      if (key === pod.key || n.priority < pod.priority || !node) continue;
      held.push([node, n.requests]);
    }
    const shift = (sign: 1 | -1): void => {
      for (const [node, r] of held) {
        node.requested.cpu += sign * r.cpu;
        node.requested.memory += sign * r.memory;
        node.requested.pods += sign * r.pods;
      }
    };
    shift(1);
    try {
      return fn();
    } finally {
      shift(-1);
    }
  }

  /**
   * Evict the victims (deleted gracefully, as kube-scheduler does) and nominate the node; the pod is
   * tried again when they are gone. Victims already terminating are not asked twice.
   */
  private async preempt(pod: KObject, p: Preemption): Promise<void> {
    const victims = p.victims
      .map((k) => this.pods.get(k))
      .filter((v): v is KObject => !!v && !v.metadata?.deletionTimestamp);
    const meta = pod.metadata!;
    this.nominated.set(`${meta.namespace}/${meta.name}`, {
      node: p.node.name,
      priority: Number((pod.spec as { priority?: number } | undefined)?.priority ?? 0),
      requests: podRequests(pod),
    });
    if (!victims.length) return;
    await Promise.all(
      victims.map(async (v) => {
        await this.client
          .delete(`${collectionPath('v1', 'pods', v.metadata!.namespace)}/${v.metadata!.name}`)
          .catch(() => undefined);
        this.events?.record(v, 'Normal', 'Preempted', `Preempted by pod ${meta.uid} on node ${p.node.name}`);
      }),
    );
    this.logger.info({ pod: `${meta.namespace}/${meta.name}`, node: p.node.name, victims: p.victims }, 'preempted');
    await this.client
      .mergePatch(`${collectionPath('v1', 'pods', meta.namespace)}/${meta.name}/status`, {
        status: { nominatedNodeName: p.node.name },
      })
      .catch(() => undefined);
  }

  private async reportUnschedulable(pod: KObject, message: string): Promise<void> {
    const conditions = (pod.status?.conditions as Array<{ type: string; message?: string }> | undefined) ?? [];
    if (conditions.some((c) => c.type === 'PodScheduled' && c.message === message)) return;
    this.events?.record(pod, 'Warning', 'FailedScheduling', message);
    const unschedulable = {
      type: 'PodScheduled',
      status: 'False',
      lastProbeTime: null,
      lastTransitionTime: nowRfc3339(),
      reason: 'Unschedulable',
      message,
    };
    await this.client
      .mergePatch(`${collectionPath('v1', 'pods', pod.metadata!.namespace)}/${pod.metadata!.name}/status`, {
        status: { conditions: [...conditions.filter((c) => c.type !== 'PodScheduled'), unschedulable] },
      })
      .catch(() => undefined);
  }
}
