/**
 * The ReplicaSet controller: keeps `spec.replicas` pods made from the template, owned by the set
 * (ownerReferences, so deleting the set removes them), and reports the counts in its status.
 *
 * Creations and deletions it has asked for but not yet seen through the pod informer are "expected",
 * as in Kubernetes, so a reconcile that runs before the informer catches up does not do them twice.
 */
import { isNotFound } from '../api/errors.js';
import type { Logger } from '../../common/log.js';
import type { KObject } from '../api/object.js';
import { isPodActive, isPodReady, podSpec, podStatus } from '../api/pod.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { BY_OWNER, keyOf, type Informer } from '../client/informer.js';
import { controllerOf, WorkQueue } from './controller.js';

const EXPECTATIONS_TIMEOUT_MS = 30_000;
/** Pods created or deleted per reconcile at most; the rest follow on the next one. */
const BURST = 100;

interface Expectation {
  adds: number;
  deletes: Set<string>;
  since: number;
}

const isActive = isPodActive;

/** Pods to remove first: unscheduled, then pending, then not ready, then the newest. */
function deletionOrder(a: KObject, b: KObject): number {
  const rank = (p: KObject): number =>
    !podSpec(p).nodeName ? 0 : podStatus(p).phase === 'Pending' ? 1 : !isPodReady(p) ? 2 : 3;
  return (
    rank(a) - rank(b) ||
    String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? ''))
  );
}

export class ReplicaSetController {
  readonly queue = new WorkQueue();
  private readonly expectations = new Map<string, Expectation>();

  constructor(
    private readonly client: KubeClient,
    private readonly sets: Informer,
    private readonly pods: Informer,
    private readonly logger: Logger,
    private readonly events?: EventRecorder,
  ) {
    pods.addIndex(BY_OWNER);
    sets.on({
      add: (o) => this.queue.add(keyOf(o)),
      update: (_old, o) => this.queue.add(keyOf(o)),
      delete: (o) => this.expectations.delete(keyOf(o)),
    });
    const ownerKey = (p: KObject): string | undefined => {
      const owner = controllerOf(p);
      return owner?.kind === 'ReplicaSet' ? `${p.metadata?.namespace}/${owner.name}` : undefined;
    };
    pods.on({
      add: (p) => {
        const key = ownerKey(p);
        if (!key) return;
        const e = this.expectations.get(key);
        if (e && e.adds > 0) e.adds--;
        this.queue.add(key);
      },
      update: (_old, p) => {
        const key = ownerKey(p);
        if (key) this.queue.add(key);
      },
      delete: (p) => {
        const key = ownerKey(p);
        if (!key) return;
        this.expectations.get(key)?.deletes.delete(keyOf(p));
        this.queue.add(key);
      },
    });
  }

  run(): Promise<void> {
    return this.queue.run('replicaset', (key) => this.sync(key), this.logger);
  }

  private satisfied(key: string): boolean {
    const e = this.expectations.get(key);
    if (!e) return true;
    if ((e.adds <= 0 && e.deletes.size === 0) || Date.now() - e.since > EXPECTATIONS_TIMEOUT_MS) {
      this.expectations.delete(key);
      return true;
    }
    return false;
  }

  async sync(key: string): Promise<void> {
    const rs = this.sets.get(key);
    if (!rs || rs.metadata?.deletionTimestamp) return;
    const ns = rs.metadata!.namespace!;
    const uid = rs.metadata!.uid;
    const spec = (rs.spec ?? {}) as { replicas?: number; template?: KObject };
    const owned = this.pods
      .byIndex(BY_OWNER, uid ?? '')
      .filter((p) => p.metadata?.namespace === ns && controllerOf(p)?.uid === uid);
    const active = owned.filter(isActive);
    const want = spec.replicas ?? 1;
    if (this.satisfied(key)) {
      const diff = want - active.length;
      if (diff > 0) await this.createPods(key, rs, Math.min(diff, BURST));
      else if (diff < 0) await this.deletePods(key, active.sort(deletionOrder).slice(0, Math.min(-diff, BURST)));
    }
    await this.updateStatus(rs, active);
  }

  private async createPods(key: string, rs: KObject, n: number): Promise<void> {
    const template = ((rs.spec as { template?: KObject }).template ?? {}) as KObject;
    const ns = rs.metadata!.namespace!;
    const pod: KObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${rs.metadata!.name}-`,
        namespace: ns,
        labels: template.metadata?.labels,
        ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: rs.metadata!.name,
            uid: rs.metadata!.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: template.spec,
    };
    this.expectations.set(key, { adds: n, deletes: new Set(), since: Date.now() });
    const results = await Promise.allSettled(
      Array.from({ length: n }, () => this.client.create(collectionPath('v1', 'pods', ns), pod)),
    );
    for (const r of results)
      if (r.status === 'fulfilled')
        this.events?.record(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${r.value.metadata?.name}`);
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length) {
      const e = this.expectations.get(key);
      if (e) e.adds -= failed.length;
      throw (failed[0] as PromiseRejectedResult).reason;
    }
  }

  private async deletePods(key: string, victims: KObject[]): Promise<void> {
    this.expectations.set(key, { adds: 0, deletes: new Set(victims.map(keyOf)), since: Date.now() });
    await Promise.all(
      victims.map((p) =>
        this.client.delete(`${collectionPath('v1', 'pods', p.metadata!.namespace)}/${p.metadata!.name}`).then(
          () =>
            this.events?.record(
              this.sets.get(key) ?? p,
              'Normal',
              'SuccessfulDelete',
              `Deleted pod: ${p.metadata!.name}`,
            ),
          (err: unknown) => {
            this.expectations.get(key)?.deletes.delete(keyOf(p));
            if (!isNotFound(err)) throw err;
          },
        ),
      ),
    );
  }

  private async updateStatus(rs: KObject, active: KObject[]): Promise<void> {
    const templateLabels = ((rs.spec as { template?: KObject }).template?.metadata?.labels ?? {}) as Record<
      string,
      string
    >;
    const ready = active.filter(isPodReady).length;
    const status = {
      replicas: active.length,
      fullyLabeledReplicas: active.filter((p) =>
        Object.entries(templateLabels).every(([k, v]) => p.metadata?.labels?.[k] === v),
      ).length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: rs.metadata?.generation ?? 1,
    };
    const cur = (rs.status ?? {}) as Record<string, unknown>;
    if (Object.entries(status).every(([k, v]) => (cur[k] ?? 0) === v)) return;
    await this.client
      .mergePatch(`${collectionPath('apps/v1', 'replicasets', rs.metadata!.namespace)}/${rs.metadata!.name}/status`, {
        status,
      })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }
}
