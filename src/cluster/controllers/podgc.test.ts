import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { PodGarbageCollector } from './podgc.js';
import { FakeClient, informers, quietLogger } from './testing.js';

const PODS = '/api/v1/namespaces/default/pods';
const node = (name: string): KObject => ({ metadata: { name } });
const pod = (
  name: string,
  o: { node?: string; deleting?: boolean; phase?: string; created?: string } = {},
): KObject => ({
  metadata: {
    name,
    namespace: 'default',
    creationTimestamp: o.created ?? '2026-01-01T00:00:00Z',
    ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
  },
  spec: o.node ? { nodeName: o.node } : {},
  status: { phase: o.phase ?? 'Running' },
});

test('the pod garbage collector force-deletes pods no agent will finish', async () => {
  const cases: Array<{ name: string; nodes: KObject[]; pods: KObject[]; threshold?: number; want: string[] }> = [
    { name: 'a pod on a live node stays', nodes: [node('n1')], pods: [pod('a', { node: 'n1' })], want: [] },
    { name: 'a pod on a node that is gone', nodes: [], pods: [pod('a', { node: 'gone' })], want: ['a'] },
    { name: 'never scheduled and being deleted', nodes: [], pods: [pod('a', { deleting: true })], want: ['a'] },
    { name: 'never scheduled, not being deleted', nodes: [], pods: [pod('a')], want: [] },
    {
      name: 'finished pods beyond the threshold, oldest first',
      nodes: [node('n1')],
      threshold: 1,
      pods: [
        pod('old', { node: 'n1', phase: 'Succeeded', created: '2026-01-01T00:00:00Z' }),
        pod('new', { node: 'n1', phase: 'Failed', created: '2026-01-02T00:00:00Z' }),
        pod('running', { node: 'n1' }),
      ],
      want: ['old'],
    },
  ];
  for (const c of cases) {
    const client = new FakeClient().seed('/api/v1', 'nodes', ...c.nodes).seed('/api/v1', 'pods', ...c.pods);
    const inf = await informers(client, '/api/v1/pods', '/api/v1/nodes');
    const gc = new PodGarbageCollector(
      client,
      inf.get('/api/v1/pods'),
      inf.get('/api/v1/nodes'),
      quietLogger,
      c.threshold,
    );
    // The first look starts the quarantine of a missing node; the second, 41 s later, collects.
    await gc.sync(0);
    assert.deepEqual(
      client.verbs().filter((v) => v.includes('/gone')),
      [],
      `${c.name}: not before the quarantine`,
    );
    await gc.sync(41_000);
    inf.stop();
    gc.queue.stop();
    const deleted = [
      ...new Set(client.actions.filter((a) => a.verb === 'delete').map((a) => a.path.slice(PODS.length + 1))),
    ];
    assert.deepEqual(deleted.sort(), c.want, c.name);
    for (const a of client.actions.filter((x) => x.verb === 'delete'))
      assert.equal((a.body as { gracePeriodSeconds?: number }).gracePeriodSeconds, 0, c.name);
  }
});
