/**
 * The StatefulSet controller, after Kubernetes' `stateful_set_control.go`: pods with stable names
 * (`web-0`, `web-1`, ...), each its own hostname under the governing Service (`spec.serviceName`), and
 * one PersistentVolumeClaim per `volumeClaimTemplates` entry and ordinal (`data-web-0`) that outlives
 * the pod. `OrderedReady` makes pods one at a time in ordinal order, each once the ones before are
 * Running and Ready, and removes them from the highest ordinal down; `Parallel` does not wait.
 * RollingUpdate replaces pods of older revisions from the highest ordinal down to `partition`, one at
 * a time, each after the last replaced one is Ready; OnDelete waits for users. Status reports the
 * current and update revisions (ControllerRevisions), which `kubectl rollout status|history|undo`
 * read.
 */
import type { Logger } from '../../common/log.js';
import { isAlreadyExists, isNotFound } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import { isPodReady, podStatus } from '../api/pod.js';
import { labelSelectorMatches, type LabelSelector } from '../api/selector.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { BY_OWNER, keyOf, ORPHANS_BY_NAMESPACE, type Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';
import { syncRevisions } from './history.js';
import { isPodAvailable } from './replicaset.js';
import { claimPods, deletePod, ownerKeyOf, ownerReference, podFromTemplate, type OwnerKind } from './podcontrol.js';

const STATEFUL_SET: OwnerKind = { apiVersion: 'apps/v1', kind: 'StatefulSet' };
const HASH_LABEL = 'controller-revision-hash';
const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';
/** Pods created per sync at most (Parallel); the rest follow on the next. */
const BURST = 100;

interface StatefulSetSpec {
  replicas?: number;
  selector?: LabelSelector;
  template?: KObject;
  serviceName?: string;
  podManagementPolicy?: 'OrderedReady' | 'Parallel';
  updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
  volumeClaimTemplates?: KObject[];
  minReadySeconds?: number;
  ordinals?: { start?: number };
  persistentVolumeClaimRetentionPolicy?: { whenDeleted?: string; whenScaled?: string };
}

/** The ordinal of a pod of set `name` (`web-3` → 3), if its name is one. */
export function ordinalOf(setName: string, pod: KObject): number | undefined {
  const m = /^(.*)-(\d+)$/.exec(pod.metadata?.name ?? '');
  return m && m[1] === setName ? Number(m[2]) : undefined;
}

const healthy = (p: KObject): boolean =>
  podStatus(p).phase === 'Running' && isPodReady(p) && !p.metadata?.deletionTimestamp;

export class StatefulSetController {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly sets: Informer,
    private readonly pods: Informer,
    private readonly revisions: Informer,
    private readonly logger: Logger,
    private readonly events?: EventRecorder,
  ) {
    pods.addIndex(BY_OWNER).addIndex(ORPHANS_BY_NAMESPACE);
    sets.on({ add: (o) => this.queue.add(keyOf(o)), update: (_old, o) => this.queue.add(keyOf(o)) });
    const owner = (p: KObject): void => {
      const key = ownerKeyOf(p, STATEFUL_SET);
      if (key) this.queue.add(key);
    };
    pods.on({ add: owner, update: (_old, p) => owner(p), delete: owner });
  }

  run(): Promise<void> {
    return this.queue.run('statefulset', (key) => this.sync(key), this.logger);
  }

  async sync(key: string): Promise<void> {
    const set = this.sets.get(key);
    if (!set || set.metadata?.deletionTimestamp) return;
    const spec = (set.spec ?? {}) as StatefulSetSpec;
    const name = set.metadata!.name!;
    const claimed = await claimPods(
      this.client,
      set,
      STATEFUL_SET,
      (p) => labelSelectorMatches(spec.selector, p.metadata?.labels ?? {}) && ordinalOf(name, p) !== undefined,
      [
        ...this.pods.byIndex(BY_OWNER, set.metadata?.uid ?? ''),
        ...this.pods.byIndex(ORPHANS_BY_NAMESPACE, key.split('/')[0]!),
      ],
    );
    const revisions = await syncRevisions(
      this.client,
      this.revisions,
      set,
      STATEFUL_SET,
      spec.template ?? {},
      new Set(claimed.map((p) => p.metadata?.labels?.[HASH_LABEL] ?? '')),
    );
    const updateRevision = revisions.current.metadata!.name!;
    const prior = (set.status ?? {}) as { currentRevision?: string; updateRevision?: string };
    const currentRevision = prior.currentRevision ?? updateRevision;

    const start = spec.ordinals?.start ?? 0;
    const replicas = spec.replicas ?? 1;
    const byOrdinal = new Map<number, KObject>();
    for (const p of claimed) byOrdinal.set(ordinalOf(name, p)!, p);
    const ordered = spec.podManagementPolicy !== 'Parallel';
    const isUpdated = (p: KObject): boolean => p.metadata?.labels?.[HASH_LABEL] === updateRevision;

    let blocked = false;
    let made = 0;
    // Failed pods are replaced; missing ones made in order (waiting on unhealthy ones when ordered),
    // at most BURST per sync so a huge `replicas` never holds a worker (or the loop) for long.
    for (let i = start; i < start + replicas && !blocked; i++) {
      if (made >= BURST) {
        this.queue.addAfter(key, 100);
        break;
      }
      const pod = byOrdinal.get(i);
      if (pod && podStatus(pod).phase === 'Failed' && !pod.metadata?.deletionTimestamp) {
        await deletePod(this.client, pod);
        this.events?.record(
          set,
          'Warning',
          'RecreatingFailedPod',
          `StatefulSet ${key} is recreating failed Pod ${pod.metadata?.name}`,
        );
        blocked = ordered;
        continue;
      }
      if (!pod) {
        const revision =
          i - start < (spec.updateStrategy?.rollingUpdate?.partition ?? 0) ? currentRevision : updateRevision;
        await this.createPod(set, spec, i, revision, revisions.all);
        made++;
        blocked = ordered;
        continue;
      }
      if (ordered && !healthy(pod)) blocked = true;
    }
    // Surplus pods go from the highest ordinal down (one at a time when ordered, once the rest are healthy).
    const surplus = [...byOrdinal.keys()].filter((i) => i < start || i >= start + replicas).sort((a, b) => b - a);
    if (surplus.length && !blocked) {
      const condemned = ordered ? surplus.slice(0, 1) : surplus;
      const rest = [...byOrdinal.entries()].filter(([i]) => !surplus.includes(i)).map(([, p]) => p);
      if (!ordered || rest.every(healthy)) {
        for (const i of condemned) {
          const pod = byOrdinal.get(i)!;
          if (pod.metadata?.deletionTimestamp) continue;
          await deletePod(this.client, pod);
          this.events?.record(
            set,
            'Normal',
            'SuccessfulDelete',
            `delete Pod ${pod.metadata?.name} in StatefulSet ${name} successful`,
          );
        }
      }
      blocked = true;
    }
    // Rolling update: the highest pod of an older revision at or above the partition, if all are healthy.
    if (!blocked && spec.updateStrategy?.type !== 'OnDelete') {
      const partition = spec.updateStrategy?.rollingUpdate?.partition ?? 0;
      const inRange = [...byOrdinal.entries()].filter(([i]) => i >= start && i < start + replicas);
      if (inRange.every(([, p]) => healthy(p))) {
        const stale = inRange.filter(([i, p]) => i - start >= partition && !isUpdated(p)).sort(([a], [b]) => b - a)[0];
        if (stale) await deletePod(this.client, stale[1]);
      }
    }
    await this.updateStatus(set, spec, [...byOrdinal.values()], currentRevision, updateRevision);
  }

  private async createPod(
    set: KObject,
    spec: StatefulSetSpec,
    ordinal: number,
    revision: string,
    all: KObject[],
  ): Promise<void> {
    const name = `${set.metadata!.name}-${ordinal}`;
    // A pod below the partition keeps the template of its current revision.
    const template =
      (all.find((r) => r.metadata?.name === revision)?.data as { spec?: { template?: KObject } } | undefined)?.spec
        ?.template ?? spec.template;
    const { $patch: _directive, ...clean } = (template ?? {}) as KObject & { $patch?: string };
    await this.createClaims(set, spec, name);
    const pod = podFromTemplate(set, STATEFUL_SET, clean, {
      name,
      labels: { [HASH_LABEL]: revision, [POD_NAME_LABEL]: name, [POD_INDEX_LABEL]: String(ordinal) },
      spec: { hostname: name, ...(spec.serviceName ? { subdomain: spec.serviceName } : {}) },
    });
    const podSpec = pod.spec as { volumes?: Array<{ name?: string }> };
    const claims = (spec.volumeClaimTemplates ?? []).map((t) => ({
      name: t.metadata?.name,
      persistentVolumeClaim: { claimName: `${t.metadata?.name}-${name}` },
    }));
    if (claims.length)
      podSpec.volumes = [...(podSpec.volumes ?? []).filter((v) => !claims.some((c) => c.name === v.name)), ...claims];
    try {
      await this.client.create(collectionPath('v1', 'pods', set.metadata!.namespace), pod);
      this.events?.record(
        set,
        'Normal',
        'SuccessfulCreate',
        `create Pod ${name} in StatefulSet ${set.metadata!.name} successful`,
      );
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  /** One claim per template for the pod; an existing one is kept (the pod's data). */
  private async createClaims(set: KObject, spec: StatefulSetSpec, pod: string): Promise<void> {
    const ns = set.metadata!.namespace;
    const selectorLabels = spec.selector?.matchLabels ?? {};
    const ownedBySet = spec.persistentVolumeClaimRetentionPolicy?.whenDeleted === 'Delete';
    for (const t of spec.volumeClaimTemplates ?? []) {
      const claim: KObject = {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          name: `${t.metadata?.name}-${pod}`,
          namespace: ns,
          labels: { ...t.metadata?.labels, ...selectorLabels },
          ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
          ...(ownedBySet ? { ownerReferences: [{ ...ownerReference(set, STATEFUL_SET), controller: false }] } : {}),
        },
        spec: structuredClone(t.spec ?? {}),
      };
      await this.client.create(collectionPath('v1', 'persistentvolumeclaims', ns), claim).then(
        () =>
          this.events?.record(
            set,
            'Normal',
            'SuccessfulCreate',
            `create Claim ${claim.metadata!.name} Pod ${pod} in StatefulSet ${set.metadata!.name} success`,
          ),
        (err: unknown) => {
          if (!isAlreadyExists(err)) throw err;
        },
      );
    }
  }

  private async updateStatus(
    set: KObject,
    spec: StatefulSetSpec,
    pods: KObject[],
    currentRevision: string,
    updateRevision: string,
  ): Promise<void> {
    const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
    const replicas = spec.replicas ?? 1;
    const updated = live.filter((p) => p.metadata?.labels?.[HASH_LABEL] === updateRevision).length;
    const ready = live.filter(isPodReady).length;
    // The update is done when every pod runs the update revision and is ready.
    const done = updated === replicas && ready === replicas && live.length === replicas;
    const current = done ? updateRevision : currentRevision;
    const status = {
      observedGeneration: set.metadata?.generation ?? 1,
      replicas: live.length,
      readyReplicas: ready,
      currentReplicas: live.filter((p) => p.metadata?.labels?.[HASH_LABEL] === current).length,
      updatedReplicas: updated,
      availableReplicas: live.filter((p) => isPodAvailable(p, spec.minReadySeconds ?? 0)).length,
      currentRevision: current,
      updateRevision,
      collisionCount: 0,
    };
    if (spec.minReadySeconds && status.availableReplicas < ready)
      this.queue.addAfter(keyOf(set), spec.minReadySeconds * 1000);
    const cur = (set.status ?? {}) as Record<string, unknown>;
    if (Object.entries(status).every(([k, v]) => (cur[k] ?? 0) === v)) return;
    await this.client
      .mergePatch(
        `${collectionPath('apps/v1', 'statefulsets', set.metadata!.namespace)}/${set.metadata!.name}/status`,
        {
          status,
        },
      )
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }
}
