/**
 * What each of a HorizontalPodAutoscaler's metrics asks for, as Kubernetes' `computeReplicasForMetrics`
 * (`pkg/controller/podautoscaler/horizontal.go`) decides it, pure so it is tested by table. Resource and
 * ContainerResource metrics are measured from the resource metrics API against the pods' requests.
 * Pods and Object metrics need a custom metrics API (`custom.metrics.k8s.io`) and External ones an
 * external metrics API, which this cluster does not serve (no adapter registers one): they fail with
 * Kubernetes' reasons and messages, as on a cluster without an adapter. As there, a failed metric
 * blocks a scale down, and scaling stops only when every metric failed.
 */
import { replicasFor, type MetricTarget, type PodUsage } from './hpacalc.js';

export interface MetricSpecTarget {
  type?: string;
  averageUtilization?: number;
  averageValue?: string;
  value?: string;
}

/** One entry of `spec.metrics` (autoscaling/v2). */
export interface MetricSpec {
  type: string;
  resource?: { name: string; target: MetricSpecTarget };
  containerResource?: { name: string; container: string; target: MetricSpecTarget };
  pods?: { metric?: { name?: string }; target?: MetricSpecTarget };
  object?: {
    metric?: { name?: string };
    describedObject?: { kind?: string; name?: string; apiVersion?: string };
    target?: MetricSpecTarget;
  };
  external?: {
    metric?: { name?: string; selector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] } };
    target?: MetricSpecTarget;
  };
}

/**
 * A pod of the target (not being deleted, not failed) as the controller sees it: per container, usage
 * (when measured) and requests.
 */
export interface PodSample {
  name: string;
  /** Whether the resource metrics API returned this pod. */
  measured: boolean;
  /** Not running yet: counted as unready for every resource. */
  pending?: boolean;
  /** Not ready, or too recently ready for its CPU sample to be trusted (Kubernetes' CPU initialization rules). */
  cpuUnready?: boolean;
  containers: Array<{ name: string; usage: Record<string, number>; request: Record<string, number> }>;
}

export type MetricOutcome =
  | {
      ok: true;
      replicas: number;
      /** The `status.currentMetrics` entry. */
      status: Record<string, unknown>;
      /** What a rescale event names: `cpu resource utilization (percentage of request)`. */
      name: string;
    }
  | { ok: false; reason: string; error: string };

/** How the replica calculator counts a pod for `resource` (Kubernetes' `groupPods`). */
function stateOf(p: PodSample, resource: string): PodUsage['state'] {
  if (p.pending) return 'unready';
  if (!p.measured) return 'missing';
  return resource === 'cpu' && p.cpuUnready ? 'unready' : undefined;
}

const NO_CUSTOM_API =
  'unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered';

/** Millicores for CPU, bytes for anything else. */
export type Amount = (resource: string, quantity: unknown) => number;

function targetOf(t: MetricSpecTarget, resource: string, amount: Amount): MetricTarget {
  return {
    type: t.type === 'AverageValue' ? 'AverageValue' : 'Utilization',
    averageUtilization: t.averageUtilization,
    averageValue: t.averageValue !== undefined ? amount(resource, t.averageValue) : undefined,
  };
}

/** A current average as a quantity: `250m` of CPU, bytes as a plain number. */
const averageText = (resource: string, average: number): string =>
  resource === 'cpu' ? `${Math.round(average)}m` : String(Math.round(average));

/** Go's `%+v` of a `*metav1.LabelSelector`, as Kubernetes' external metric errors print it. */
function selectorText(
  selector: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] } | undefined,
): string {
  if (!selector) return '<nil>';
  const labels = Object.entries(selector.matchLabels ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}: ${v},`)
    .join('');
  return `&LabelSelector{MatchLabels:map[string]string{${labels}},MatchExpressions:[${(selector.matchExpressions ?? []).map((e) => JSON.stringify(e)).join(' ')}],}`;
}

/** A Resource metric's outcome (a ContainerResource one's with `container`) from its pods' usage. */
function measuredOutcome(
  current: number,
  target: MetricTarget,
  perPod: PodUsage[],
  m: { name: string; container?: string },
): MetricOutcome {
  const kind = m.container === undefined ? 'Resource' : 'ContainerResource';
  const result = replicasFor(current, target, perPod);
  if ('error' in result)
    return {
      ok: false,
      reason: `FailedGet${kind}Metric`,
      error: `failed to get ${m.name} utilization: unable to get metrics for resource ${m.name}: ${result.error}`,
    };
  const what = m.container === undefined ? `${m.name} resource` : `${m.name} container resource`;
  const measured = {
    ...(result.utilization !== undefined ? { averageUtilization: result.utilization } : {}),
    averageValue: averageText(m.name, result.average),
  };
  return {
    ok: true,
    replicas: result.replicas,
    name: result.utilization !== undefined ? `${what} utilization (percentage of request)` : what,
    status:
      m.container === undefined
        ? { type: kind, resource: { name: m.name, current: measured } }
        : { type: kind, containerResource: { name: m.name, container: m.container, current: measured } },
  };
}

/** The replicas one metric asks for, or why it cannot say. */
export function evaluateMetric(
  metric: MetricSpec,
  current: number,
  namespace: string,
  pods: PodSample[],
  amount: Amount,
): MetricOutcome {
  switch (metric.type) {
    case 'Resource': {
      if (!metric.resource) break;
      const { name, target } = metric.resource;
      const missing = pods.find((p) => p.containers.some((c) => !(c.request[name]! > 0)));
      const perPod: PodUsage[] = pods.map((p) => ({
        usage: p.containers.reduce((n, c) => n + (c.usage[name] ?? 0), 0),
        request: p.containers.reduce((n, c) => n + (c.request[name] ?? 0), 0),
        state: stateOf(p, name),
      }));
      const t = targetOf(target, name, amount);
      if (t.type === 'Utilization' && missing) {
        const container = missing.containers.find((c) => !(c.request[name]! > 0))!;
        return {
          ok: false,
          reason: 'FailedGetResourceMetric',
          error: `failed to get ${name} utilization: missing request for ${name} in container ${container.name} of Pod ${missing.name}`,
        };
      }
      return measuredOutcome(current, t, perPod, { name });
    }
    case 'ContainerResource': {
      if (!metric.containerResource) break;
      const { name, container, target } = metric.containerResource;
      const t = targetOf(target, name, amount);
      const perPod: PodUsage[] = [];
      for (const p of pods) {
        const c = p.containers.find((x) => x.name === container);
        const state = stateOf(p, name);
        if (!c || (state !== 'missing' && !p.pending && c.usage[name] === undefined))
          return {
            ok: false,
            reason: 'FailedGetContainerResourceMetric',
            error: `failed to get ${name} utilization: container ${container} not present in metrics for pod ${namespace}/${p.name}`,
          };
        if (t.type === 'Utilization' && !(c.request[name]! > 0))
          return {
            ok: false,
            reason: 'FailedGetContainerResourceMetric',
            error: `failed to get ${name} utilization: missing request for ${name} in container ${container} of Pod ${p.name}`,
          };
        perPod.push({ usage: c.usage[name] ?? 0, request: c.request[name] ?? 0, state });
      }
      return measuredOutcome(current, t, perPod, { name, container });
    }
    case 'Pods':
      return {
        ok: false,
        reason: 'FailedGetPodsMetric',
        error: `unable to get metric ${metric.pods?.metric?.name ?? ''}: ${NO_CUSTOM_API}`,
      };
    case 'Object': {
      const o = metric.object?.describedObject ?? {};
      return {
        ok: false,
        reason: 'FailedGetObjectMetric',
        error: `unable to get metric ${metric.object?.metric?.name ?? ''}: ${o.kind ?? ''} on ${namespace} ${o.name ?? ''}/${NO_CUSTOM_API}`,
      };
    }
    case 'External': {
      const m = metric.external?.metric ?? {};
      return {
        ok: false,
        reason: 'FailedGetExternalMetric',
        error: `unable to get external metric ${namespace}/${m.name ?? ''}/${selectorText(m.selector)}: unable to fetch metrics from external metrics API: the server could not find the requested resource (get ${m.name ?? ''}.external.metrics.k8s.io)`,
      };
    }
  }
  return { ok: false, reason: 'InvalidMetricSourceType', error: `invalid metric source type "${metric.type}"` };
}

export type Decision =
  | { replicas: number; statuses: Array<Record<string, unknown>>; name: string }
  | { failed: { reason: string; error: string }; statuses: Array<Record<string, unknown>> };

/**
 * The metrics' outcomes together: the highest proposal wins; when every metric failed, or some failed
 * and the others would scale down, nothing scales and the first failure is the reason.
 */
export function decide(current: number, outcomes: MetricOutcome[]): Decision {
  // One status per metric, in order; a failed metric's is empty (`type: ""`), as Kubernetes writes it.
  const statuses = outcomes.map((o) => (o.ok ? o.status : { type: '' }));
  const good = outcomes.filter((o) => o.ok);
  const firstFailure = outcomes.find((o) => !o.ok);
  if (!good.length)
    return { failed: firstFailure ?? { reason: 'InvalidMetricSourceType', error: 'no metrics' }, statuses };
  const top = good.reduce((a, b) => (b.replicas > a.replicas ? b : a));
  if (firstFailure && top.replicas < current) return { failed: firstFailure, statuses };
  return { replicas: top.replicas, statuses, name: top.name };
}
