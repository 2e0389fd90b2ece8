import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../../objects.js';
import { targetsText } from './hpa.js';

test("kubectl's TARGETS for every metric type, the i-th status answering the i-th metric", () => {
  const hpa = (metrics: unknown[], currentMetrics: unknown[] = []): KObject => ({
    metadata: { name: 'web' },
    spec: { metrics },
    status: { currentMetrics },
  });
  const cpu = { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } };
  const app = {
    type: 'ContainerResource',
    containerResource: { name: 'cpu', container: 'app', target: { type: 'AverageValue', averageValue: '200m' } },
  };
  const pods = {
    type: 'Pods',
    pods: { metric: { name: 'pps' }, target: { type: 'AverageValue', averageValue: '1k' } },
  };
  const object = { type: 'Object', object: { metric: { name: 'rps' }, target: { type: 'Value', value: '10k' } } };
  const external = {
    type: 'External',
    external: { metric: { name: 'queue' }, target: { type: 'AverageValue', averageValue: '30' } },
  };
  const cases: Array<[string, KObject, string]> = [
    ['not measured yet', hpa([cpu]), 'cpu: <unknown>/50%'],
    [
      'measured',
      hpa(
        [cpu, app],
        [
          { type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 45, averageValue: '45m' } } },
          {
            type: 'ContainerResource',
            containerResource: { name: 'cpu', container: 'app', current: { averageValue: '120m' } },
          },
        ],
      ),
      'cpu: 45%/50%, cpu: 120m/200m',
    ],
    [
      'custom and external metrics unavailable',
      hpa([pods, object], [{ type: '' }, { type: '' }]),
      '<unknown>/1k, <unknown>/10k',
    ],
    ['an external average', hpa([external]), '<unknown>/30 (avg)'],
    ['more than two', hpa([cpu, pods, object, external]), 'cpu: <unknown>/50%, <unknown>/1k + 2 more...'],
  ];
  for (const [name, o, want] of cases) assert.equal(targetsText(o), want, name);
});
