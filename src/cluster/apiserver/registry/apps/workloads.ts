/**
 * The workload kinds of apps/v1 (and core's ReplicationController): replicas, history and rollout
 * defaults, their pod template, an immutable selector, the scale subresource and kubectl's columns.
 */
import { labelSelectorMatches, type LabelSelector } from '../../../api/selector.js';
import { invalid, type KObject } from '../../objects.js';
import { resourceType } from '../../resources.js';
import { nameColumn, ageColumn, num, spec, status, templateWide, workloadColumns, type Column } from '../../tables.js';
import { obj, refuse } from '../../validation.js';
import {
  defaultTemplate,
  nonNegative,
  restartPolicyProblems,
  same,
  selectorProblems,
  validateTemplate,
} from '../podtemplate.js';
import type { Strategy } from '../strategy.js';

const selects = (selector: unknown, labels: Record<string, string>): boolean =>
  labelSelectorMatches(selector as LabelSelector, labels);
/** A ReplicationController's selector is a plain map of labels. */
const selectsEqual = (selector: unknown, labels: Record<string, string>): boolean =>
  Object.entries(selector as Record<string, string>).every(([k, v]) => labels[k] === v);

function workload(
  r: Strategy['resource'],
  opts: { replicas: boolean; columns?: Column[]; extraDefaults?: (spec: Record<string, unknown>, o: KObject) => void },
): Strategy {
  return {
    resource: r,
    generation: true,
    defaults(o) {
      const s = o.spec as Record<string, unknown>;
      if (opts.replicas) s.replicas ??= 1;
      if (r.kind !== 'ReplicationController') s.revisionHistoryLimit ??= 10;
      opts.extraDefaults?.(s, o);
      defaultTemplate(s);
      o.status ??= {};
    },
    validate(o) {
      validateTemplate(r, o);
      const s = obj(o.spec) ?? {};
      refuse(r, o, [
        ...nonNegative(s, 'replicas', 'minReadySeconds', 'revisionHistoryLimit'),
        ...selectorProblems(s, r.kind === 'ReplicationController' ? selectsEqual : selects),
        ...restartPolicyProblems(s, ['Always']),
      ]);
    },
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
  {
    replicas: true,
    extraDefaults(s) {
      s.podManagementPolicy ??= 'OrderedReady';
      s.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
      s.persistentVolumeClaimRetentionPolicy ??= { whenDeleted: 'Retain', whenScaled: 'Retain' };
    },
    columns: [
      nameColumn,
      { name: 'Ready', type: 'string', cell: (o) => `${num(status(o).readyReplicas)}/${num(spec(o).replicas)}` },
      ageColumn,
      ...templateWide.slice(0, 2),
    ],
  },
);

export const daemonSets = workload(
  resourceType('apps', 'v1', 'DaemonSet', 'daemonsets', true, {
    shortNames: ['ds'],
    all: true,
    subresources: ['status'],
  }),
  {
    replicas: false,
    extraDefaults(s) {
      s.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
    },
    columns: [
      nameColumn,
      { name: 'Desired', type: 'integer', cell: (o) => num(status(o).desiredNumberScheduled) },
      { name: 'Current', type: 'integer', cell: (o) => num(status(o).currentNumberScheduled) },
      { name: 'Ready', type: 'integer', cell: (o) => num(status(o).numberReady) },
      { name: 'Up-to-date', type: 'integer', cell: (o) => num(status(o).updatedNumberScheduled) },
      { name: 'Available', type: 'integer', cell: (o) => num(status(o).numberAvailable) },
      {
        name: 'Node Selector',
        type: 'string',
        cell: (o) =>
          Object.entries(
            ((spec(o).template as KObject | undefined)?.spec?.nodeSelector as Record<string, string> | undefined) ?? {},
          )
            .map(([k, v]) => `${k}=${v}`)
            .join(',') || '<none>',
      },
      ageColumn,
      ...templateWide,
    ],
  },
);

export const replicationControllers = workload(
  resourceType('', 'v1', 'ReplicationController', 'replicationcontrollers', true, {
    shortNames: ['rc'],
    all: true,
    subresources: ['status', 'scale'],
  }),
  {
    replicas: true,
    // As Kubernetes: a missing selector (and missing labels) are the template's labels.
    extraDefaults(s, o) {
      const labels = (s.template as KObject | undefined)?.metadata?.labels;
      if (labels && (!s.selector || !Object.keys(s.selector).length)) s.selector = { ...labels };
      if (labels && !Object.keys(o.metadata?.labels ?? {}).length)
        o.metadata = { ...o.metadata, labels: { ...labels } };
    },
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
