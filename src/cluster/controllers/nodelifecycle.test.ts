import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { evictionTime, lastHeard, NOT_READY_TAINT, UNREACHABLE_TAINT, wantedTaints } from './nodelifecycle.js';

test('the lifecycle taints follow the Ready condition', () => {
  const cases: Array<[string | undefined, string[]]> = [
    ['True', []],
    ['False', [NOT_READY_TAINT]],
    ['Unknown', [UNREACHABLE_TAINT]],
    [undefined, []],
  ];
  for (const [ready, want] of cases) assert.deepEqual(wantedTaints(ready), want, String(ready));
});

test('a node was last heard from at its latest lease renewal, heartbeat or creation', () => {
  const node = (created: string, beat?: string): KObject => ({
    metadata: { name: 'n', creationTimestamp: created },
    status: beat ? { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: beat }] } : {},
  });
  const lease = (renew: string): KObject => ({ spec: { renewTime: renew } });
  const cases: Array<[string, KObject, KObject | undefined, string]> = [
    ['never reported: its creation', node('2026-01-01T00:00:00Z'), undefined, '2026-01-01T00:00:00Z'],
    ['the heartbeat', node('2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z'), undefined, '2026-01-01T00:01:00Z'],
    [
      'the lease, with microseconds',
      node('2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z'),
      lease('2026-01-01T00:02:00.500000Z'),
      '2026-01-01T00:02:00.500Z',
    ],
  ];
  for (const [name, n, l, want] of cases) assert.equal(lastHeard(n, l), Date.parse(want), name);
});

test('the taint manager: a pod goes now, when its toleration runs out, or never', () => {
  const now = Date.parse('2026-01-01T00:00:10Z');
  const taint = { key: UNREACHABLE_TAINT, effect: 'NoExecute', timeAdded: '2026-01-01T00:00:00Z' };
  const cases: Array<[string, object[], object[], number | undefined]> = [
    ['no toleration: now', [], [taint], 0],
    [
      'tolerates for 300 s: 300 s after the taint',
      [{ key: UNREACHABLE_TAINT, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      [taint],
      Date.parse('2026-01-01T00:05:00Z'),
    ],
    ['tolerates forever: never', [{ operator: 'Exists' }], [taint], undefined],
    ['NoSchedule taints do not evict', [], [{ key: 'x', effect: 'NoSchedule' }], undefined],
    [
      'the first taint to run out decides',
      [
        { key: UNREACHABLE_TAINT, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: NOT_READY_TAINT, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 },
      ],
      [taint, { ...taint, key: NOT_READY_TAINT }],
      Date.parse('2026-01-01T00:00:05Z'),
    ],
  ];
  for (const [name, tolerations, taints, want] of cases)
    assert.equal(evictionTime(tolerations as never, taints as never, now), want, name);
});
