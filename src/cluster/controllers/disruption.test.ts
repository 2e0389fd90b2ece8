import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { labelSelectorMatches } from '../api/selector.js';
import { budgetStatus } from './disruption.js';

const pod = (ready: boolean, deleting = false): KObject => ({
  metadata: { name: 'p', ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

test('a budget allows what its Ready pods have above what must stay', () => {
  const three = [pod(true), pod(true), pod(true)];
  const cases: Array<[string, object, KObject[], Record<string, number>]> = [
    [
      'minAvailable 2 of 3',
      { minAvailable: 2 },
      three,
      { expectedPods: 3, currentHealthy: 3, desiredHealthy: 2, disruptionsAllowed: 1 },
    ],
    [
      'minAvailable 3 of 3',
      { minAvailable: 3 },
      three,
      { expectedPods: 3, currentHealthy: 3, desiredHealthy: 3, disruptionsAllowed: 0 },
    ],
    [
      'maxUnavailable 1',
      { maxUnavailable: 1 },
      three,
      { expectedPods: 3, currentHealthy: 3, desiredHealthy: 2, disruptionsAllowed: 1 },
    ],
    [
      'minAvailable 50% rounds up',
      { minAvailable: '50%' },
      three,
      { expectedPods: 3, currentHealthy: 3, desiredHealthy: 2, disruptionsAllowed: 1 },
    ],
    [
      'a pod not Ready is not healthy; one being deleted is not expected',
      { minAvailable: 1 },
      [pod(true), pod(false), pod(true, true)],
      { expectedPods: 2, currentHealthy: 1, desiredHealthy: 1, disruptionsAllowed: 0 },
    ],
  ];
  for (const [name, spec, pods, want] of cases) assert.deepEqual(budgetStatus(spec, pods), want, name);
});

test('label selectors: matchLabels and every matchExpressions operator', () => {
  const labels = { app: 'web', tier: 'front' };
  const cases: Array<[object | undefined, boolean]> = [
    [undefined, false],
    [{}, true],
    [{ matchLabels: { app: 'web' } }, true],
    [{ matchLabels: { app: 'db' } }, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, false],
    [{ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'Bogus' }] }, false],
  ];
  for (const [selector, want] of cases)
    assert.equal(labelSelectorMatches(selector as never, labels), want, JSON.stringify(selector));
});
