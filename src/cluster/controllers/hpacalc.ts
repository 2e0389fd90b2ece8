/**
 * The HorizontalPodAutoscaler's arithmetic, after Kubernetes' `pkg/controller/podautoscaler`
 * (`replica_calculator.go`, `horizontal.go`), pure so it is tested by table: replicas each resource
 * metric asks for (utilization of requests or average value, within a 10 % tolerance), the
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
  /** Millicores or bytes used. */
  usage: number;
  /** What the pod requests of the resource (0: none). */
  request: number;
}

export const TOLERANCE = 0.1;

export interface MetricResult {
  replicas: number;
  /** Average utilization in percent (Utilization targets). */
  utilization?: number;
  /** Average usage per pod. */
  average: number;
}

/** Replicas one resource metric asks for, given the pods' usage (only pods with metrics count). */
export function replicasFor(current: number, target: MetricTarget, pods: PodUsage[]): MetricResult | { error: string } {
  if (!pods.length) return { error: 'no metrics returned from resource metrics API' };
  const usage = pods.reduce((n, p) => n + p.usage, 0);
  const average = usage / pods.length;
  if (target.type === 'Utilization') {
    if (pods.some((p) => p.request <= 0)) return { error: 'missing request' };
    const requests = pods.reduce((n, p) => n + p.request, 0);
    const utilization = Math.round((usage * 100) / requests);
    const ratio = (usage * 100) / requests / (target.averageUtilization ?? 80);
    const replicas = Math.abs(ratio - 1) <= TOLERANCE ? current : Math.ceil(ratio * pods.length);
    return { replicas, utilization, average };
  }
  const ratio = average / (target.averageValue ?? 1);
  const replicas = Math.abs(ratio - 1) <= TOLERANCE ? current : Math.ceil(usage / (target.averageValue ?? 1));
  return { replicas, average };
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
