import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { SchedulerCache } from './cache.js';
import { podInfo } from './framework.js';
import { DEFAULT_FILTERS, DEFAULT_SCORES, tolerates } from './plugins.js';
import { SchedulingQueue } from './queue.js';
import { findPreemption, type DisruptionBudget } from './preemption.js';
import { decide, feasibleNodesToFind, unschedulableMessage } from './scheduler.js';

const node = (
  name: string,
  o: { labels?: Record<string, string>; cpu?: string; ready?: boolean; spec?: Record<string, unknown> } = {},
): KObject => ({
  metadata: { name, labels: o.labels ?? {} },
  spec: o.spec ?? {},
  status: {
    allocatable: { cpu: o.cpu ?? '2', memory: '4Gi', pods: '10' },
    conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
  },
});

const pod = (name: string, spec: Record<string, unknown> = {}, cpu = '500m'): KObject => ({
  metadata: { name, namespace: 'default' },
  spec: { containers: [{ name: 'c', resources: { requests: { cpu, memory: '100Mi' } } }], ...spec },
});

function cacheOf(nodes: KObject[]): SchedulerCache {
  const c = new SchedulerCache();
  for (const n of nodes) c.setNode(n);
  return c;
}

test('filters: each default plugin refuses what kube-scheduler refuses', () => {
  const cases: Array<{ name: string; nodes: KObject[]; pod: KObject; want?: string; reason?: string }> = [
    { name: 'a ready node fits', nodes: [node('a')], pod: pod('p'), want: 'a' },
    {
      name: 'not ready',
      nodes: [node('a', { ready: false })],
      pod: pod('p'),
      reason: "1 node(s) didn't have a Ready condition",
    },
    {
      name: 'cordoned',
      nodes: [node('a', { spec: { unschedulable: true } })],
      pod: pod('p'),
      reason: '1 node(s) were unschedulable',
    },
    {
      name: 'cordoned but tolerated',
      nodes: [node('a', { spec: { unschedulable: true } })],
      pod: pod('p', {
        tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }],
      }),
      want: 'a',
    },
    {
      name: 'nodeSelector picks the labelled node',
      nodes: [node('a'), node('b', { labels: { disk: 'ssd' } })],
      pod: pod('p', { nodeSelector: { disk: 'ssd' } }),
      want: 'b',
    },
    {
      name: 'required affinity In / NotIn',
      nodes: [node('a', { labels: { zone: 'z1' } }), node('b', { labels: { zone: 'z2' } })],
      pod: pod('p', {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['z1'] }] }],
            },
          },
        },
      }),
      want: 'b',
    },
    {
      name: 'untolerated NoSchedule taint',
      nodes: [node('a', { spec: { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] } })],
      pod: pod('p'),
      reason: '1 node(s) had untolerated taint {dedicated: gpu}',
    },
    { name: 'too little cpu', nodes: [node('a', { cpu: '100m' })], pod: pod('p'), reason: '1 Insufficient cpu' },
    {
      name: 'the emptier node scores higher',
      nodes: [node('a', { cpu: '1' }), node('b', { cpu: '4' })],
      pod: pod('p'),
      want: 'b',
    },
  ];
  for (const c of cases) {
    const cache = cacheOf(c.nodes);
    const d = decide(podInfo('default/p', c.pod), cache.nodeList(), 0, DEFAULT_FILTERS, DEFAULT_SCORES);
    assert.equal(d.node?.name, c.want, c.name);
    if (c.reason)
      assert.equal(unschedulableMessage(c.nodes.length, d.reasons), `0/1 nodes are available: ${c.reason}.`, c.name);
  }
});

test('tolerations match as Kubernetes ToleratesTaint', () => {
  const taint = { key: 'k', value: 'v', effect: 'NoSchedule' };
  const cases: Array<[object, boolean]> = [
    [{ key: 'k', operator: 'Equal', value: 'v' }, true],
    [{ key: 'k', value: 'v', effect: 'NoSchedule' }, true],
    [{ key: 'k', value: 'other' }, false],
    [{ key: 'k', operator: 'Exists' }, true],
    [{ operator: 'Exists' }, true],
    [{ key: 'k', operator: 'Exists', effect: 'NoExecute' }, false],
  ];
  for (const [t, want] of cases) assert.equal(tolerates(t, taint), want, JSON.stringify(t));
});

test('assumed pods count until confirmed, and are dropped when their binding fails or lapses', () => {
  let now = 0;
  const cache = new SchedulerCache(() => now);
  cache.setNode(node('a', { cpu: '1' }));
  const p = pod('p', {}, '600m');
  cache.assume('default/p', p, 'a');
  assert.equal(cache.node('a')!.requested.cpu, 600);
  // A second pod of the same size no longer fits while the first is in flight.
  const d = decide(podInfo('default/q', pod('q', {}, '600m')), cache.nodeList(), 0, DEFAULT_FILTERS, DEFAULT_SCORES);
  assert.equal(d.node, undefined);
  cache.forget('default/p');
  assert.equal(cache.node('a')!.requested.cpu, 0);
  cache.assume('default/p', p, 'a');
  cache.finishBinding('default/p');
  now += 60_000;
  cache.expire();
  assert.equal(cache.node('a')!.requested.cpu, 0, 'never confirmed: expired');
  cache.assume('default/p', p, 'a');
  cache.finishBinding('default/p');
  cache.setPod('default/p', { ...p, spec: { ...p.spec, nodeName: 'a' } });
  now += 60_000;
  cache.expire();
  assert.equal(cache.node('a')!.requested.cpu, 600, 'confirmed by the informer: kept');
  cache.removePod('default/p');
  assert.equal(cache.node('a')!.requested.cpu, 0);
});

test('the queue: priority then age, backoff, unschedulable until the cluster changes', async () => {
  const q = new SchedulingQueue();
  q.add('low', 0);
  q.add('high', 10);
  q.add('low2', 0);
  assert.deepEqual([await q.pop(), await q.pop(), await q.pop()], ['high', 'low', 'low2']);
  q.markUnschedulable('low');
  q.add('low', 0);
  assert.equal(q.sizes().active, 0, 'an unschedulable pod waits');
  q.moveAllToActive();
  assert.equal(await q.pop(), 'low');
  q.retryLater('low2');
  assert.deepEqual(q.sizes(), { active: 0, backoff: 1, unschedulable: 0 });
  const next = await q.pop();
  assert.equal(next, 'low2', 'back after its backoff');
  q.stop();
  assert.equal(await q.pop(), undefined);
});

test('large clusters search a share of their nodes, as percentageOfNodesToScore', () => {
  assert.equal(feasibleNodesToFind(50), 50);
  assert.equal(feasibleNodesToFind(100), 100);
  assert.equal(feasibleNodesToFind(1000), 420);
  assert.equal(feasibleNodesToFind(5000), 500);
});

test("a controller's pods go to the nodes with fewest of them when requests do not tell the nodes apart", () => {
  const cache = cacheOf([node('a'), node('b'), node('c')]);
  const owned = (name: string, uid: string): KObject => ({
    ...pod(name, {}, '100m'),
    metadata: {
      name,
      namespace: 'default',
      ownerReferences: [{ uid, controller: true, kind: 'ReplicaSet', name: uid, apiVersion: 'apps/v1' }],
    },
  });
  // Two pods of one ReplicaSet on each node: equal requests everywhere.
  for (const [n, rs] of [
    ['a', 'rs-x'],
    ['b', 'rs-y'],
    ['c', 'rs-z'],
  ] as const)
    for (const i of [1, 2]) cache.assume(`default/${rs}-${i}`, owned(`${rs}-${i}`, rs), n);
  const placed = (p: KObject): string | undefined =>
    decide(podInfo(`default/${p.metadata!.name}`, p), cache.nodeList(), 0, DEFAULT_FILTERS, DEFAULT_SCORES).node?.name;
  assert.equal(placed(owned('x3', 'rs-x')), 'b', 'x avoids a, the first tie wins');
  assert.equal(placed(owned('y3', 'rs-y')), 'a', 'y avoids b');
  assert.equal(placed(owned('z3', 'rs-z')), 'a', 'z avoids c');
  assert.equal(placed(pod('loose')), 'a', 'a pod of no controller: resources only, first tie wins');
});

test('the scheduler cache sees a node updated in place (labels added later)', () => {
  const cache = new SchedulerCache();
  const node = (labels: Record<string, string>): KObject => ({
    metadata: { name: 'n1', labels },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  cache.setNode(node({}));
  assert.deepEqual(cache.nodeList()[0]!.labels, {});
  cache.setNode(node({ role: 'edge' }));
  assert.deepEqual(cache.nodeList()[0]!.labels, { role: 'edge' });
});

test('inter-pod affinity and anti-affinity, preferred node affinity and PreferNoSchedule taints', () => {
  const zone = (name: string, z: string, o: { taints?: unknown[] } = {}): KObject =>
    node(name, { labels: { 'kubernetes.io/hostname': name, zone: z }, spec: o.taints ? { taints: o.taints } : {} });
  const labelled = (name: string, labels: Record<string, string>, spec: Record<string, unknown> = {}): KObject => ({
    ...pod(name, spec, '10m'),
    metadata: { name, namespace: 'default', labels },
  });
  const inNamespace = (namespace: string, p: KObject): KObject => ({ ...p, metadata: { ...p.metadata, namespace } });
  const term = (app: string, topologyKey = 'zone'): Record<string, unknown> => ({
    labelSelector: { matchLabels: { app } },
    topologyKey,
  });
  const webFollowingDbOfTeamA = labelled(
    'web',
    { app: 'web' },
    {
      affinity: {
        podAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { ...term('db'), namespaceSelector: { matchLabels: { team: 'a' } } },
          ],
        },
      },
    },
  );
  const cases: Array<{
    name: string;
    nodes: KObject[];
    placed: Array<[KObject, string]>;
    pod: KObject;
    want?: string;
    reason?: string;
  }> = [
    {
      name: 'affinity: into the zone of the pod it follows',
      nodes: [zone('a', 'z1'), zone('b', 'z2')],
      placed: [[labelled('db', { app: 'db' }), 'b']],
      pod: labelled(
        'web',
        { app: 'web' },
        { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('db')] } } },
      ),
      want: 'b',
    },
    {
      name: 'affinity with nothing to follow',
      nodes: [zone('a', 'z1')],
      placed: [],
      pod: labelled(
        'web',
        { app: 'web' },
        { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('db')] } } },
      ),
      reason: "1 node(s) didn't match pod affinity rules",
    },
    {
      name: 'the first pod of a group that selects itself',
      nodes: [zone('a', 'z1')],
      placed: [],
      pod: labelled(
        'c-0',
        { app: 'cache' },
        { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('cache')] } } },
      ),
      want: 'a',
    },
    {
      name: 'anti-affinity: one per host',
      nodes: [zone('a', 'z1'), zone('b', 'z1')],
      placed: [[labelled('c-0', { app: 'cache' }), 'a']],
      pod: labelled(
        'c-1',
        { app: 'cache' },
        {
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [term('cache', 'kubernetes.io/hostname')],
            },
          },
        },
      ),
      want: 'b',
    },
    {
      name: "an existing pod's anti-affinity keeps others out",
      nodes: [zone('a', 'z1')],
      placed: [
        [
          labelled(
            'lonely',
            { app: 'lonely' },
            {
              affinity: {
                podAntiAffinity: {
                  requiredDuringSchedulingIgnoredDuringExecution: [term('web', 'kubernetes.io/hostname')],
                },
              },
            },
          ),
          'a',
        ],
      ],
      pod: labelled('web', { app: 'web' }),
      reason: "1 node(s) didn't satisfy existing pods anti-affinity rules",
    },
    {
      name: 'preferred node affinity',
      nodes: [zone('a', 'z1'), zone('b', 'z2')],
      placed: [],
      pod: labelled(
        'p',
        {},
        {
          affinity: {
            nodeAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                { weight: 50, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z2'] }] } },
              ],
            },
          },
        },
      ),
      want: 'b',
    },
    {
      name: 'preferred pod affinity',
      nodes: [zone('a', 'z1'), zone('b', 'z2')],
      placed: [[labelled('db', { app: 'db' }), 'b']],
      pod: labelled(
        'web',
        {},
        {
          affinity: {
            podAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term('db') }],
            },
          },
        },
      ),
      want: 'b',
    },
    {
      name: "affinity: a namespaceSelector picks the followed pod's namespace by its labels",
      nodes: [zone('a', 'z1'), zone('b', 'z2')],
      placed: [[inNamespace('team-a', labelled('db', { app: 'db' })), 'b']],
      pod: webFollowingDbOfTeamA,
      want: 'b',
    },
    {
      name: 'affinity: a namespaceSelector not picking the namespace the pod is in',
      nodes: [zone('a', 'z1'), zone('b', 'z2')],
      placed: [[inNamespace('team-b', labelled('db', { app: 'db' })), 'b']],
      pod: webFollowingDbOfTeamA,
      reason: "2 node(s) didn't match pod affinity rules",
    },
    {
      name: 'anti-affinity: an empty namespaceSelector is every namespace',
      nodes: [zone('a', 'z1'), zone('b', 'z2')],
      placed: [[inNamespace('team-b', labelled('c-0', { app: 'cache' })), 'a']],
      pod: labelled(
        'c-1',
        { app: 'cache' },
        {
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [{ ...term('cache'), namespaceSelector: {} }],
            },
          },
        },
      ),
      want: 'b',
    },
    {
      name: 'a PreferNoSchedule taint is avoided',
      nodes: [zone('a', 'z1', { taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] }), zone('b', 'z1')],
      placed: [],
      pod: labelled('p', {}),
      want: 'b',
    },
  ];
  const namespaceLabels: Record<string, Record<string, string>> = { 'team-a': { team: 'a' }, 'team-b': { team: 'b' } };
  for (const c of cases) {
    const cache = cacheOf(c.nodes);
    for (const [p, on] of c.placed)
      cache.setPod(`${p.metadata!.namespace}/${p.metadata!.name}`, { ...p, spec: { ...p.spec, nodeName: on } });
    const d = decide(
      podInfo(`default/${c.pod.metadata!.name}`, c.pod, (ns) => namespaceLabels[ns]),
      cache.nodeList(),
      0,
      DEFAULT_FILTERS,
      DEFAULT_SCORES,
    );
    if (c.want) assert.equal(d.node?.name, c.want, c.name);
    else
      assert.equal(
        unschedulableMessage(c.nodes.length, d.reasons),
        `0/${c.nodes.length} nodes are available: ${c.reason}.`,
        c.name,
      );
  }
});

test('preemption: the fewest, lowest-priority victims on the best node, sparing disruption budgets', () => {
  const prio = (name: string, priority: number, cpu: string, spec: Record<string, unknown> = {}): KObject => ({
    ...pod(name, { priority, ...spec }, cpu),
  });
  const labelled = (p: KObject, app: string): KObject => ({ ...p, metadata: { ...p.metadata, labels: { app } } });
  const dbBudget = (disruptionsAllowed: number): DisruptionBudget => ({
    namespace: 'default',
    selector: { matchLabels: { app: 'db' } },
    disruptionsAllowed,
  });
  const cases: Array<{
    name: string;
    nodes: KObject[];
    placed: Array<[KObject, string]>;
    pod: KObject;
    want?: [string, string[]];
    budgets?: DisruptionBudget[];
  }> = [
    {
      name: 'evicts the low-priority pod that frees enough',
      nodes: [node('a', { cpu: '1' })],
      placed: [[prio('low', 0, '600m'), 'a']],
      pod: prio('high', 1000, '600m'),
      want: ['a', ['default/low']],
    },
    {
      name: 'only as many as needed, lowest priority first, then spared',
      nodes: [node('a', { cpu: '1' })],
      placed: [
        [prio('p1', 1, '300m'), 'a'],
        [prio('p5', 5, '300m'), 'a'],
        [prio('p3', 3, '300m'), 'a'],
      ],
      pod: prio('high', 1000, '500m'),
      want: ['a', ['default/p1', 'default/p3']],
    },
    {
      name: 'never pods of equal or higher priority',
      nodes: [node('a', { cpu: '1' })],
      placed: [[prio('same', 1000, '900m'), 'a']],
      pod: prio('high', 1000, '500m'),
    },
    {
      name: 'the node whose victims matter least',
      nodes: [node('a', { cpu: '1' }), node('b', { cpu: '1' })],
      placed: [
        [prio('mid', 500, '900m'), 'a'],
        [prio('low', 10, '900m'), 'b'],
      ],
      pod: prio('high', 1000, '500m'),
      want: ['b', ['default/low']],
    },
    {
      name: 'not where another filter refuses anyway',
      nodes: [node('a', { cpu: '1', spec: { taints: [{ key: 'x', effect: 'NoSchedule' }] } })],
      placed: [[prio('low', 0, '900m'), 'a']],
      pod: prio('high', 1000, '500m'),
    },
    {
      name: 'spares a pod its disruption budget protects when another will do',
      nodes: [node('a', { cpu: '1' })],
      placed: [
        [labelled(prio('guarded', 1, '500m'), 'db'), 'a'],
        [labelled(prio('free', 5, '500m'), 'web'), 'a'],
      ],
      pod: prio('high', 1000, '500m'),
      budgets: [dbBudget(0)],
      want: ['a', ['default/free']],
    },
    {
      name: 'a budget that allows a disruption is not broken by it',
      nodes: [node('a', { cpu: '1' })],
      placed: [
        [labelled(prio('guarded', 1, '500m'), 'db'), 'a'],
        [labelled(prio('free', 5, '500m'), 'web'), 'a'],
      ],
      pod: prio('high', 1000, '500m'),
      budgets: [dbBudget(1)],
      want: ['a', ['default/guarded']],
    },
    {
      name: 'the node breaking fewer budgets wins over lower-priority victims',
      nodes: [node('a', { cpu: '1' }), node('b', { cpu: '1' })],
      placed: [
        [labelled(prio('guarded', 1, '900m'), 'db'), 'a'],
        [labelled(prio('mid', 100, '900m'), 'web'), 'b'],
      ],
      pod: prio('high', 1000, '500m'),
      budgets: [dbBudget(0), { namespace: 'other', selector: { matchLabels: { app: 'web' } }, disruptionsAllowed: 0 }],
      want: ['b', ['default/mid']],
    },
    {
      name: 'preemptionPolicy Never',
      nodes: [node('a', { cpu: '1' })],
      placed: [[prio('low', 0, '900m'), 'a']],
      pod: prio('high', 1000, '500m', { preemptionPolicy: 'Never' }),
    },
  ];
  for (const c of cases) {
    const cache = cacheOf(c.nodes);
    for (const [p, on] of c.placed)
      cache.setPod(`default/${p.metadata!.name}`, { ...p, spec: { ...p.spec, nodeName: on } });
    const info = podInfo('default/high', c.pod);
    assert.equal(decide(info, cache.nodeList(), 0, DEFAULT_FILTERS, DEFAULT_SCORES).node, undefined, c.name);
    const found = findPreemption(info, cache.nodeList(), DEFAULT_FILTERS, c.budgets);
    assert.deepEqual(found && [found.node.name, found.victims.sort()], c.want, c.name);
  }
});

test('topology spread constraints: DoNotSchedule filters by skew, ScheduleAnyway prefers the emptier domain', () => {
  const zoned = (name: string, z: string): KObject => node(name, { labels: { zone: z } });
  const web = (name: string, constraint?: Record<string, unknown>): KObject => ({
    ...pod(name, constraint ? { topologySpreadConstraints: [constraint] } : {}, '10m'),
    metadata: { name, namespace: 'default', labels: { app: 'web' } },
  });
  const spread = (when: string, maxSkew = 1): Record<string, unknown> => ({
    maxSkew,
    topologyKey: 'zone',
    whenUnsatisfiable: when,
    labelSelector: { matchLabels: { app: 'web' } },
  });
  const cases: Array<{
    name: string;
    nodes: KObject[];
    placed: Array<[string, string]>;
    pod: KObject;
    want?: string;
    reason?: string;
  }> = [
    {
      name: 'the zone with fewer goes first',
      nodes: [zoned('a', 'z1'), zoned('b', 'z2')],
      placed: [['w1', 'a']],
      pod: web('w2', spread('DoNotSchedule')),
      want: 'b',
    },
    {
      name: 'skew too large everywhere but one',
      nodes: [zoned('a', 'z1'), zoned('b', 'z2')],
      placed: [
        ['w1', 'a'],
        ['w2', 'a'],
        ['w3', 'b'],
      ],
      pod: web('w4', spread('DoNotSchedule')),
      want: 'b',
    },
    {
      name: 'a node without the topology label',
      nodes: [node('a')],
      placed: [],
      pod: web('w1', spread('DoNotSchedule')),
      reason: "1 node(s) didn't match pod topology spread constraints (missing required label)",
    },
    {
      name: 'ScheduleAnyway scores the emptier zone',
      nodes: [zoned('a', 'z1'), zoned('b', 'z2')],
      placed: [
        ['w1', 'a'],
        ['w2', 'a'],
      ],
      pod: web('w3', spread('ScheduleAnyway')),
      want: 'b',
    },
  ];
  for (const c of cases) {
    const cache = cacheOf(c.nodes);
    for (const [name, on] of c.placed) {
      const p = web(name);
      cache.setPod(`default/${name}`, { ...p, spec: { ...p.spec, nodeName: on } });
    }
    const d = decide(
      podInfo(`default/${c.pod.metadata!.name}`, c.pod),
      cache.nodeList(),
      0,
      DEFAULT_FILTERS,
      DEFAULT_SCORES,
    );
    if (c.want) assert.equal(d.node?.name, c.want, c.name);
    else
      assert.equal(
        unschedulableMessage(c.nodes.length, d.reasons),
        `0/${c.nodes.length} nodes are available: ${c.reason}.`,
        c.name,
      );
  }
});

test('plugins that answer SKIP change no decision: the same nodes win as when every plugin is asked', () => {
  // Each plugin's prepare still runs (its cycle state is needed), but its SKIP is ignored.
  const askAlways = <T extends { prepare?: (...a: never[]) => unknown }>(plugins: T[]): T[] =>
    plugins.map((p) =>
      p.prepare
        ? { ...p, prepare: (...a: Parameters<NonNullable<T['prepare']>>) => void p.prepare!(...(a as never[])) }
        : p,
    );
  const taints = [
    [],
    [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }],
    [{ key: 'soft', effect: 'PreferNoSchedule' }],
  ];
  const nodes = Array.from({ length: 12 }, (_x, i) =>
    node(`n${i}`, {
      labels: { zone: `z${i % 3}`, 'kubernetes.io/hostname': `n${i}`, ...(i % 4 === 0 ? { disk: 'ssd' } : {}) },
      cpu: i % 5 === 0 ? '1' : '4',
      spec: { taints: taints[i % 3] },
    }),
  );
  const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'rs-1', controller: true };
  const shapes: Array<Record<string, unknown>> = [
    {},
    { nodeSelector: { disk: 'ssd' } },
    { tolerations: [{ key: 'dedicated', operator: 'Exists' }] },
    {
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 10, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1'] }] } },
          ],
        },
      },
    },
    {
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: 'zone',
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: { matchLabels: { app: 'a' } },
        },
      ],
    },
    {
      affinity: {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 50,
              podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'a' } } },
            },
          ],
        },
      },
    },
  ];
  const skipping = cacheOf(nodes);
  const asking = cacheOf(nodes);
  const [filters, scores] = [askAlways(DEFAULT_FILTERS), askAlways(DEFAULT_SCORES)];
  for (let i = 0; i < 40; i++) {
    const p = pod(`p${i}`, shapes[i % shapes.length], i % 2 ? '250m' : '500m');
    p.metadata!.labels = { app: 'a' };
    if (i % 3 === 0) p.metadata!.ownerReferences = [owner];
    const key = `default/p${i}`;
    const a = decide(podInfo(key, p), skipping.nodeList(), i, DEFAULT_FILTERS, DEFAULT_SCORES);
    const b = decide(podInfo(key, p), asking.nodeList(), i, filters, scores);
    assert.equal(a.node?.name, b.node?.name, `pod ${i}`);
    assert.deepEqual(a.reasons, b.reasons, `pod ${i}`);
    if (a.node) {
      skipping.assume(key, p, a.node.name);
      asking.assume(key, p, a.node.name);
    }
  }
});
