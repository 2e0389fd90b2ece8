import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hpaFromV1, hpaToV1 } from './hpaversions.js';

const ref = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' };

test('a v2 HorizontalPodAutoscaler seen as v1: the CPU target in its field, the rest in annotations, and back', () => {
  const v2 = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web', namespace: 'default', annotations: { team: 'a' } },
    spec: {
      scaleTargetRef: ref,
      minReplicas: 1,
      maxReplicas: 5,
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } },
        { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } },
      ],
      behavior: { scaleDown: { stabilizationWindowSeconds: 60 } },
    },
    status: {
      currentReplicas: 2,
      desiredReplicas: 3,
      currentMetrics: [
        { type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 72 } } },
        { type: 'Resource', resource: { name: 'memory', current: { averageValue: '80Mi' } } },
      ],
      conditions: [{ type: 'AbleToScale', status: 'True' }],
    },
  };
  const v1 = hpaToV1(v2);
  assert.equal(v1.apiVersion, 'autoscaling/v1');
  assert.deepEqual(v1.spec, {
    scaleTargetRef: ref,
    minReplicas: 1,
    maxReplicas: 5,
    targetCPUUtilizationPercentage: 50,
  });
  assert.deepEqual(v1.status, { currentReplicas: 2, desiredReplicas: 3, currentCPUUtilizationPercentage: 72 });
  const annotations = v1.metadata?.annotations ?? {};
  assert.equal(annotations.team, 'a');
  assert.deepEqual(JSON.parse(annotations['autoscaling.alpha.kubernetes.io/metrics']!), [v2.spec.metrics[1]]);
  assert.deepEqual(JSON.parse(annotations['autoscaling.alpha.kubernetes.io/behavior']!), v2.spec.behavior);
  // Written back through v1, nothing of the v2 object is lost and the carrying annotations are gone.
  assert.deepEqual(hpaFromV1(v1), v2);
});

test('a v1 HorizontalPodAutoscaler stored as v2; bad annotations are as if absent', () => {
  const cases: Array<[string, Record<string, unknown>, Record<string, string> | undefined, unknown]> = [
    [
      'a CPU target',
      { scaleTargetRef: ref, maxReplicas: 3, targetCPUUtilizationPercentage: 40 },
      undefined,
      [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 40 } } }],
    ],
    ['no target (v2 defaults it)', { scaleTargetRef: ref, maxReplicas: 3 }, undefined, undefined],
    [
      'a metrics annotation that is not JSON',
      { scaleTargetRef: ref, maxReplicas: 3 },
      { 'autoscaling.alpha.kubernetes.io/metrics': '{not json' },
      undefined,
    ],
    [
      'a metrics annotation that is not a list',
      { scaleTargetRef: ref, maxReplicas: 3 },
      { 'autoscaling.alpha.kubernetes.io/metrics': '{"a":1}' },
      undefined,
    ],
  ];
  for (const [what, spec, annotations, metrics] of cases) {
    const v2 = hpaFromV1({
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'x', ...(annotations ? { annotations } : {}) },
      spec,
    });
    assert.equal(v2.apiVersion, 'autoscaling/v2', what);
    assert.deepEqual((v2.spec as { metrics?: unknown }).metrics, metrics, what);
    assert.equal(v2.metadata?.annotations, undefined, what);
  }
});

test('a v1 body of the wrong shape is left for the v2 checks to refuse', () => {
  const notAnObject = hpaFromV1({ apiVersion: 'autoscaling/v1', metadata: { name: 'x' }, spec: 'nope' as never });
  assert.equal(notAnObject.spec, 'nope');
  const stringAnnotations = hpaFromV1({
    apiVersion: 'autoscaling/v1',
    metadata: { name: 'x', annotations: 'a=b' as never },
    spec: { maxReplicas: 1 },
  });
  assert.equal(stringAnnotations.metadata?.annotations, 'a=b');
});
