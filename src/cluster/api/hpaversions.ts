/**
 * HorizontalPodAutoscalers between autoscaling/v2 (how they are stored) and autoscaling/v1, as
 * Kubernetes' `pkg/apis/autoscaling/v1/conversion.go` does: v1 has only a CPU utilization target, so
 * the rest of a v2 object (other metrics, behavior, current metrics, conditions) rides in
 * `autoscaling.alpha.kubernetes.io/*` annotations of the v1 object and comes back from them when it is
 * written again. (Kubernetes writes those annotations in v2beta1's field names; Gantry writes v2's.)
 */
import type { KObject } from './object.js';

const METRICS = 'autoscaling.alpha.kubernetes.io/metrics';
const CURRENT_METRICS = 'autoscaling.alpha.kubernetes.io/current-metrics';
const CONDITIONS = 'autoscaling.alpha.kubernetes.io/conditions';
const BEHAVIOR = 'autoscaling.alpha.kubernetes.io/behavior';
const CARRIED = [METRICS, CURRENT_METRICS, CONDITIONS, BEHAVIOR];

type Obj = Record<string, unknown>;
interface Metric {
  type?: string;
  resource?: { name?: string; target?: { type?: string; averageUtilization?: number } };
}
interface CurrentMetric {
  type?: string;
  resource?: { name?: string; current?: { averageUtilization?: number } };
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const asObj = (v: unknown): Obj => (isObj(v) ? v : {});

/** An annotation's JSON when it is of the expected shape; anything else is as if it were absent. */
function carried(annotations: Record<string, string>, key: string, want: 'array' | 'object'): unknown {
  const text = annotations[key];
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return (want === 'array' ? Array.isArray(value) : isObj(value)) ? value : undefined;
  } catch {
    return undefined;
  }
}

const isCpuUtilization = (m: Metric): boolean =>
  m.type === 'Resource' && m.resource?.name === 'cpu' && m.resource.target?.type === 'Utilization';

/** The v1 view of a stored (v2) HorizontalPodAutoscaler. */
export function hpaToV1(o: KObject): KObject {
  if (o.apiVersion === 'autoscaling/v1') return o;
  const spec = asObj(o.spec);
  const status = asObj(o.status);
  const metrics = (Array.isArray(spec.metrics) ? spec.metrics : []) as Metric[];
  const cpu = metrics.find(isCpuUtilization);
  const others = metrics.filter((m) => m !== cpu);
  const current = (Array.isArray(status.currentMetrics) ? status.currentMetrics : []) as CurrentMetric[];
  const currentCpu = current.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
  const annotations: Record<string, string> = { ...(o.metadata?.annotations ?? {}) };
  if (others.length) annotations[METRICS] = JSON.stringify(others);
  if (spec.behavior !== undefined) annotations[BEHAVIOR] = JSON.stringify(spec.behavior);
  const otherCurrent = current.filter((m) => m !== currentCpu);
  if (otherCurrent.length) annotations[CURRENT_METRICS] = JSON.stringify(otherCurrent);
  if (Array.isArray(status.conditions) && status.conditions.length)
    annotations[CONDITIONS] = JSON.stringify(status.conditions);
  const v1Spec: Obj = {
    scaleTargetRef: spec.scaleTargetRef,
    minReplicas: spec.minReplicas,
    maxReplicas: spec.maxReplicas,
  };
  if (cpu) v1Spec.targetCPUUtilizationPercentage = cpu.resource?.target?.averageUtilization;
  const v1Status: Obj = {};
  for (const k of ['observedGeneration', 'lastScaleTime', 'currentReplicas', 'desiredReplicas'])
    if (status[k] !== undefined) v1Status[k] = status[k];
  const utilization = currentCpu?.resource?.current?.averageUtilization;
  if (utilization !== undefined) v1Status.currentCPUUtilizationPercentage = utilization;
  for (const k of Object.keys(v1Spec)) if (v1Spec[k] === undefined) delete v1Spec[k];
  return {
    ...o,
    apiVersion: 'autoscaling/v1',
    metadata: { ...o.metadata, ...(Object.keys(annotations).length ? { annotations } : {}) },
    spec: v1Spec,
    status: v1Status,
  };
}

/** The stored (v2) form of a v1 HorizontalPodAutoscaler, taking back what its annotations carry. */
export function hpaFromV1(o: KObject): KObject {
  // A body of the wrong shape is left for the v2 checks to refuse, not reshaped here.
  if (!isObj(o.spec) || (o.status !== undefined && !isObj(o.status))) return { ...o, apiVersion: 'autoscaling/v2' };
  const spec = o.spec;
  const status = asObj(o.status);
  const given = o.metadata?.annotations;
  const plain = given === undefined || (isObj(given) && Object.values(given).every((v) => typeof v === 'string'));
  const annotations: Record<string, string> = plain ? { ...given } : {};
  const metrics: unknown[] = [];
  if (spec.targetCPUUtilizationPercentage !== undefined && spec.targetCPUUtilizationPercentage !== null)
    metrics.push({
      type: 'Resource',
      resource: {
        name: 'cpu',
        target: { type: 'Utilization', averageUtilization: spec.targetCPUUtilizationPercentage },
      },
    });
  metrics.push(...((carried(annotations, METRICS, 'array') as unknown[] | undefined) ?? []));
  const v2Spec: Obj = {
    scaleTargetRef: spec.scaleTargetRef,
    minReplicas: spec.minReplicas,
    maxReplicas: spec.maxReplicas,
  };
  if (metrics.length) v2Spec.metrics = metrics;
  const behavior = carried(annotations, BEHAVIOR, 'object');
  if (behavior) v2Spec.behavior = behavior;
  for (const k of Object.keys(v2Spec)) if (v2Spec[k] === undefined) delete v2Spec[k];

  const v2Status: Obj = {};
  for (const k of ['observedGeneration', 'lastScaleTime', 'currentReplicas', 'desiredReplicas'])
    if (status[k] !== undefined) v2Status[k] = status[k];
  const current: unknown[] = [];
  if (status.currentCPUUtilizationPercentage !== undefined && status.currentCPUUtilizationPercentage !== null)
    current.push({
      type: 'Resource',
      resource: { name: 'cpu', current: { averageUtilization: status.currentCPUUtilizationPercentage } },
    });
  current.push(...((carried(annotations, CURRENT_METRICS, 'array') as unknown[] | undefined) ?? []));
  if (current.length) v2Status.currentMetrics = current;
  const conditions = carried(annotations, CONDITIONS, 'array');
  if (conditions) v2Status.conditions = conditions;

  for (const key of CARRIED) delete annotations[key];
  const metadata = isObj(o.metadata) ? { ...o.metadata } : o.metadata;
  if (isObj(metadata) && plain) {
    if (Object.keys(annotations).length) metadata.annotations = annotations;
    else delete metadata.annotations;
  }
  return { ...o, apiVersion: 'autoscaling/v2', metadata, spec: v2Spec, status: v2Status };
}
