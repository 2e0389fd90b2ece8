/**
 * The DaemonSet controller, after Kubernetes' `pkg/controller/daemon`: one pod on every node the pod
 * may run on (nodeSelector, required node affinity, taints against its tolerations — with the
 * tolerations Kubernetes adds to every daemon pod), pinned there by node affinity on `metadata.name`
 * so the scheduler binds it. Nodes that come get a pod; pods on nodes that no longer qualify go.
 * RollingUpdate replaces pods of an older template at most `maxUnavailable` nodes at a time (or,
 * with `maxSurge`, starts the new pod beside the old one first); OnDelete waits for users to delete.
 * Templates are kept as ControllerRevisions (`kubectl rollout history|undo ds`).
 */
import type { Logger } from '../../common/log.js';
import { isNotFound } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import { isPodReady, podStatus } from '../api/pod.js';
import { labelSelectorMatches, type LabelSelector } from '../api/selector.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { BY_OWNER, keyOf, ORPHANS_BY_NAMESPACE, type Informer } from '../client/informer.js';
import { nodeAffinity, taintToleration } from '../scheduler/plugins.js';
import { nodeInfoOf, podInfo, type Toleration } from '../scheduler/framework.js';
import { WorkQueue } from './controller.js';
import { syncRevisions } from './history.js';
import { isPodAvailable } from './replicaset.js';
import {
  claimPods,
  createPods,
  deletePod,
  Expectations,
  queueOwnersOf,
  podFromTemplate,
  type OwnerKind,
} from './podcontrol.js';

const DAEMON_SET: OwnerKind = { apiVersion: 'apps/v1', kind: 'DaemonSet' };
const HASH_LABEL = 'controller-revision-hash';

interface DaemonSetSpec {
  selector?: LabelSelector;
  template?: KObject;
  minReadySeconds?: number;
  updateStrategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string; maxSurge?: number | string } };
}

/** What Kubernetes adds to every daemon pod (`util.AddOrUpdateDaemonPodTolerations`). */
const DAEMON_TOLERATIONS: Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

/** The template's pod spec for one node: its tolerations plus the daemon ones, pinned to the node. */
export function daemonPodSpec(template: KObject | undefined, node: string): Record<string, unknown> {
  const spec = structuredClone(template?.spec ?? {}) as {
    tolerations?: Toleration[];
    affinity?: Record<string, unknown> & { nodeAffinity?: Record<string, unknown> };
  };
  const tolerations = [...(spec.tolerations ?? [])];
  for (const t of DAEMON_TOLERATIONS)
    if (!tolerations.some((x) => x.key === t.key && x.effect === t.effect)) tolerations.push(t);
  return {
    ...spec,
    tolerations,
    affinity: {
      ...spec.affinity,
      nodeAffinity: {
        ...spec.affinity?.nodeAffinity,
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [node] }] }],
        },
      },
    },
  };
}

/** Whether a daemon pod belongs on `node` (Kubernetes' `NodeShouldRunDaemonPod`). */
export function shouldRun(template: KObject | undefined, node: KObject): boolean {
  const pod = podInfo('', {
    metadata: {},
    spec: { ...template?.spec, tolerations: daemonPodSpec(template, '').tolerations },
  });
  const info = nodeInfoOf(node);
  return !nodeAffinity.filter(pod, info) && !taintToleration.filter(pod, info);
}

/** The node a daemon pod is for: where it is bound, else the node its affinity names. */
export function targetNode(pod: KObject): string | undefined {
  const spec = pod.spec as {
    nodeName?: string;
    affinity?: {
      nodeAffinity?: {
        requiredDuringSchedulingIgnoredDuringExecution?: {
          nodeSelectorTerms?: Array<{ matchFields?: Array<{ key: string; values?: string[] }> }>;
        };
      };
    };
  };
  if (spec?.nodeName) return spec.nodeName;
  const terms = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  return terms.flatMap((t) => t.matchFields ?? []).find((f) => f.key === 'metadata.name')?.values?.[0];
}

/** An int-or-percent of `total` (percentages round up, as Kubernetes does for DaemonSets). */
function scaled(v: number | string | undefined, total: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v === 'number') return v;
  const pct = /^(\d+)%$/.exec(v);
  return pct ? Math.ceil((Number(pct[1]) * total) / 100) : Number(v) || 0;
}

export class DaemonSetController {
  readonly queue = new WorkQueue();
  private readonly expectations = new Expectations();

  constructor(
    private readonly client: KubeClient,
    private readonly sets: Informer,
    private readonly pods: Informer,
    private readonly nodes: Informer,
    private readonly revisions: Informer,
    private readonly logger: Logger,
    private readonly events?: EventRecorder,
  ) {
    pods.addIndex(BY_OWNER).addIndex(ORPHANS_BY_NAMESPACE);
    const all = (): void => this.sets.list().forEach((s) => this.queue.add(keyOf(s)));
    sets.on({
      add: (o) => this.queue.add(keyOf(o)),
      update: (_old, o) => this.queue.add(keyOf(o)),
      delete: (o) => this.expectations.forget(keyOf(o)),
    });
    nodes.on({
      add: all,
      update: (old, n) => {
        if (
          JSON.stringify([old.metadata?.labels, old.spec, readyOf(old)]) !==
          JSON.stringify([n.metadata?.labels, n.spec, readyOf(n)])
        )
          all();
      },
      delete: all,
    });
    queueOwnersOf(pods, DAEMON_SET, this.queue, this.expectations);
  }

  run(): Promise<void> {
    return this.queue.run('daemonset', (key) => this.sync(key), this.logger);
  }

  async sync(key: string): Promise<void> {
    const ds = this.sets.get(key);
    if (!ds || ds.metadata?.deletionTimestamp) return;
    const spec = (ds.spec ?? {}) as DaemonSetSpec;
    const pods = await claimPods(
      this.client,
      ds,
      DAEMON_SET,
      (p) => labelSelectorMatches(spec.selector, p.metadata?.labels ?? {}),
      [
        ...this.pods.byIndex(BY_OWNER, ds.metadata?.uid ?? ''),
        ...this.pods.byIndex(ORPHANS_BY_NAMESPACE, key.split('/')[0]!),
      ],
    );
    const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
    const byNode = new Map<string, KObject[]>();
    for (const p of live) {
      const node = targetNode(p);
      if (node) byNode.set(node, [...(byNode.get(node) ?? []), p]);
    }
    const { hash } = await syncRevisions(
      this.client,
      this.revisions,
      ds,
      DAEMON_SET,
      spec.template ?? {},
      new Set(live.map((p) => `${ds.metadata!.name}-${p.metadata?.labels?.[HASH_LABEL]}`)),
    );
    const isNew = (p: KObject): boolean => p.metadata?.labels?.[HASH_LABEL] === hash;
    const minReady = spec.minReadySeconds ?? 0;
    const eligible = this.nodes.list().filter((n) => shouldRun(spec.template, n));
    const eligibleNames = new Set(eligible.map((n) => n.metadata!.name!));

    const create: string[] = [];
    const remove: KObject[] = [];
    for (const node of eligible) {
      const name = node.metadata!.name!;
      const here = byNode.get(name) ?? [];
      const failed = here.filter((p) => podStatus(p).phase === 'Failed');
      remove.push(...failed);
      const running = here.filter((p) => podStatus(p).phase !== 'Failed');
      if (!running.length) create.push(name);
      else if (running.length > 1 && !(running.length === 2 && running.some(isNew) && running.some((p) => !isNew(p))))
        remove.push(...running.sort((a, b) => Number(isNew(b)) - Number(isNew(a))).slice(1));
    }
    for (const [node, here] of byNode) if (!eligibleNames.has(node)) remove.push(...here);

    if (spec.updateStrategy?.type !== 'OnDelete')
      this.rollingUpdate(spec, eligible.length, byNode, eligibleNames, isNew, minReady, create, remove);

    if (this.expectations.satisfied(key) && (create.length || remove.length)) {
      this.expectations.expect(key, create.length, remove.map(keyOf));
      await Promise.all(remove.map((p) => deletePod(this.client, p)));
      const template = spec.template;
      const { failed, error } = await createPods(
        this.client,
        create.map((node) =>
          podFromTemplate(ds, DAEMON_SET, template, {
            labels: { [HASH_LABEL]: hash, 'pod-template-generation': String(ds.metadata?.generation ?? 1) },
            spec: daemonPodSpec(template, node),
          }),
        ),
        (p) => this.events?.record(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${p.metadata?.name}`),
      );
      if (failed) {
        this.expectations.creationFailed(key, failed);
        throw error;
      }
    }
    if (minReady) this.queue.addAfter(key, minReady * 1000);
    await this.updateStatus(ds, byNode, eligibleNames, isNew, minReady);
  }

  /** Old pods to replace now: as many nodes as `maxUnavailable` allows (or surge beside them). */
  private rollingUpdate(
    spec: DaemonSetSpec,
    desired: number,
    byNode: Map<string, KObject[]>,
    eligible: Set<string>,
    isNew: (p: KObject) => boolean,
    minReady: number,
    create: string[],
    remove: KObject[],
  ): void {
    const ru = spec.updateStrategy?.rollingUpdate ?? {};
    const surge = scaled(ru.maxSurge, desired, 0);
    const maxUnavailable = scaled(ru.maxUnavailable, desired, surge ? 0 : 1);
    const available = (p: KObject): boolean => isPodAvailable(p, minReady);
    let unavailable = [...eligible].filter((n) => !(byNode.get(n) ?? []).some(available)).length;
    let surged = 0;
    for (const node of [...eligible].sort()) {
      const here = (byNode.get(node) ?? []).filter((p) => podStatus(p).phase !== 'Failed');
      const old = here.filter((p) => !isNew(p));
      const fresh = here.find(isNew);
      if (!old.length || remove.some((r) => old.includes(r))) continue;
      if (fresh) {
        // The surged new pod is up: the old one may go.
        if (available(fresh)) remove.push(...old);
        continue;
      }
      const oldAvailable = old.some(available);
      if (surge > 0 && oldAvailable) {
        if (surged < surge) {
          create.push(node);
          surged++;
        }
      } else if (!oldAvailable) remove.push(...old);
      else if (unavailable < maxUnavailable) {
        remove.push(...old);
        unavailable++;
      }
    }
  }

  private async updateStatus(
    ds: KObject,
    byNode: Map<string, KObject[]>,
    eligible: Set<string>,
    isNew: (p: KObject) => boolean,
    minReady: number,
  ): Promise<void> {
    let current = 0;
    let misscheduled = 0;
    let ready = 0;
    let updated = 0;
    let available = 0;
    for (const [node, here] of byNode) {
      if (!eligible.has(node)) {
        misscheduled++;
        continue;
      }
      current++;
      if (here.some(isPodReady)) ready++;
      if (here.some(isNew)) updated++;
      if (here.some((p) => isPodAvailable(p, minReady))) available++;
    }
    const status = {
      currentNumberScheduled: current,
      numberMisscheduled: misscheduled,
      desiredNumberScheduled: eligible.size,
      numberReady: ready,
      updatedNumberScheduled: updated,
      numberAvailable: available,
      numberUnavailable: eligible.size - available,
      observedGeneration: ds.metadata?.generation ?? 1,
    };
    const cur = (ds.status ?? {}) as Record<string, unknown>;
    if (Object.entries(status).every(([k, v]) => (cur[k] ?? 0) === v)) return;
    await this.client
      .mergePatch(`${collectionPath('apps/v1', 'daemonsets', ds.metadata!.namespace)}/${ds.metadata!.name}/status`, {
        status,
      })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }
}

/** Conditions' types and statuses only: heartbeats change their times every few seconds. */
const readyOf = (n: KObject): string =>
  ((n.status as { conditions?: Array<{ type?: string; status?: string }> } | undefined)?.conditions ?? [])
    .map((c) => `${c.type}=${c.status}`)
    .join(',');
