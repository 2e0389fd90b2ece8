/**
 * The HorizontalPodAutoscaler controller (autoscaling/v2, and v1 objects' `targetCPUUtilizationPercentage`),
 * after Kubernetes' `pkg/controller/podautoscaler`: every sync period (15 s) it reads the target's
 * scale subresource (any kind with one), its pods' CPU and memory per container from the resource
 * metrics API (`metrics.k8s.io`) and their requests, computes the replicas each metric asks for
 * (`hpametrics`: Resource and ContainerResource; Pods, Object and External fail as without an
 * adapter), stabilizes and limits them by `spec.behavior`, writes the new scale, and reports the
 * metrics and conditions in status (what `kubectl get hpa` shows as TARGETS).
 */
import type { Logger } from '../../common/log.js';
import { isNotFound } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import { podCondition, podSpec, podStatus } from '../api/pod.js';
import { milliValue, value } from '../api/quantity.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { BY_NAMESPACE, keyOf, type Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';
import { nextReplicas, type Recommendation, type ScaleEvent, type ScalingRules } from './hpacalc.js';
import { decide, evaluateMetric, type MetricSpec, type PodSample } from './hpametrics.js';

interface HpaSpec {
  scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string };
  minReplicas?: number;
  maxReplicas?: number;
  metrics?: MetricSpec[];
  targetCPUUtilizationPercentage?: number;
  behavior?: { scaleUp?: ScalingRules; scaleDown?: ScalingRules };
}

interface HpaCondition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime?: string;
}

const PLURALS: Record<string, string> = {
  Deployment: 'deployments',
  ReplicaSet: 'replicasets',
  StatefulSet: 'statefulsets',
  ReplicationController: 'replicationcontrollers',
};

/** The metrics an HPA asks for: v2's list, or v1's CPU percentage, or Kubernetes' default (CPU at 80 %). */
export function metricsOf(spec: HpaSpec): MetricSpec[] {
  if (spec.metrics?.length) return spec.metrics;
  const pct = spec.targetCPUUtilizationPercentage ?? 80;
  return [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: pct } } }];
}

const amount = (resource: string, q: unknown): number => (resource === 'cpu' ? milliValue(q) : value(q));

/** `app=web,tier=front` → a matcher of labels (the form a Scale's status.selector takes). */
function selectorMatcher(text: string): (labels: Record<string, string>) => boolean {
  const pairs = text
    .split(',')
    .filter(Boolean)
    .map((p) => p.split('=') as [string, string]);
  return (labels) => pairs.length > 0 && pairs.every(([k, v]) => labels[k] === v);
}

interface PodUsageSample {
  /** When the sample's window began (ms). */
  sampledAt: number;
  containers: Map<string, Record<string, number>>;
}

/** Kubernetes' `--horizontal-pod-autoscaler-cpu-initialization-period` and initial readiness delay. */
const CPU_INITIALIZATION_MS = 5 * 60_000;
const INITIAL_READINESS_DELAY_MS = 30_000;

/**
 * Whether a pod's CPU sample is left out as Kubernetes' groupPods leaves it out: not known to be
 * ready; within its first five minutes, not ready or ready more recently than its sample began; after
 * them, not ready and never ready since it started.
 */
function cpuUnready(p: KObject, sampledAt: number | undefined, now: number): boolean {
  const ready = podCondition(p, 'Ready');
  const started = Date.parse(podStatus(p).startTime ?? '');
  if (!ready || Number.isNaN(started)) return true;
  const transition = Date.parse(ready.lastTransitionTime ?? '') || 0;
  if (started + CPU_INITIALIZATION_MS > now)
    return ready.status === 'False' || (sampledAt !== undefined && sampledAt < transition);
  return ready.status === 'False' && started + INITIAL_READINESS_DELAY_MS > transition;
}

const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

export class HorizontalPodAutoscalerController {
  readonly queue = new WorkQueue();
  private readonly recommendations = new Map<string, Recommendation[]>();
  private readonly scaleEvents = new Map<string, ScaleEvent[]>();

  constructor(
    private readonly client: KubeClient,
    private readonly hpas: Informer,
    private readonly pods: Informer,
    private readonly logger: Logger,
    private readonly events?: EventRecorder,
    private readonly syncPeriodMs = 15_000,
  ) {
    pods.addIndex(BY_NAMESPACE);
    hpas.on({
      add: (o) => this.queue.add(keyOf(o)),
      // Its own status writes do not call for a sync; spec changes do.
      update: (old, o) => {
        if (old.metadata?.generation !== o.metadata?.generation) this.queue.add(keyOf(o));
      },
      delete: (o) => {
        this.recommendations.delete(keyOf(o));
        this.scaleEvents.delete(keyOf(o));
      },
    });
  }

  run(): Promise<void> {
    return this.queue.run('horizontalpodautoscaling', (key) => this.sync(key), this.logger);
  }

  async sync(key: string, now = Date.now()): Promise<void> {
    const hpa = this.hpas.get(key);
    if (!hpa) return;
    // Level-triggered on a timer, as the kubelet's resync: the next look in one period.
    this.queue.addAfter(key, this.syncPeriodMs);
    const spec = (hpa.spec ?? {}) as HpaSpec;
    const ns = hpa.metadata!.namespace!;
    const ref = spec.scaleTargetRef ?? {};
    const plural = PLURALS[ref.kind ?? ''] ?? `${String(ref.kind).toLowerCase()}s`;
    const scalePath = `${collectionPath(ref.apiVersion ?? 'apps/v1', plural, ns)}/${ref.name}/scale`;
    const conditions: HpaCondition[] = [];
    const prior = (hpa.status ?? {}) as Record<string, unknown>;
    let scale: KObject;
    try {
      scale = await this.client.request<KObject>('GET', scalePath);
    } catch (err) {
      const message = `the HPA controller was unable to get the target's current scale: ${String(err)}`;
      this.events?.record(hpa, 'Warning', 'FailedGetScale', message);
      conditions.push({ type: 'AbleToScale', status: 'False', reason: 'FailedGetScale', message });
      return this.writeStatus(hpa, { ...prior, conditions: this.merge(hpa, conditions, now) });
    }
    const current = Number((scale.spec as { replicas?: number } | undefined)?.replicas ?? 0);
    const min = spec.minReplicas ?? 1;
    const max = spec.maxReplicas ?? min;
    if (current === 0 && min > 0) {
      conditions.push({
        type: 'ScalingActive',
        status: 'False',
        reason: 'ScalingDisabled',
        message: 'scaling is disabled since the replica count of the target is zero',
      });
      return this.writeStatus(hpa, {
        ...prior,
        currentReplicas: 0,
        desiredReplicas: 0,
        conditions: this.merge(hpa, conditions, now),
      });
    }
    const matches = selectorMatcher(String((scale.status as { selector?: string } | undefined)?.selector ?? ''));
    // As Kubernetes' groupPods: pods being deleted and failed ones are left out, the rest sorted by state.
    const pods = this.pods
      .byIndex(BY_NAMESPACE, ns)
      .filter(
        (p) => matches(p.metadata?.labels ?? {}) && !p.metadata?.deletionTimestamp && podStatus(p).phase !== 'Failed',
      );
    const usage = await this.podUsage(ns, pods);
    const samples: PodSample[] = pods.map((p) => {
      const measured = usage.get(p.metadata?.uid ?? '');
      return {
        name: p.metadata?.name ?? '',
        measured: !!measured,
        pending: podStatus(p).phase === 'Pending',
        cpuUnready: cpuUnready(p, measured?.sampledAt, now),
        containers: (podSpec(p).containers ?? []).map((c) => {
          const requests = (c.resources?.requests ?? {}) as Record<string, unknown>;
          return {
            name: c.name ?? '',
            usage: measured?.containers.get(c.name ?? '') ?? {},
            request: Object.fromEntries(Object.keys(requests).map((r) => [r, amount(r, requests[r])])),
          };
        }),
      };
    });
    const decision = decide(
      current,
      metricsOf(spec).map((m) => evaluateMetric(m, current, ns, samples, amount)),
    );
    if ('failed' in decision) {
      const { reason, error } = decision.failed;
      this.events?.record(hpa, 'Warning', reason, error);
      conditions.push({
        type: 'AbleToScale',
        status: 'True',
        reason: 'SucceededGetScale',
        message: "the HPA controller was able to get the target's current scale",
      });
      conditions.push({
        type: 'ScalingActive',
        status: 'False',
        reason,
        message: `the HPA was unable to compute the replica count: ${error}`,
      });
      return this.writeStatus(hpa, {
        ...prior,
        currentReplicas: current,
        desiredReplicas: current,
        currentMetrics: decision.statuses,
        conditions: this.merge(hpa, conditions, now),
      });
    }

    const desired = decision.replicas;
    const history = (this.recommendations.get(key) ?? []).filter((r) => r.at > now - 3600_000);
    const events = (this.scaleEvents.get(key) ?? []).filter((e) => e.at > now - 3600_000);
    const next = nextReplicas({
      current,
      desired,
      min,
      max,
      now,
      recommendations: history,
      events,
      up: spec.behavior?.scaleUp,
      down: spec.behavior?.scaleDown,
    });
    this.recommendations.set(key, [...history, { at: now, replicas: desired }]);
    let lastScaleTime = prior.lastScaleTime;
    if (next.replicas !== current) {
      await this.client.mergePatch(scalePath, { spec: { replicas: next.replicas } });
      this.scaleEvents.set(key, [...events, { at: now, change: next.replicas - current }]);
      lastScaleTime = rfc3339(now);
      this.events?.record(
        hpa,
        'Normal',
        'SuccessfulRescale',
        `New size: ${next.replicas}; reason: ${next.replicas > current ? `${decision.name} above target` : 'All metrics below target'}`,
      );
    }
    conditions.push(
      {
        type: 'AbleToScale',
        status: 'True',
        reason: next.replicas !== current ? 'SucceededRescale' : 'ReadyForNewScale',
        message:
          next.replicas !== current
            ? `the HPA controller was able to update the target scale to ${next.replicas}`
            : 'recommended size matches current size',
      },
      {
        type: 'ScalingActive',
        status: 'True',
        reason: 'ValidMetricFound',
        message: `the HPA was able to successfully calculate a replica count from ${decision.name}`,
      },
      next.limited === 'TooFewReplicas' || next.limited === 'TooManyReplicas'
        ? {
            type: 'ScalingLimited',
            status: 'True',
            reason: next.limited,
            message: `the desired replica count is ${next.limited === 'TooFewReplicas' ? 'less than the minimum' : 'more than the maximum'} replica count`,
          }
        : {
            type: 'ScalingLimited',
            status: 'False',
            reason: 'DesiredWithinRange',
            message: 'the desired count is within the acceptable range',
          },
    );
    await this.writeStatus(hpa, {
      observedGeneration: hpa.metadata?.generation ?? 1,
      ...(lastScaleTime ? { lastScaleTime } : {}),
      currentReplicas: current,
      desiredReplicas: next.replicas,
      currentMetrics: decision.statuses,
      conditions: this.merge(hpa, conditions, now),
    });
  }

  /** Usage per pod UID, container and resource (millicores, bytes) from the metrics API, and when it was sampled. */
  private async podUsage(ns: string, pods: KObject[]): Promise<Map<string, PodUsageSample>> {
    const out = new Map<string, PodUsageSample>();
    if (!pods.length) return out;
    const list = await this.client.list(`/apis/metrics.k8s.io/v1beta1/namespaces/${ns}/pods`).catch((err: unknown) => {
      this.logger.debug({ err: String(err) }, 'no pod metrics');
      return { items: [] as KObject[] };
    });
    const byName = new Map(pods.map((p) => [p.metadata?.name, p.metadata?.uid ?? '']));
    for (const m of list.items) {
      const uid = byName.get(m.metadata?.name);
      if (!uid) continue;
      const containers = (m.containers as Array<{ name?: string; usage?: Record<string, string> }> | undefined) ?? [];
      // The sample covers a window ending at its timestamp: what the pod did from its start.
      const window = /^(\d+)s$/.exec(String(m.window ?? ''));
      out.set(uid, {
        sampledAt: Date.parse(String(m.timestamp ?? '')) - (window ? Number(window[1]) * 1000 : 0),
        containers: new Map(
          containers.map((c) => [
            c.name ?? '',
            Object.fromEntries(Object.entries(c.usage ?? {}).map(([r, q]) => [r, amount(r, q)])),
          ]),
        ),
      });
    }
    return out;
  }

  /** Conditions with their transition times kept when the status did not change. */
  private merge(hpa: KObject, conditions: HpaCondition[], now: number): HpaCondition[] {
    const was = (hpa.status as { conditions?: HpaCondition[] } | undefined)?.conditions ?? [];
    return conditions.map((c) => {
      const before = was.find((w) => w.type === c.type);
      return { ...c, lastTransitionTime: before?.status === c.status ? before.lastTransitionTime : rfc3339(now) };
    });
  }

  private async writeStatus(hpa: KObject, status: Record<string, unknown>): Promise<void> {
    if (JSON.stringify(status) === JSON.stringify(hpa.status ?? {})) return;
    const path = `${collectionPath('autoscaling/v2', 'horizontalpodautoscalers', hpa.metadata!.namespace)}/${hpa.metadata!.name}/status`;
    await this.client.mergePatch(path, { status }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
}
