import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextReplicas, replicasFor } from './hpacalc.js';

test('replicas a resource metric asks for: utilization of requests, average value, tolerance', () => {
  const cpu = (usage: number, request = 100): { usage: number; request: number } => ({ usage, request });
  const cases: Array<
    [string, number, Parameters<typeof replicasFor>[1], Array<{ usage: number; request: number }>, unknown]
  > = [
    ['double the target doubles', 2, { type: 'Utilization', averageUtilization: 50 }, [cpu(100), cpu(100)], 4],
    ['within 10 % stays', 3, { type: 'Utilization', averageUtilization: 50 }, [cpu(54), cpu(52), cpu(50)], 3],
    ['below scales down', 4, { type: 'Utilization', averageUtilization: 50 }, [cpu(10), cpu(10), cpu(10), cpu(10)], 1],
    ['average value', 1, { type: 'AverageValue', averageValue: 200 }, [cpu(900)], 5],
    ['a pod without a request', 1, { type: 'Utilization', averageUtilization: 50 }, [cpu(50, 0)], 'missing request'],
    [
      'no metrics',
      1,
      { type: 'Utilization', averageUtilization: 50 },
      [],
      'no metrics returned from resource metrics API',
    ],
  ];
  for (const [name, current, target, pods, want] of cases) {
    const r = replicasFor(current, target, pods);
    assert.deepEqual('error' in r ? r.error : r.replicas, want, name);
  }
  assert.equal(
    (replicasFor(1, { type: 'Utilization', averageUtilization: 50 }, [cpu(45)]) as { utilization: number }).utilization,
    45,
  );
});

test("pods without metrics or not ready yet, as Kubernetes' replica calculator counts them", () => {
  const at50 = { type: 'Utilization' as const, averageUtilization: 50 };
  const pod = (
    usage: number,
    state?: 'unready' | 'missing',
  ): { usage: number; request: number; state?: 'unready' | 'missing' } => ({
    usage,
    request: 100,
    ...(state ? { state } : {}),
  });
  const cases: Array<[string, number, Parameters<typeof replicasFor>[1], Parameters<typeof replicasFor>[2], unknown]> =
    [
      ['a missing pod counts as idle on a scale up', 3, at50, [pod(100), pod(100), pod(0, 'missing')], 4],
      ['and as at its request on a scale down', 3, at50, [pod(10), pod(10), pod(0, 'missing')], 3],
      ['a big enough scale down still happens', 4, at50, [pod(0), pod(0), pod(0), pod(0, 'missing')], 2],
      ['an unready pod counts as idle on a scale up', 3, at50, [pod(200), pod(200), pod(0, 'unready')], 8],
      ['and is left out of a scale down', 3, at50, [pod(10), pod(10), pod(0, 'unready')], 1],
      [
        'nothing ready',
        2,
        at50,
        [pod(90, 'unready'), pod(0, 'missing')],
        'did not receive metrics for targeted pods (pods might be unready)',
      ],
      [
        'an average value with a missing pod on a scale down',
        3,
        { type: 'AverageValue', averageValue: 100 },
        [pod(10), pod(10), pod(0, 'missing')],
        2,
      ],
    ];
  for (const [name, current, target, pods, want] of cases) {
    const r = replicasFor(current, target, pods);
    assert.deepEqual('error' in r ? r.error : r.replicas, want, name);
  }
});

test('behavior: stabilization windows and scaling policies, then min and max', () => {
  const now = 1_000_000;
  const base = { min: 1, max: 10, now, recommendations: [], events: [] };
  const cases: Array<[string, Parameters<typeof nextReplicas>[0], number, string | undefined]> = [
    ['up by at most max(100 %, 4 pods)', { ...base, current: 1, desired: 10 }, 5, 'ScaleUpLimit'],
    ['up by 100 % from 8', { ...base, current: 8, desired: 20, max: 20 }, 16, 'ScaleUpLimit'],
    ['capped by max', { ...base, current: 4, desired: 9, max: 6 }, 6, 'TooManyReplicas'],
    [
      'down waits for the highest recommendation of 300 s',
      { ...base, current: 5, desired: 1, recommendations: [{ at: now - 100_000, replicas: 4 }] },
      4,
      undefined,
    ],
    [
      'down once the window holds nothing higher',
      { ...base, current: 5, desired: 1, recommendations: [{ at: now - 400_000, replicas: 4 }] },
      1,
      undefined,
    ],
    [
      'a short down window',
      {
        ...base,
        current: 5,
        desired: 2,
        recommendations: [{ at: now - 20_000, replicas: 4 }],
        down: { stabilizationWindowSeconds: 15 },
      },
      2,
      undefined,
    ],
    [
      'down by at most 1 pod a minute',
      {
        ...base,
        current: 5,
        desired: 1,
        down: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
      },
      4,
      'ScaleDownLimit',
    ],
    [
      'the period remembers earlier changes',
      {
        ...base,
        current: 4,
        desired: 1,
        events: [{ at: now - 30_000, change: -1 }],
        down: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
      },
      4,
      'ScaleDownLimit',
    ],
    ['scale up disabled', { ...base, current: 2, desired: 5, up: { selectPolicy: 'Disabled' } }, 2, undefined],
    [
      'not below min',
      { ...base, current: 3, desired: 1, min: 2, down: { stabilizationWindowSeconds: 0 } },
      2,
      'TooFewReplicas',
    ],
  ];
  for (const [name, input, replicas, limited] of cases) {
    const r = nextReplicas(input);
    assert.equal(r.replicas, replicas, name);
    assert.equal(r.limited, limited, name);
  }
});
