/**
 * The HorizontalPodAutoscaler's arithmetic, after Kubernetes' `pkg/controller/podautoscaler`
 * (`replica_calculator.go`, `horizontal.go`), pure so it is tested by table: replicas each resource
 * metric asks for (utilization of requests or average value, within a 10 % tolerance, with pods
 * lacking metrics or not ready yet counted as Kubernetes counts them), the
 * stabilization window (the highest recommendation of the last window when scaling down, the lowest
 * when scaling up) and the scaling policies (how much may change per period).
 */

export interface MetricTarget {
  type: 'Utilization' | 'AverageValue';
  averageUtilization?: number;
  /** Millicores for CPU, bytes for memory. */
  averageValue?: number;
}

export interface PodUsage {
  /** Millicores or bytes used (not read for a `missing` pod). */
  usage: number;
  /** What the pod requests of the resource (0: none). */
  request: number;
  /**
   * As Kubernetes' `groupPods` sorts a pod: `unready` (pending, or for CPU not ready yet) and `missing`
   * (no metrics) pods count only where they hold a scale back; absent: a ready, measured pod.
   */
  state?: 'unready' | 'missing';
}

export const TOLERANCE = 0.1;

export interface MetricResult {
  replicas: number;
  /** Average utilization in percent (Utilization targets). */
  utilization?: number;
  /** Average usage per pod. */
  average: number;
}

const within = (ratio: number): boolean => Math.abs(ratio - 1) <= TOLERANCE;

/**
 * Replicas one resource metric asks for, as Kubernetes' replica calculator (`GetResourceReplicas`,
 * `calcPlainMetricReplicas`): the ratio of the ready pods' usage to the target; when pods lack
 * metrics or are not ready, the ratio is computed again with the missing ones at the target (scaling
 * down) or at nothing (scaling up) and the unready ones at nothing (scaling up only), and where that
 * lands within tolerance or turns the direction around, the replicas stay as they are.
 */
export function replicasFor(current: number, target: MetricTarget, pods: PodUsage[]): MetricResult | { error: string } {
  const ready = pods.filter((p) => !p.state);
  const unready = pods.filter((p) => p.state === 'unready');
  const missing = pods.filter((p) => p.state === 'missing');
  if (!ready.length)
    return {
      error:
        pods.length > missing.length
          ? 'did not receive metrics for targeted pods (pods might be unready)'
          : 'no metrics returned from resource metrics API',
    };
  const utilizationTarget = target.type === 'Utilization';
  if (utilizationTarget && pods.some((p) => p.request <= 0)) return { error: 'missing request' };
  const sum = (ps: PodUsage[], f: (p: PodUsage) => number): number => ps.reduce((n, p) => n + f(p), 0);
  const ratioOf = (ps: PodUsage[]): number =>
    utilizationTarget
      ? (sum(ps, (p) => p.usage) * 100) / sum(ps, (p) => p.request) / (target.averageUtilization ?? 80)
      : sum(ps, (p) => p.usage) / ps.length / (target.averageValue ?? 1);
  const average = sum(ready, (p) => p.usage) / ready.length;
  const utilization = utilizationTarget
    ? Math.round((sum(ready, (p) => p.usage) * 100) / sum(ready, (p) => p.request))
    : undefined;
  const answer = (replicas: number): MetricResult => ({
    replicas,
    average,
    ...(utilizationTarget ? { utilization } : {}),
  });
  const ratio = ratioOf(ready);
  const scaleUpWithUnready = unready.length > 0 && ratio > 1;
  if (!scaleUpWithUnready && !missing.length) return answer(within(ratio) ? current : Math.ceil(ratio * ready.length));
  const counted = [...ready];
  if (missing.length && ratio !== 1) {
    // Scaling down, a pod without metrics counts as using its share of the target (at least all it
    // requests); scaling up, as using nothing.
    const atTarget = (p: PodUsage): number =>
      utilizationTarget
        ? (p.request * Math.max(100, target.averageUtilization ?? 80)) / 100
        : (target.averageValue ?? 0);
    counted.push(...missing.map((p) => ({ ...p, usage: ratio < 1 ? atTarget(p) : 0 })));
  }
  if (scaleUpWithUnready) counted.push(...unready.map((p) => ({ ...p, usage: 0 })));
  const next = ratioOf(counted);
  if (within(next) || (ratio < 1 && next > 1) || (ratio > 1 && next < 1)) return answer(current);
  const replicas = Math.ceil(next * counted.length);
  if ((next < 1 && replicas > current) || (next > 1 && replicas < current)) return answer(current);
  return answer(replicas);
}

export interface ScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface ScalingRules {
  stabilizationWindowSeconds?: number;
  selectPolicy?: 'Max' | 'Min' | 'Disabled';
  policies?: ScalingPolicy[];
}

/** Kubernetes' defaults for `spec.behavior`. */
export const DEFAULT_SCALE_UP: Required<ScalingRules> = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Percent', value: 100, periodSeconds: 15 },
    { type: 'Pods', value: 4, periodSeconds: 15 },
  ],
};
export const DEFAULT_SCALE_DOWN: Required<ScalingRules> = {
  stabilizationWindowSeconds: 300,
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};

export interface Recommendation {
  at: number;
  replicas: number;
}

export interface ScaleEvent {
  at: number;
  /** Replicas added (positive) or removed (negative). */
  change: number;
}

/**
 * The replicas to set: the recommendation stabilized over the windows, then limited by the policies
 * given the changes already made in their periods, then kept within min and max.
 */
export function nextReplicas(o: {
  current: number;
  desired: number;
  min: number;
  max: number;
  now: number;
  recommendations: Recommendation[];
  events: ScaleEvent[];
  up?: ScalingRules;
  down?: ScalingRules;
}): { replicas: number; limited?: 'TooFewReplicas' | 'TooManyReplicas' | 'ScaleUpLimit' | 'ScaleDownLimit' } {
  const up = { ...DEFAULT_SCALE_UP, ...o.up };
  const down = { ...DEFAULT_SCALE_DOWN, ...o.down };
  const within = (seconds: number): number[] => [
    o.desired,
    ...o.recommendations.filter((r) => r.at > o.now - seconds * 1000).map((r) => r.replicas),
  ];
  // Scale up only as far as every recommendation of the up window agrees; down only as far as the down window's.
  const upBound = Math.min(...within(up.stabilizationWindowSeconds));
  const downBound = Math.max(...within(down.stabilizationWindowSeconds));
  let replicas = o.current;
  if (upBound > o.current) replicas = upBound;
  else if (downBound < o.current) replicas = downBound;
  let limited: 'TooFewReplicas' | 'TooManyReplicas' | 'ScaleUpLimit' | 'ScaleDownLimit' | undefined;
  const changed = (seconds: number): number =>
    o.events.filter((e) => e.at > o.now - seconds * 1000).reduce((n, e) => n + e.change, 0);
  if (replicas > o.current) {
    if (up.selectPolicy === 'Disabled') replicas = o.current;
    else {
      const limits = up.policies.map((p) => {
        const base = o.current - Math.max(0, changed(p.periodSeconds));
        return p.type === 'Pods' ? base + p.value : Math.ceil(base * (1 + p.value / 100));
      });
      const limit = up.selectPolicy === 'Min' ? Math.min(...limits) : Math.max(...limits);
      if (replicas > limit) [replicas, limited] = [limit, 'ScaleUpLimit'];
    }
  } else if (replicas < o.current) {
    if (down.selectPolicy === 'Disabled') replicas = o.current;
    else {
      const limits = down.policies.map((p) => {
        const base = o.current - Math.min(0, changed(p.periodSeconds));
        return p.type === 'Pods' ? base - p.value : Math.floor(base * (1 - p.value / 100));
      });
      const limit = down.selectPolicy === 'Min' ? Math.max(...limits) : Math.min(...limits);
      if (replicas < limit) [replicas, limited] = [limit, 'ScaleDownLimit'];
    }
  }
  if (replicas > o.max) [replicas, limited] = [o.max, 'TooManyReplicas'];
  if (replicas < o.min) [replicas, limited] = [o.min, 'TooFewReplicas'];
  return { replicas, limited };
}
