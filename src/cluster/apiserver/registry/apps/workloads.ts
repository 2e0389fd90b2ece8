/**
 * The workload kinds of apps/v1 (and core's ReplicationController): replicas, history and rollout
 * defaults, their pod template, an immutable selector, the scale subresource and kubectl's columns.
 */
import { invalid, type KObject } from '../../objects.js';
import { resourceType } from '../../resources.js';
import { nameColumn, ageColumn, num, spec, status, templateWide, workloadColumns, type Column } from '../../tables.js';
import { defaultTemplate, same, validateTemplate } from '../podtemplate.js';
import type { Strategy } from '../strategy.js';

function workload(
  r: Strategy['resource'],
  opts: { replicas: boolean; columns?: Column[]; extraDefaults?: (spec: Record<string, unknown>) => void },
): Strategy {
  return {
    resource: r,
    generation: true,
    defaults(o) {
      const s = o.spec as Record<string, unknown>;
      if (opts.replicas) s.replicas ??= 1;
      s.revisionHistoryLimit ??= 10;
      opts.extraDefaults?.(s);
      defaultTemplate(s);
      o.status ??= {};
    },
    validate: (o) => validateTemplate(r, o),
    validateUpdate(cur, next) {
      const was = (cur.spec ?? {}) as Record<string, unknown>;
      const now = (next.spec ?? {}) as Record<string, unknown>;
      if (r.kind !== 'StatefulSet' && r.kind !== 'ReplicationController') {
        if (was.selector && !same(was.selector, now.selector))
          throw invalid(r, cur.metadata?.name ?? '', [
            { field: 'spec.selector', value: now.selector ?? null, message: 'field is immutable' },
          ]);
      }
      if (r.kind === 'StatefulSet') statefulSetUpdate(r, cur, was, now);
    },
    columns: opts.columns,
  };
}

const STATEFULSET_MUTABLE = [
  'replicas',
  'template',
  'updateStrategy',
  'persistentVolumeClaimRetentionPolicy',
  'minReadySeconds',
  'ordinals',
];

function statefulSetUpdate(
  r: Strategy['resource'],
  cur: KObject,
  was: Record<string, unknown>,
  now: Record<string, unknown>,
): void {
  const rest = (s: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(s).filter(([k]) => !STATEFULSET_MUTABLE.includes(k)));
  if (!same(rest(was), rest(now)))
    throw invalid(r, cur.metadata?.name ?? '', [
      {
        field: 'spec',
        message: `Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden`,
      },
    ]);
}

export const deployments = workload(
  resourceType('apps', 'v1', 'Deployment', 'deployments', true, {
    shortNames: ['deploy'],
    all: true,
    subresources: ['status', 'scale'],
  }),
  {
    replicas: true,
    extraDefaults(s) {
      s.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
      s.progressDeadlineSeconds ??= 600;
    },
    columns: workloadColumns((o) => `${num(status(o).readyReplicas)}/${num(spec(o).replicas)}`),
  },
);

export const replicaSets = workload(
  resourceType('apps', 'v1', 'ReplicaSet', 'replicasets', true, {
    shortNames: ['rs'],
    all: true,
    subresources: ['status', 'scale'],
  }),
  {
    replicas: true,
    columns: [
      nameColumn,
      { name: 'Desired', type: 'integer', cell: (o) => num(spec(o).replicas) },
      { name: 'Current', type: 'integer', cell: (o) => num(status(o).replicas) },
      { name: 'Ready', type: 'integer', cell: (o) => num(status(o).readyReplicas) },
      ageColumn,
      ...templateWide,
    ],
  },
);

export const statefulSets = workload(
  resourceType('apps', 'v1', 'StatefulSet', 'statefulsets', true, {
    shortNames: ['sts'],
    all: true,
    subresources: ['status', 'scale'],
  }),
  { replicas: true },
);

export const daemonSets = workload(
  resourceType('apps', 'v1', 'DaemonSet', 'daemonsets', true, {
    shortNames: ['ds'],
    all: true,
    subresources: ['status'],
  }),
  { replicas: false },
);

export const replicationControllers = workload(
  resourceType('', 'v1', 'ReplicationController', 'replicationcontrollers', true, {
    shortNames: ['rc'],
    all: true,
    subresources: ['status', 'scale'],
  }),
  { replicas: true },
);
