/**
 * The Deployment controller: one ReplicaSet per pod template (named and labelled by the template's
 * hash, `pod-template-hash`), scaled as the strategy says. RollingUpdate brings the new set up by at
 * most maxSurge pods over the desired count and the old ones down while at least replicas - maxUnavailable
 * pods stay available; Recreate empties the old sets first. Revisions are kept in the
 * `deployment.kubernetes.io/revision` annotation, old empty sets beyond revisionHistoryLimit are removed,
 * and the status carries the counts and conditions `kubectl rollout status` reads.
 */
import { isNotFound } from '../api/errors.js';
import { canonicalJson } from '../../common/canonical.js';
import type { Logger } from '../../common/log.js';
import { nowRfc3339, type KObject } from '../api/object.js';
import { ApiStatusError, collectionPath, type KubeClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { BY_OWNER, keyOf, type Informer } from '../client/informer.js';
import { controllerOf, WorkQueue } from './controller.js';

const REVISION = 'deployment.kubernetes.io/revision';
const HASH_LABEL = 'pod-template-hash';
/** Kubernetes' alphabet for generated names: no vowels, no look-alike characters. */
const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

type Spec = {
  replicas?: number;
  paused?: boolean;
  revisionHistoryLimit?: number;
  selector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
  template?: KObject;
  strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
};
type SetStatus = { replicas?: number; readyReplicas?: number; availableReplicas?: number };

/** FNV-1a (32 bits) of the template (nulls read as Go's zero values), in the safe alphabet, as a label value. */
export function podTemplateHash(template: unknown): string {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(canonicalJson(template ?? {}, true))) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return [...String(h)].map((c) => SAFE[c.charCodeAt(0) % SAFE.length]).join('');
}

/** An int-or-percent of `total`: percentages round up for surge, down for unavailability. */
function scaled(v: number | string | undefined, total: number, roundUp: boolean, fallback: string): number {
  const value = v ?? fallback;
  if (typeof value === 'number') return value;
  const pct = Number(/^(\d+)%$/.exec(value)?.[1] ?? NaN);
  if (Number.isNaN(pct)) return Number(value) || 0;
  return roundUp ? Math.ceil((pct * total) / 100) : Math.floor((pct * total) / 100);
}

const specOf = (o: KObject): Spec => (o.spec ?? {}) as Spec;
const statusOf = (o: KObject): SetStatus => (o.status ?? {}) as SetStatus;
const replicasOf = (rs: KObject): number => specOf(rs).replicas ?? 0;
const revisionOf = (rs: KObject): number => Number(rs.metadata?.annotations?.[REVISION] ?? 0);

export class DeploymentController {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly deployments: Informer,
    private readonly sets: Informer,
    private readonly logger: Logger,
    private readonly events?: EventRecorder,
  ) {
    sets.addIndex(BY_OWNER);
    deployments.on({ add: (o) => this.queue.add(keyOf(o)), update: (_old, o) => this.queue.add(keyOf(o)) });
    const owner = (rs: KObject): void => {
      const ref = controllerOf(rs);
      if (ref?.kind === 'Deployment') this.queue.add(`${rs.metadata?.namespace}/${ref.name}`);
    };
    sets.on({ add: owner, update: (_old, rs) => owner(rs), delete: owner });
  }

  run(): Promise<void> {
    return this.queue.run('deployment', (key) => this.sync(key), this.logger);
  }

  private setPath(ns: string, name?: string): string {
    const base = collectionPath('apps/v1', 'replicasets', ns);
    return name ? `${base}/${name}` : base;
  }

  private async scale(rs: KObject, replicas: number): Promise<void> {
    const from = replicasOf(rs);
    if (from === replicas) return;
    await this.client.mergePatch(this.setPath(rs.metadata!.namespace!, rs.metadata!.name), { spec: { replicas } });
    this.scaled(rs, from, replicas);
  }

  private scaled(rs: KObject, from: number, to: number): void {
    const ref = controllerOf(rs);
    const d = ref && this.deployments.get(`${rs.metadata?.namespace}/${ref.name}`);
    if (d)
      this.events?.record(
        d,
        'Normal',
        'ScalingReplicaSet',
        `Scaled ${to > from ? 'up' : 'down'} replica set ${rs.metadata?.name} from ${from} to ${to}`,
      );
  }

  async sync(key: string): Promise<void> {
    const d = this.deployments.get(key);
    if (!d || d.metadata?.deletionTimestamp) return;
    const ns = d.metadata!.namespace!;
    const spec = specOf(d);
    const want = spec.replicas ?? 1;
    const owned = this.sets
      .byIndex(BY_OWNER, d.metadata?.uid ?? '')
      .filter((rs) => rs.metadata?.namespace === ns && controllerOf(rs)?.uid === d.metadata?.uid);
    const hash = podTemplateHash(spec.template);
    let current = owned.find((rs) => rs.metadata?.labels?.[HASH_LABEL] === hash);
    const old = owned.filter((rs) => rs !== current).sort((a, b) => revisionOf(a) - revisionOf(b));
    const maxRevision = Math.max(0, ...owned.map(revisionOf));

    if (!spec.paused) {
      if (!current) current = await this.createSet(d, hash, maxRevision + 1, old.length ? 0 : want);
      else if (revisionOf(current) < maxRevision) {
        // Rolling back to an earlier template makes its set the newest revision again.
        await this.client.mergePatch(this.setPath(ns, current.metadata!.name), {
          metadata: { annotations: { [REVISION]: String(maxRevision + 1) } },
        });
      }
      if (spec.strategy?.type === 'Recreate') await this.recreate(current, old, want);
      else await this.rollingUpdate(d, current, old, want);
      await this.cleanUp(spec, old);
    }
    await this.updateStatus(d, current, owned, want);
  }

  private async createSet(d: KObject, hash: string, revision: number, replicas: number): Promise<KObject> {
    const ns = d.metadata!.namespace!;
    const spec = specOf(d);
    const template = structuredClone(spec.template ?? {}) as KObject;
    template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [HASH_LABEL]: hash } };
    const rs: KObject = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata!.name}-${hash}`,
        namespace: ns,
        labels: { ...template.metadata.labels },
        annotations: {
          [REVISION]: String(revision),
          'deployment.kubernetes.io/desired-replicas': String(spec.replicas ?? 1),
        },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            name: d.metadata!.name,
            uid: d.metadata!.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        replicas,
        selector: { ...spec.selector, matchLabels: { ...spec.selector?.matchLabels, [HASH_LABEL]: hash } },
        template,
      },
    };
    try {
      const created = await this.client.create(this.setPath(ns), rs);
      if (replicas > 0)
        this.events?.record(
          d,
          'Normal',
          'ScalingReplicaSet',
          `Scaled up replica set ${created.metadata?.name} from 0 to ${replicas}`,
        );
      return created;
    } catch (err) {
      if (err instanceof ApiStatusError && err.code === 409)
        return (await this.client.request('GET', this.setPath(ns, rs.metadata!.name))) as KObject;
      throw err;
    }
  }

  private async recreate(current: KObject, old: KObject[], want: number): Promise<void> {
    for (const rs of old) await this.scale(rs, 0);
    if (old.every((rs) => (statusOf(rs).replicas ?? 0) === 0)) await this.scale(current, want);
  }

  private async rollingUpdate(d: KObject, current: KObject, old: KObject[], want: number): Promise<void> {
    const rolling = specOf(d).strategy?.rollingUpdate ?? {};
    let surge = scaled(rolling.maxSurge, want, true, '25%');
    const unavailable = scaled(rolling.maxUnavailable, want, false, '25%');
    if (surge === 0 && unavailable === 0) surge = 1;
    if (!old.some((rs) => replicasOf(rs) > 0)) return this.scale(current, want);
    // Up: never more than want + surge pods in all sets together.
    const total = replicasOf(current) + old.reduce((n, rs) => n + replicasOf(rs), 0);
    const up = Math.min(want, replicasOf(current) + Math.max(0, want + surge - total));
    if (up > replicasOf(current)) await this.scale(current, up);
    // Down: old pods go while at least want - unavailable pods stay available.
    const available = statusOf(current).availableReplicas ?? 0;
    const oldAvailable = old.reduce((n, rs) => n + (statusOf(rs).availableReplicas ?? 0), 0);
    let room = available + oldAvailable - (want - unavailable);
    for (const rs of old) {
      if (room <= 0) break;
      const cut = Math.min(replicasOf(rs), room);
      await this.scale(rs, replicasOf(rs) - cut);
      room -= cut;
    }
  }

  private async cleanUp(spec: Spec, old: KObject[]): Promise<void> {
    const limit = spec.revisionHistoryLimit ?? 10;
    const idle = old.filter((rs) => replicasOf(rs) === 0 && (statusOf(rs).replicas ?? 0) === 0);
    for (const rs of idle.slice(0, Math.max(0, idle.length - limit))) {
      await this.client.delete(this.setPath(rs.metadata!.namespace!, rs.metadata!.name)).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }

  private async updateStatus(d: KObject, current: KObject | undefined, owned: KObject[], want: number): Promise<void> {
    const sum = (f: (s: SetStatus) => number | undefined): number =>
      owned.reduce((n, rs) => n + (f(statusOf(rs)) ?? 0), 0);
    const replicas = sum((s) => s.replicas);
    const available = sum((s) => s.availableReplicas);
    const updated = current ? (statusOf(current).replicas ?? 0) : 0;
    const now = nowRfc3339();
    const prior =
      (d.status?.conditions as Array<{ type: string; status: string; lastTransitionTime?: string }> | undefined) ?? [];
    const condition = (type: string, ok: boolean, reason: string, message: string): Record<string, unknown> => {
      const was = prior.find((c) => c.type === type);
      const status = ok ? 'True' : 'False';
      return {
        type,
        status,
        lastUpdateTime: now,
        lastTransitionTime: was?.status === status ? was.lastTransitionTime : now,
        reason,
        message,
      };
    };
    const unavailableAllowed = scaled(specOf(d).strategy?.rollingUpdate?.maxUnavailable, want, false, '25%');
    const status = {
      observedGeneration: d.metadata?.generation ?? 1,
      replicas,
      updatedReplicas: updated,
      readyReplicas: sum((s) => s.readyReplicas),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, replicas - available),
      conditions: [
        condition(
          'Available',
          available >= want - (specOf(d).strategy?.type === 'Recreate' ? 0 : unavailableAllowed),
          available >= want - unavailableAllowed ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
          available >= want - unavailableAllowed
            ? 'Deployment has minimum availability.'
            : 'Deployment does not have minimum availability.',
        ),
        condition(
          'Progressing',
          true,
          updated === want && replicas === want && available === want ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
          current
            ? `ReplicaSet "${current.metadata?.name}" ${updated === want && available === want ? 'has successfully progressed' : 'is progressing'}.`
            : 'Waiting for a ReplicaSet.',
        ),
      ],
    };
    const cur = (d.status ?? {}) as Record<string, unknown>;
    const comparable = (s: Record<string, unknown>): string =>
      JSON.stringify({
        ...s,
        conditions: ((s.conditions as Array<Record<string, unknown>> | undefined) ?? []).map((c) => [
          c.type,
          c.status,
          c.reason,
        ]),
      });
    if (comparable(cur) === comparable(status)) return;
    if (current && d.metadata?.annotations?.[REVISION] !== String(revisionOf(current))) {
      await this.client
        .mergePatch(`${collectionPath('apps/v1', 'deployments', d.metadata!.namespace)}/${d.metadata!.name}`, {
          metadata: { annotations: { [REVISION]: String(revisionOf(current)) } },
        })
        .catch(() => undefined);
    }
    await this.client
      .mergePatch(`${collectionPath('apps/v1', 'deployments', d.metadata!.namespace)}/${d.metadata!.name}/status`, {
        status,
      })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }
}
