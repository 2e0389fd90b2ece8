/**
 * HorizontalPodAutoscalers (stored as autoscaling/v2, served as v1 too): Kubernetes' defaults (at least one
 * replica; CPU at 80 % when no metric is named), the checks users meet (`maxReplicas` against
 * `minReplicas`, a target to scale) and kubectl's columns, TARGETS from the controller's status.
 */
import type { FieldProblem } from '../../../api/validation.js';
import type { KObject } from '../../objects.js';
import { resourceType } from '../../resources.js';
import { hpaFromV1, hpaToV1 } from '../../../api/hpaversions.js';
import { ageColumn, nameColumn, num, spec, status, type Column } from '../../tables.js';
import { obj, refuse } from '../../validation.js';
import type { Strategy } from '../strategy.js';

type Target = { type?: string; averageUtilization?: number; averageValue?: string; value?: string };
type Source = { name?: string; container?: string; target?: Target };
type Metric = {
  type?: string;
  resource?: Source;
  containerResource?: Source;
  pods?: Source;
  object?: Source;
  external?: Source;
};
type Measured = { averageUtilization?: number; averageValue?: string; value?: string };
type Current = {
  type?: string;
  resource?: { name?: string; current?: Measured };
  containerResource?: { name?: string; container?: string; current?: Measured };
  pods?: { current?: Measured };
  object?: { current?: Measured };
  external?: { current?: Measured };
};

function problems(o: KObject): FieldProblem[] {
  const s = obj(o.spec) ?? {};
  const out: FieldProblem[] = [];
  const ref = obj(s.scaleTargetRef);
  if (!ref?.kind) out.push({ field: 'spec.scaleTargetRef.kind', message: 'Required value' });
  if (!ref?.name) out.push({ field: 'spec.scaleTargetRef.name', message: 'Required value' });
  const min = s.minReplicas;
  if (min !== undefined && !(Number.isInteger(min) && Number(min) >= 1))
    out.push({ field: 'spec.minReplicas', value: min, message: 'must be greater than or equal to 1' });
  if (!Number.isInteger(s.maxReplicas) || Number(s.maxReplicas) < 1)
    out.push({ field: 'spec.maxReplicas', value: s.maxReplicas, message: 'must be greater than 0' });
  else if (Number(s.maxReplicas) < Number(min ?? 1))
    out.push({
      field: 'spec.maxReplicas',
      value: s.maxReplicas,
      message: 'must be greater than or equal to `minReplicas`',
    });
  return out;
}

/** kubectl's TARGETS: `cpu: 45%/50%`, `memory: 20Mi/100Mi`, `<unknown>` until measured. */
export function targetsText(o: KObject): string {
  const s = spec(o);
  const metrics: Metric[] = Array.isArray(s.metrics)
    ? (s.metrics as Metric[])
    : s.targetCPUUtilizationPercentage !== undefined || !('metrics' in s)
      ? [
          {
            type: 'Resource',
            resource: {
              name: 'cpu',
              target: { type: 'Utilization', averageUtilization: num(s.targetCPUUtilizationPercentage) || 80 },
            },
          },
        ]
      : [];
  const current = (status(o).currentMetrics as Current[] | null | undefined) ?? [];
  // As kubectl's printer: the i-th current metric answers the i-th spec'd one.
  const parts = metrics.map((m, i) => {
    const now = current[i];
    const unknown = '<unknown>';
    switch (m.type) {
      case 'Resource':
      case 'ContainerResource': {
        const src = (m.type === 'Resource' ? m.resource : m.containerResource) ?? {};
        const measured = m.type === 'Resource' ? now?.resource : now?.containerResource;
        const t = src.target ?? {};
        if (t.type === 'Utilization' || t.averageValue === undefined)
          return `${src.name}: ${measured?.current?.averageUtilization !== undefined ? `${measured.current.averageUtilization}%` : unknown}/${t.averageUtilization}%`;
        return `${src.name}: ${measured?.current?.averageValue ?? unknown}/${t.averageValue}`;
      }
      case 'Pods':
        return `${now?.pods?.current?.averageValue ?? unknown}/${m.pods?.target?.averageValue}`;
      case 'Object':
      case 'External': {
        const t = (m.type === 'Object' ? m.object : m.external)?.target ?? {};
        const measured = (m.type === 'Object' ? now?.object : now?.external)?.current;
        if (t.averageValue !== undefined) return `${measured?.averageValue ?? unknown}/${t.averageValue} (avg)`;
        return `${measured?.value ?? unknown}/${t.value}`;
      }
      default:
        return '<unknown type>';
    }
  });
  if (parts.length > 2) return `${parts.slice(0, 2).join(', ')} + ${parts.length - 2} more...`;
  return parts.join(', ') || '<none>';
}

const columns: Column[] = [
  nameColumn,
  {
    name: 'Reference',
    type: 'string',
    cell: (o) => {
      const ref = (spec(o).scaleTargetRef ?? {}) as { kind?: string; name?: string };
      return `${ref.kind}/${ref.name}`;
    },
  },
  { name: 'Targets', type: 'string', cell: targetsText },
  { name: 'MinPods', type: 'string', cell: (o) => String(spec(o).minReplicas ?? '<unset>') },
  { name: 'MaxPods', type: 'integer', cell: (o) => num(spec(o).maxReplicas) },
  { name: 'Replicas', type: 'integer', cell: (o) => num(status(o).currentReplicas) },
  ageColumn,
];

const resourceOf = (version: string) =>
  resourceType('autoscaling', version, 'HorizontalPodAutoscaler', 'horizontalpodautoscalers', true, {
    shortNames: ['hpa'],
    all: true,
    subresources: ['status'],
  });

const v2 = resourceOf('v2');

/** Stored as autoscaling/v2; autoscaling/v1 is a view of it (`api/hpaversions`). */
export const horizontalPodAutoscalers: Strategy[] = [
  {
    resource: v2,
    generation: true,
    defaults(o) {
      const s = o.spec as Record<string, unknown>;
      s.minReplicas ??= 1;
      if (!Array.isArray(s.metrics) || !s.metrics.length)
        s.metrics = [
          { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } },
        ];
    },
    validate: (o) => refuse(v2, o, problems(o)),
    columns,
  },
  {
    resource: resourceOf('v1'),
    conversion: { storage: v2, toStorage: hpaFromV1, fromStorage: hpaToV1 },
    columns,
  },
];
