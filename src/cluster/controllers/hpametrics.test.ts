import { test } from 'node:test';
import assert from 'node:assert/strict';
import { milliValue, value } from '../api/quantity.js';
import { decide, evaluateMetric, type MetricOutcome, type MetricSpec, type PodSample } from './hpametrics.js';

const amount = (resource: string, q: unknown): number => (resource === 'cpu' ? milliValue(q) : value(q));

/** A pod with an `app` container (and a `sidecar`), each using and requesting CPU in millicores. */
const pod = (name: string, app: [number, number], sidecar?: [number, number]): PodSample => ({
  name,
  measured: true,
  containers: [
    { name: 'app', usage: { cpu: app[0] }, request: app[1] ? { cpu: app[1] } : {} },
    ...(sidecar
      ? [{ name: 'sidecar', usage: { cpu: sidecar[0] }, request: sidecar[1] ? { cpu: sidecar[1] } : {} }]
      : []),
  ],
});

const cpuAt = (pct: number): MetricSpec => ({
  type: 'Resource',
  resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: pct } },
});
const appCpuAt = (pct: number, container = 'app'): MetricSpec => ({
  type: 'ContainerResource',
  containerResource: { name: 'cpu', container, target: { type: 'Utilization', averageUtilization: pct } },
});

test('what each metric type asks for, or why it cannot say (as an HPA without a custom metrics adapter)', () => {
  const two = [pod('web-1', [200, 100], [0, 100]), pod('web-2', [200, 100], [0, 100])];
  const cases: Array<{ name: string; metric: MetricSpec; pods: PodSample[]; want: Partial<MetricOutcome> }> = [
    {
      name: 'Resource: the pod sums its containers (400m of 400m requested at 50 %)',
      metric: cpuAt(50),
      pods: two,
      want: { ok: true, replicas: 4, name: 'cpu resource utilization (percentage of request)' },
    },
    {
      name: 'ContainerResource: only the named container counts (200 % of its request at 50 %)',
      metric: appCpuAt(50),
      pods: two,
      want: { ok: true, replicas: 8, name: 'cpu container resource utilization (percentage of request)' },
    },
    {
      name: 'Resource: a container without a request',
      metric: cpuAt(50),
      pods: [pod('web-1', [200, 100], [10, 0])],
      want: {
        ok: false,
        reason: 'FailedGetResourceMetric',
        error: 'failed to get cpu utilization: missing request for cpu in container sidecar of Pod web-1',
      },
    },
    {
      name: 'ContainerResource: a container the pods do not have',
      metric: appCpuAt(50, 'worker'),
      pods: two,
      want: {
        ok: false,
        reason: 'FailedGetContainerResourceMetric',
        error: 'failed to get cpu utilization: container worker not present in metrics for pod shop/web-1',
      },
    },
    {
      name: 'Resource: no pod measured yet',
      metric: cpuAt(50),
      pods: [{ ...pod('web-1', [0, 100]), measured: false }],
      want: {
        ok: false,
        reason: 'FailedGetResourceMetric',
        error:
          'failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API',
      },
    },
    {
      name: 'Pods: no custom metrics API',
      metric: { type: 'Pods', pods: { metric: { name: 'packets-per-second' }, target: { averageValue: '1k' } } },
      pods: two,
      want: {
        ok: false,
        reason: 'FailedGetPodsMetric',
        error:
          'unable to get metric packets-per-second: unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered',
      },
    },
    {
      name: 'Object: no custom metrics API',
      metric: {
        type: 'Object',
        object: {
          metric: { name: 'requests-per-second' },
          describedObject: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'main-route' },
          target: { type: 'Value', value: '10k' },
        },
      },
      pods: two,
      want: {
        ok: false,
        reason: 'FailedGetObjectMetric',
        error:
          'unable to get metric requests-per-second: Ingress on shop main-route/unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered',
      },
    },
    {
      name: 'External: no external metrics API',
      metric: {
        type: 'External',
        external: {
          metric: { name: 'queue_messages_ready', selector: { matchLabels: { queue: 'worker_tasks' } } },
          target: { type: 'AverageValue', averageValue: '30' },
        },
      },
      pods: two,
      want: {
        ok: false,
        reason: 'FailedGetExternalMetric',
        error:
          'unable to get external metric shop/queue_messages_ready/&LabelSelector{MatchLabels:map[string]string{queue: worker_tasks,},MatchExpressions:[],}: unable to fetch metrics from external metrics API: the server could not find the requested resource (get queue_messages_ready.external.metrics.k8s.io)',
      },
    },
  ];
  for (const c of cases) {
    const got = evaluateMetric(c.metric, 2, 'shop', c.pods, amount);
    const picked = Object.fromEntries(Object.keys(c.want).map((k) => [k, (got as Record<string, unknown>)[k]]));
    assert.deepEqual(picked, c.want, c.name);
  }
  const container = evaluateMetric(appCpuAt(50), 2, 'shop', two, amount);
  assert.deepEqual(container.ok && container.status, {
    type: 'ContainerResource',
    containerResource: { name: 'cpu', container: 'app', current: { averageUtilization: 200, averageValue: '200m' } },
  });
});

test('the metrics together: the highest wins; a failed one blocks scaling down, all failed block scaling', () => {
  const up: MetricOutcome = { ok: true, replicas: 5, name: 'cpu resource', status: { type: 'Resource' } };
  const down: MetricOutcome = { ok: true, replicas: 1, name: 'memory resource', status: { type: 'Resource' } };
  const failed: MetricOutcome = { ok: false, reason: 'FailedGetPodsMetric', error: 'no custom metrics API' };
  const cases: Array<[string, MetricOutcome[], unknown]> = [
    ['the highest proposal', [down, up], 5],
    ['a failure does not stop a scale up', [failed, up], 5],
    ['a failure stops a scale down', [down, failed], 'FailedGetPodsMetric'],
    ['every metric failed', [failed], 'FailedGetPodsMetric'],
  ];
  for (const [name, outcomes, want] of cases) {
    const d = decide(3, outcomes);
    assert.equal('failed' in d ? d.failed.reason : d.replicas, want, name);
    assert.equal(d.statuses.length, outcomes.length, `${name}: a status per metric`);
  }
  assert.deepEqual(decide(3, [failed, up]).statuses[0], { type: '' });
});
