/**
 * Node lifecycle, after kube-controller-manager's node lifecycle controller and its NoExecute taint
 * manager. A node is alive while its agent renews its Lease (or posts status); silent for longer than
 * `--node-monitor-grace-period`, its conditions become `Unknown` ("Kubelet stopped posting node
 * status.") and its pods stop being Ready, so Services stop sending them traffic. A node whose Ready
 * condition is Unknown is tainted `node.kubernetes.io/unreachable:NoExecute`, False
 * `node.kubernetes.io/not-ready:NoExecute`, True neither. Pods on a node with NoExecute taints are
 * deleted when they do not tolerate them, or once their `tolerationSeconds` have run out since the
 * taint was added (the API server gives every pod Kubernetes' default 300 s tolerations); their
 * controllers then make replacements elsewhere. Each pass reads only informers, so a restart resumes.
 */
import { isNotFound } from '../api/errors.js';
import type { Logger } from '../../common/log.js';
import { nowRfc3339, type KObject } from '../api/object.js';
import { nodeConditions, podSpec, podStatus } from '../api/pod.js';
import type { Taint, Toleration } from '../scheduler/framework.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import { BY_NODE, type Informer } from '../client/informer.js';
import { tolerates } from '../scheduler/plugins.js';
import { WorkQueue } from './controller.js';

export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';
export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
const MONITOR_PERIOD_MS = 5_000;

/**
 * When the node was last heard from: its Lease's renewTime, its Ready condition's heartbeat, or — for a
 * node that has not reported yet — its creation, so a new node has its grace period too.
 */
export function lastHeard(node: KObject, lease: KObject | undefined): number {
  const times = [
    (lease?.spec as { renewTime?: string } | undefined)?.renewTime,
    nodeConditions(node).find((c) => c.type === 'Ready')?.lastHeartbeatTime,
    node.metadata?.creationTimestamp,
  ].map((t) => Date.parse(t ?? ''));
  return Math.max(0, ...times.filter((t) => !Number.isNaN(t)));
}

/** The NoExecute taints a node should carry for its Ready condition's status. */
export function wantedTaints(readyStatus: string | undefined): string[] {
  // A node that has not reported yet is within its grace period (after it, it is marked Unknown).
  if (readyStatus === undefined) return [];
  if (readyStatus === 'Unknown') return [UNREACHABLE_TAINT];
  if (readyStatus === 'False') return [NOT_READY_TAINT];
  return [];
}

/**
 * When a pod on a node with these NoExecute taints must go: now (0), at a time (ms since epoch), or
 * never (undefined), as the taint manager decides: the earliest time any taint's tolerance runs out.
 */
export function evictionTime(tolerations: Toleration[], taints: Taint[], now: number): number | undefined {
  let when: number | undefined;
  for (const taint of taints) {
    if (taint.effect !== 'NoExecute') continue;
    const matching = tolerations.filter((t) => tolerates(t, taint));
    if (!matching.length) return 0;
    const seconds = matching.map((t) => t.tolerationSeconds).filter((s): s is number => typeof s === 'number');
    // A toleration without tolerationSeconds tolerates forever.
    if (seconds.length < matching.length) continue;
    const added = Date.parse(taint.timeAdded ?? '') || now;
    const at = added + Math.max(0, Math.min(...seconds)) * 1000;
    when = when === undefined ? at : Math.min(when, at);
  }
  return when;
}

export class NodeLifecycleController {
  readonly queue = new WorkQueue();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly client: KubeClient,
    private readonly nodes: Informer,
    private readonly leases: Informer,
    private readonly pods: Informer,
    private readonly gracePeriodMs: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    pods.addIndex(BY_NODE);
    nodes.on({
      add: (n) => this.queue.add(n.metadata?.name ?? ''),
      update: (_o, n) => this.queue.add(n.metadata?.name ?? ''),
      delete: () => undefined,
    });
  }

  run(): Promise<void> {
    // A node's silence is noticed by time passing, not by an event: look at every node each period.
    this.timer = setInterval(() => {
      for (const n of this.nodes.list()) this.queue.add(n.metadata?.name ?? '');
    }, MONITOR_PERIOD_MS);
    return this.queue.run('nodelifecycle', (name) => this.sync(name), this.logger, 1);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async sync(name: string): Promise<void> {
    const node = this.nodes.get(name);
    if (!node) return;
    const lease = this.leases.get(`kube-node-lease/${name}`);
    const silent = this.now() - lastHeard(node, lease) > this.gracePeriodMs;
    let ready = nodeConditions(node).find((c) => c.type === 'Ready')?.status;
    if (silent && ready !== 'Unknown') {
      await this.markUnknown(node);
      ready = 'Unknown';
    }
    const taints = await this.ensureTaints(node, wantedTaints(ready));
    if (ready !== 'True') await this.evict(name, taints);
  }

  private nodePath(name: string): string {
    return `${collectionPath('v1', 'nodes')}/${name}`;
  }

  private async markUnknown(node: KObject): Promise<void> {
    const name = node.metadata!.name!;
    const now = nowRfc3339();
    const conditions = nodeConditions(node).map((c) =>
      c.status === 'Unknown'
        ? c
        : {
            ...c,
            status: 'Unknown',
            reason: 'NodeStatusUnknown',
            message: 'Kubelet stopped posting node status.',
            lastTransitionTime: now,
          },
    );
    if (!conditions.some((c) => c.type === 'Ready'))
      conditions.push({
        type: 'Ready',
        status: 'Unknown',
        reason: 'NodeStatusNeverUpdated',
        message: 'Kubelet never posted node status.',
        lastTransitionTime: now,
      });
    await this.client.mergePatch(`${this.nodePath(name)}/status`, { status: { conditions } });
    this.logger.warn({ node: name }, 'node stopped posting status: NotReady (Unknown)');
    // Its pods no longer count as Ready, so Services stop sending them traffic.
    for (const pod of this.pods.byIndex(BY_NODE, name)) {
      const meta = pod.metadata!;
      const podConditions = (podStatus(pod).conditions ?? []).map((c) =>
        (c.type === 'Ready' || c.type === 'ContainersReady') && c.status !== 'False'
          ? { ...c, status: 'False', reason: 'NodeNotReady', lastTransitionTime: now }
          : c,
      );
      await this.client
        .mergePatch(`${collectionPath('v1', 'pods', meta.namespace)}/${meta.name}/status`, {
          status: { conditions: podConditions },
        })
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
    }
  }

  /** Add and remove the lifecycle taints so the node has exactly `wanted` of them; the node's taints after. */
  private async ensureTaints(node: KObject, wanted: string[]): Promise<Taint[]> {
    const spec = (node.spec ?? {}) as { taints?: Taint[] };
    const current = spec.taints ?? [];
    const ours = [UNREACHABLE_TAINT, NOT_READY_TAINT];
    const kept = current.filter((t) => !ours.includes(t.key) || (wanted.includes(t.key) && t.effect === 'NoExecute'));
    const added = wanted
      .filter((key) => !kept.some((t) => t.key === key))
      .map((key) => ({ key, effect: 'NoExecute', timeAdded: nowRfc3339() }));
    const next = [...kept, ...added];
    if (next.length === current.length && !added.length) return current;
    await this.client.mergePatch(this.nodePath(node.metadata!.name!), { spec: { taints: next.length ? next : null } });
    this.logger.info({ node: node.metadata?.name, taints: next.map((t) => t.key) }, 'node taints updated');
    return next;
  }

  /** Delete the node's pods whose tolerance has run out; come back for the next one due. */
  private async evict(name: string, taints: Taint[]): Promise<void> {
    let next: number | undefined;
    const now = this.now();
    for (const pod of this.pods.byIndex(BY_NODE, name)) {
      if (pod.metadata?.deletionTimestamp) continue;
      const at = evictionTime((podSpec(pod).tolerations ?? []) as Toleration[], taints, now);
      if (at === undefined) continue;
      if (at > now) {
        next = next === undefined ? at : Math.min(next, at);
        continue;
      }
      const meta = pod.metadata!;
      await this.client.delete(`${collectionPath('v1', 'pods', meta.namespace)}/${meta.name}`).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
      this.logger.info({ node: name, pod: `${meta.namespace}/${meta.name}` }, 'pod evicted from a tainted node');
    }
    if (next !== undefined) this.queue.addAfter(name, next - now + 50);
  }
}
