/**
 * The ReplicaSet controller, and the ReplicationController controller as the same code (Kubernetes'
 * `pkg/controller/replication` wraps its ReplicaSet controller the same way): keeps `spec.replicas` pods
 * made from the template, owned by the set (ownerReferences, so deleting the set removes them), and
 * reports the counts in its status. Pods matching the selector without a controller are adopted; owned
 * pods whose labels stop matching are released. A ReplicaSet selects with a LabelSelector, a
 * ReplicationController with plain label equality.
 */
import type { Logger } from '../../common/log.js';
import type { KObject } from '../api/object.js';
import { isPodActive, isPodReady, podCondition, podSpec, podStatus } from '../api/pod.js';
import { labelSelectorMatches, type LabelSelector } from '../api/selector.js';
import { isNotFound } from '../api/errors.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { BY_OWNER, keyOf, ORPHANS_BY_NAMESPACE, type Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';
import {
  claimPods,
  createPods,
  deletePod,
  Expectations,
  ownerKeyOf,
  podFromTemplate,
  type OwnerKind,
} from './podcontrol.js';

/** Pods created or deleted per reconcile at most; the rest follow on the next one. */
const BURST = 100;

/** What differs between ReplicaSets and ReplicationControllers. */
export interface ReplicaKind extends OwnerKind {
  plural: string;
  name: string;
  selects(selector: unknown, labels: Record<string, string>): boolean;
}

export const REPLICA_SET: ReplicaKind = {
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  plural: 'replicasets',
  name: 'replicaset',
  selects: (selector, labels) => labelSelectorMatches(selector as LabelSelector | undefined, labels),
};

/** A ReplicationController's selector is a map: every pair must be among the pod's labels. */
export const REPLICATION_CONTROLLER: ReplicaKind = {
  apiVersion: 'v1',
  kind: 'ReplicationController',
  plural: 'replicationcontrollers',
  name: 'replicationcontroller',
  selects: (selector, labels) =>
    !!selector &&
    Object.keys(selector).length > 0 &&
    Object.entries(selector as Record<string, string>).every(([k, v]) => labels[k] === v),
};

interface ReplicaSpec {
  replicas?: number;
  minReadySeconds?: number;
  selector?: unknown;
  template?: KObject;
}

/** Pods to remove first: unscheduled, then pending, then not ready, then the newest. */
function deletionOrder(a: KObject, b: KObject): number {
  const rank = (p: KObject): number =>
    !podSpec(p).nodeName ? 0 : podStatus(p).phase === 'Pending' ? 1 : !isPodReady(p) ? 2 : 3;
  return (
    rank(a) - rank(b) ||
    String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? ''))
  );
}

/** Ready for at least `minReadySeconds` (Kubernetes' `IsPodAvailable`). */
export function isPodAvailable(pod: KObject, minReadySeconds: number, now = Date.now()): boolean {
  if (!isPodReady(pod)) return false;
  if (!minReadySeconds) return true;
  const since = Date.parse(podCondition(pod, 'Ready')?.lastTransitionTime ?? '');
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= now;
}

export class ReplicaSetController {
  readonly queue = new WorkQueue();
  private readonly expectations = new Expectations();

  constructor(
    private readonly client: KubeClient,
    private readonly sets: Informer,
    private readonly pods: Informer,
    private readonly logger: Logger,
    private readonly events?: EventRecorder,
    private readonly kind: ReplicaKind = REPLICA_SET,
  ) {
    pods.addIndex(BY_OWNER).addIndex(ORPHANS_BY_NAMESPACE);
    sets.on({
      add: (o) => this.queue.add(keyOf(o)),
      update: (_old, o) => this.queue.add(keyOf(o)),
      delete: (o) => this.expectations.forget(keyOf(o)),
    });
    pods.on({
      add: (p) => {
        const key = ownerKeyOf(p, kind);
        if (key) this.expectations.creationObserved(key);
        this.enqueueFor(p, key);
      },
      update: (old, p) => {
        this.enqueueFor(p, ownerKeyOf(p, kind));
        const oldKey = ownerKeyOf(old, kind);
        if (oldKey && oldKey !== ownerKeyOf(p, kind)) this.queue.add(oldKey);
      },
      delete: (p) => {
        const key = ownerKeyOf(p, kind);
        if (key) this.expectations.deletionObserved(key, keyOf(p));
        this.enqueueFor(p, key);
      },
    });
  }

  /** The set owning a pod; for an orphan, every set whose selector matches it (one may adopt it). */
  private enqueueFor(pod: KObject, ownerKey: string | undefined): void {
    if (ownerKey) {
      this.queue.add(ownerKey);
      return;
    }
    if (pod.metadata?.ownerReferences?.some((r) => r.controller)) return;
    const labels = pod.metadata?.labels ?? {};
    for (const set of this.sets.list())
      if (
        set.metadata?.namespace === pod.metadata?.namespace &&
        this.kind.selects((set.spec as ReplicaSpec | undefined)?.selector, labels)
      )
        this.queue.add(keyOf(set));
  }

  run(): Promise<void> {
    return this.queue.run(this.kind.name, (key) => this.sync(key), this.logger);
  }

  async sync(key: string): Promise<void> {
    const set = this.sets.get(key);
    if (!set) return;
    const spec = (set.spec ?? {}) as ReplicaSpec;
    const ns = set.metadata!.namespace!;
    const candidates = [
      ...this.pods.byIndex(BY_OWNER, set.metadata?.uid ?? ''),
      ...this.pods.byIndex(ORPHANS_BY_NAMESPACE, ns),
    ];
    const owned = await claimPods(
      this.client,
      set,
      this.kind,
      (p) => this.kind.selects(spec.selector, p.metadata?.labels ?? {}),
      candidates,
    );
    if (set.metadata?.deletionTimestamp) return;
    const active = owned.filter(isPodActive);
    const want = spec.replicas ?? 1;
    if (this.expectations.satisfied(key)) {
      const diff = want - active.length;
      if (diff > 0) await this.create(key, set, Math.min(diff, BURST));
      else if (diff < 0) await this.remove(key, set, active.sort(deletionOrder).slice(0, Math.min(-diff, BURST)));
    }
    await this.updateStatus(set, active);
  }

  private async create(key: string, set: KObject, n: number): Promise<void> {
    const pod = podFromTemplate(set, this.kind, (set.spec as ReplicaSpec).template);
    this.expectations.expect(key, n);
    const { failed, error } = await createPods(
      this.client,
      Array.from({ length: n }, () => pod),
      (p) => this.events?.record(set, 'Normal', 'SuccessfulCreate', `Created pod: ${p.metadata?.name}`),
    );
    if (failed) {
      this.expectations.creationFailed(key, failed);
      this.events?.record(set, 'Warning', 'FailedCreate', `Error creating: ${String(error)}`);
      throw error;
    }
  }

  private async remove(key: string, set: KObject, victims: KObject[]): Promise<void> {
    this.expectations.expect(key, 0, victims.map(keyOf));
    await Promise.all(
      victims.map((p) =>
        deletePod(this.client, p).then(
          () => this.events?.record(set, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata!.name}`),
          (err: unknown) => {
            this.expectations.deletionObserved(key, keyOf(p));
            throw err;
          },
        ),
      ),
    );
  }

  private async updateStatus(set: KObject, active: KObject[]): Promise<void> {
    const spec = set.spec as ReplicaSpec;
    const templateLabels = spec.template?.metadata?.labels ?? {};
    const minReady = spec.minReadySeconds ?? 0;
    const status = {
      replicas: active.length,
      fullyLabeledReplicas: active.filter((p) =>
        Object.entries(templateLabels).every(([k, v]) => p.metadata?.labels?.[k] === v),
      ).length,
      readyReplicas: active.filter(isPodReady).length,
      availableReplicas: active.filter((p) => isPodAvailable(p, minReady)).length,
      observedGeneration: set.metadata?.generation ?? 1,
    };
    if (minReady && status.availableReplicas < status.readyReplicas) this.queue.addAfter(keyOf(set), minReady * 1000);
    const cur = (set.status ?? {}) as Record<string, unknown>;
    if (Object.entries(status).every(([k, v]) => (cur[k] ?? 0) === v)) return;
    await this.client
      .mergePatch(
        `${collectionPath(this.kind.apiVersion, this.kind.plural, set.metadata!.namespace)}/${set.metadata!.name}/status`,
        { status },
      )
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }
}
