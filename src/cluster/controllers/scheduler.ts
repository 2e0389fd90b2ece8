/**
 * The scheduler: binds each pending pod that asks for the default scheduler to a node through
 * `pods/<name>/binding`. A node qualifies when it is Ready, schedulable and matches the pod's
 * nodeSelector; among those the one running the fewest pods wins. A pod no node can take is marked
 * `PodScheduled=False` (Unschedulable) and tried again when nodes change.
 */
import type { Logger } from '../../common/log.js';
import type { KObject } from '../apiserver/objects.js';
import { ApiStatusError, collectionPath, type ApiClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { keyOf, type Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';

type PodSpec = { nodeName?: string; schedulerName?: string; nodeSelector?: Record<string, string> };

const nodeReady = (n: KObject): boolean =>
  ((n.status?.conditions as Array<{ type: string; status: string }> | undefined) ?? []).some(
    (c) => c.type === 'Ready' && c.status === 'True',
  );

export class Scheduler {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: ApiClient,
    private readonly pods: Informer,
    private readonly nodes: Informer,
    private readonly logger: Logger,
    private readonly events?: EventRecorder,
  ) {
    const consider = (p: KObject): void => {
      const spec = (p.spec ?? {}) as PodSpec;
      if (
        !spec.nodeName &&
        (spec.schedulerName ?? 'default-scheduler') === 'default-scheduler' &&
        !p.metadata?.deletionTimestamp
      )
        this.queue.add(keyOf(p));
    };
    pods.on({ add: consider, update: (_old, p) => consider(p) });
    const retryAll = (): void => {
      for (const p of pods.list()) consider(p);
    };
    nodes.on({ add: retryAll, update: (old, n) => nodeReady(old) !== nodeReady(n) && retryAll() });
  }

  run(): Promise<void> {
    return this.queue.run('scheduler', (key) => this.schedule(key), this.logger, 1);
  }

  private async schedule(key: string): Promise<void> {
    const pod = this.pods.get(key);
    const spec = (pod?.spec ?? {}) as PodSpec;
    if (!pod || spec.nodeName || pod.metadata?.deletionTimestamp) return;
    const selector = spec.nodeSelector ?? {};
    const fits = this.nodes
      .list()
      .filter(
        (n) =>
          nodeReady(n) &&
          !(n.spec as { unschedulable?: boolean } | undefined)?.unschedulable &&
          Object.entries(selector).every(([k, v]) => n.metadata?.labels?.[k] === v),
      );
    const path = `${collectionPath('v1', 'pods', pod.metadata!.namespace)}/${pod.metadata!.name}`;
    if (!fits.length) {
      const message = `0/${this.nodes.list().length} nodes are available: ${Object.keys(selector).length ? "node(s) didn't match Pod's node affinity/selector" : 'no node is ready'}.`;
      const conditions = (pod.status?.conditions as Array<{ type: string; message?: string }> | undefined) ?? [];
      if (conditions.some((c) => c.type === 'PodScheduled' && c.message === message)) return;
      this.events?.record(pod, 'Warning', 'FailedScheduling', message);
      const unschedulable = {
        type: 'PodScheduled',
        status: 'False',
        lastProbeTime: null,
        lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        reason: 'Unschedulable',
        message,
      };
      await this.client
        .mergePatch(`${path}/status`, {
          status: { conditions: [...conditions.filter((c) => c.type !== 'PodScheduled'), unschedulable] },
        })
        .catch(() => undefined);
      return;
    }
    const load = new Map<string, number>();
    for (const p of this.pods.list()) {
      const node = (p.spec as PodSpec | undefined)?.nodeName;
      if (node) load.set(node, (load.get(node) ?? 0) + 1);
    }
    const node = fits.sort((a, b) => (load.get(a.metadata!.name!) ?? 0) - (load.get(b.metadata!.name!) ?? 0))[0]!;
    await this.client
      .create(`${path}/binding`, {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: pod.metadata!.name, namespace: pod.metadata!.namespace },
        target: { apiVersion: 'v1', kind: 'Node', name: node.metadata!.name },
      })
      .then(
        () =>
          this.events?.record(
            pod,
            'Normal',
            'Scheduled',
            `Successfully assigned ${pod.metadata!.namespace}/${pod.metadata!.name} to ${node.metadata!.name}`,
          ),
        (err: unknown) => {
          if (!(err instanceof ApiStatusError && (err.code === 409 || err.code === 404))) throw err;
        },
      );
  }
}
