/**
 * Pods: Kubernetes' defaults, node-bound validation, a spec fixed but for images and a few fields,
 * graceful deletion (a pod on a node is marked for its agent to stop), the `binding`, `eviction` and
 * `log` subresources, and `spec.nodeName`/`status.phase` for field selectors.
 */
import { ApiError, invalid, type KObject } from '../../objects.js';
import { listObjects } from '../list.js';
import { podLogs } from '../../nodeproxy.js';
import { resourceType } from '../../resources.js';
import { ageColumn, containersOf, nameColumn, podStatus, spec, status } from '../../tables.js';
import { podSpecProblems, refuse } from '../../validation.js';
import { defaultPodSpec, same } from '../podtemplate.js';
import type { RegistryContext, Strategy } from '../strategy.js';
import { binding } from './binding.js';
import { eviction } from './eviction.js';
import { admitServiceAccount } from './podserviceaccount.js';

const resource = resourceType('', 'v1', 'Pod', 'pods', true, {
  shortNames: ['po'],
  all: true,
  subresources: ['status', 'log', 'exec', 'attach', 'portforward', 'binding', 'eviction', 'ephemeralcontainers'],
});

/** What of a pod's spec may change: images, the deadline, tolerations and the grace period. */
const fixedPart = (s: Record<string, unknown>): unknown => ({
  ...s,
  containers: ((s.containers as Array<Record<string, unknown>> | undefined) ?? []).map((c) => ({
    ...c,
    image: undefined,
  })),
  initContainers: ((s.initContainers as Array<Record<string, unknown>> | undefined) ?? []).map((c) => ({
    ...c,
    image: undefined,
  })),
  activeDeadlineSeconds: undefined,
  tolerations: undefined,
  terminationGracePeriodSeconds: undefined,
  ephemeralContainers: undefined,
});

type Ephemeral = Record<string, unknown> & { name?: unknown; image?: unknown };
/** Fields an ephemeral container may not have (it is never restarted, probed nor given resources). */
const NOT_FOR_EPHEMERAL = ['ports', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'resources'];

/**
 * The `ephemeralcontainers` subresource may only add ephemeral containers (`kubectl debug`): each
 * named uniquely among the pod's containers, with an image and none of what only long-lived
 * containers have; those already there never change.
 */
function ephemeralProblems(cur: KObject, next: KObject): Array<{ field: string; message: string; value?: unknown }> {
  const was = ((cur.spec as { ephemeralContainers?: Ephemeral[] }).ephemeralContainers ?? []) as Ephemeral[];
  const now = ((next.spec as { ephemeralContainers?: Ephemeral[] }).ephemeralContainers ?? []) as Ephemeral[];
  const out: Array<{ field: string; message: string; value?: unknown }> = [];
  for (const old of was) {
    const kept = now.find((c) => c.name === old.name);
    if (!kept || !same(kept, old))
      out.push({
        field: 'spec.ephemeralContainers',
        message: `Forbidden: existing ephemeral containers "${String(old.name)}" may not be removed or changed`,
      });
  }
  const spec = next.spec as { containers?: Ephemeral[]; initContainers?: Ephemeral[] };
  const taken = new Set([...(spec.containers ?? []), ...(spec.initContainers ?? [])].map((c) => c.name));
  now.forEach((c, i) => {
    const f = `spec.ephemeralContainers[${i}]`;
    if (typeof c.name !== 'string' || !c.name) out.push({ field: `${f}.name`, message: 'Required value' });
    else if (taken.has(c.name)) out.push({ field: `${f}.name`, value: c.name, message: 'Duplicate value' });
    taken.add(c.name);
    if (typeof c.image !== 'string' || !c.image) out.push({ field: `${f}.image`, message: 'Required value' });
    // Clients send empty values for these (kubectl's `resources: {}`): only content is refused.
    const set = (v: unknown): boolean =>
      v !== undefined && v !== null && !(typeof v === 'object' && Object.keys(v as object).length === 0);
    for (const k of NOT_FOR_EPHEMERAL)
      if (set(c[k])) out.push({ field: `${f}.${k}`, message: 'Forbidden: cannot be set for an Ephemeral Container' });
  });
  return out;
}

/** The DefaultTolerationSeconds admission plugin's: how long a pod stays on a node that is not Ready. */
const DEFAULT_TOLERATION_SECONDS = 300;

/**
 * As Kubernetes' DefaultTolerationSeconds admission does: a pod that does not already tolerate the
 * not-ready and unreachable NoExecute taints tolerates each for 300 s, after which the node lifecycle
 * controller evicts it.
 */
function addDefaultTolerations(spec: { tolerations?: Array<Record<string, unknown>> }): void {
  const tolerations = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
    const covered = tolerations.some(
      (t) => (t.key === key || (!t.key && t.operator === 'Exists')) && (!t.effect || t.effect === 'NoExecute'),
    );
    if (!covered)
      tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: DEFAULT_TOLERATION_SECONDS });
  }
  spec.tolerations = tolerations;
}

export const pods: Strategy = {
  resource,
  generation: true,
  defaults(o) {
    defaultPodSpec(o.spec as Record<string, unknown>);
    o.status ??= { phase: 'Pending', qosClass: 'BestEffort' };
  },
  validate: (o) => refuse(resource, o, podSpecProblems('spec', o.spec)),
  async prepareCreate(o, ctx) {
    addDefaultTolerations(o.spec as { tolerations?: Array<Record<string, unknown>> });
    await admitPriority(o, ctx);
    await admitServiceAccount(o, ctx);
  },
  mergeUpdate(cur, merged, subresource) {
    // Ephemeral containers change only through their subresource, which changes nothing else.
    const ephemeral = (o: KObject): unknown => (o.spec as { ephemeralContainers?: unknown }).ephemeralContainers;
    if (subresource === 'ephemeralcontainers')
      return { ...cur, metadata: merged.metadata, spec: { ...cur.spec, ephemeralContainers: ephemeral(merged) } };
    if (subresource === 'status') return merged;
    return { ...merged, spec: { ...merged.spec, ephemeralContainers: ephemeral(cur) } };
  },
  validateUpdate(cur, next) {
    const problems = ephemeralProblems(cur, next);
    if (problems.length) throw invalid(resource, cur.metadata?.name ?? '', problems);
    if (!same(fixedPart(cur.spec ?? {}), fixedPart(next.spec ?? {})))
      throw invalid(resource, cur.metadata?.name ?? '', [
        {
          field: 'spec',
          message:
            'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
        },
      ]);
  },
  gracefulDelete(o, options) {
    if (!(o.spec as { nodeName?: string } | undefined)?.nodeName || options.gracePeriodSeconds === 0) return undefined;
    const grace =
      options.gracePeriodSeconds ??
      Number((o.spec as { terminationGracePeriodSeconds?: number }).terminationGracePeriodSeconds ?? 30);
    return (next) => {
      next.metadata = { ...next.metadata, deletionGracePeriodSeconds: grace };
    };
  },
  fields(o) {
    const out: Record<string, string> = {};
    const nodeName = (o.spec as { nodeName?: unknown } | undefined)?.nodeName;
    const phase = (o.status as { phase?: unknown } | undefined)?.phase;
    // Kubernetes selects unscheduled pods with `spec.nodeName=`: an absent node is the empty value.
    out['spec.nodeName'] = typeof nodeName === 'string' ? nodeName : '';
    if (typeof phase === 'string') out['status.phase'] = phase;
    return out;
  },
  columns: [
    nameColumn,
    {
      name: 'Ready',
      type: 'string',
      cell: (o) =>
        `${((status(o).containerStatuses as Array<{ ready?: boolean }> | undefined) ?? []).filter((c) => c.ready).length}/${containersOf(o).length}`,
    },
    { name: 'Status', type: 'string', cell: podStatus },
    {
      name: 'Restarts',
      type: 'string',
      cell: (o) =>
        String(
          ((status(o).containerStatuses as Array<{ restartCount?: number }> | undefined) ?? []).reduce(
            (n, c) => n + (c.restartCount ?? 0),
            0,
          ),
        ),
    },
    ageColumn,
    { name: 'IP', type: 'string', priority: 1, cell: (o) => status(o).podIP ?? '<none>' },
    { name: 'Node', type: 'string', priority: 1, cell: (o) => spec(o).nodeName ?? '<none>' },
    { name: 'Nominated Node', type: 'string', priority: 1, cell: () => '<none>' },
    { name: 'Readiness Gates', type: 'string', priority: 1, cell: () => '<none>' },
  ],
  subresources: {
    binding,
    eviction,
    log: {
      kind: 'Pod',
      verbs: ['get'],
      async handle(ctx, r) {
        if (r.method !== 'GET') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method');
        await podLogs(ctx, r.res, r.t, r.query);
        return undefined;
      },
    },
  },
};

/** Kubernetes' built-in classes, which exist without being created. */
const SYSTEM_PRIORITY_CLASSES: Record<string, number> = {
  'system-node-critical': 2000001000,
  'system-cluster-critical': 2000000000,
};

let globalDefault: { at: number; value: Promise<KObject | undefined> } | undefined;

/** The class marked `globalDefault`, read at most once a second (creates are hot; an informer's lag). */
function globalDefaultClass(ctx: RegistryContext): Promise<KObject | undefined> {
  if (!globalDefault || Date.now() - globalDefault.at > 1000)
    globalDefault = {
      at: Date.now(),
      value: listObjects(ctx.storage, new URLSearchParams(), { res: ctx.resource('priorityclasses') }).then(
        ({ items }) => items.find((pc) => pc.globalDefault === true),
      ),
    };
  return globalDefault.value;
}

/**
 * The Priority admission plugin: `spec.priority` from the pod's PriorityClass (or the global default
 * class, else 0); a class that does not exist is refused as Kubernetes refuses it.
 */
async function admitPriority(o: KObject, ctx: RegistryContext): Promise<void> {
  const spec = o.spec as { priorityClassName?: string; priority?: number; preemptionPolicy?: string };
  const res = ctx.resource('priorityclasses');
  let value: number | undefined;
  let policy: string | undefined;
  if (spec.priorityClassName) {
    value = SYSTEM_PRIORITY_CLASSES[spec.priorityClassName];
    if (value === undefined) {
      const pc = await ctx.store.read({ res, name: spec.priorityClassName }).catch(() => undefined);
      if (!pc)
        throw new ApiError(
          403,
          'Forbidden',
          `pods "${o.metadata?.name ?? ''}" is forbidden: no PriorityClass with name ${spec.priorityClassName} was found`,
        );
      value = Number(pc.value ?? 0);
      policy = pc.preemptionPolicy as string | undefined;
    }
  } else {
    const global = await globalDefaultClass(ctx);
    if (global) {
      spec.priorityClassName = global.metadata!.name;
      value = Number(global.value ?? 0);
      policy = global.preemptionPolicy as string | undefined;
    }
  }
  spec.priority = value ?? 0;
  spec.preemptionPolicy ??= policy ?? 'PreemptLowerPriority';
}
