import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { NodeIpamController, parseClusterCidr } from './nodeipam.js';
import { FakeClient, informers, quietLogger } from './testing.js';

const node = (name: string, podCIDR?: string): KObject => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name },
  spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
});

test('--cluster-cidr is checked as kube-controller-manager checks it', () => {
  const cases: Array<[string, string | undefined]> = [
    ['10.42.0.0/16', undefined],
    ['10.42.0.0/24', undefined],
    ['10.42.0.0/25', 'the prefix must be between /8 and /24'],
    ['10.42.1.0/16', 'not a network address'],
    ['nonsense', 'give an IPv4 CIDR'],
  ];
  for (const [cidr, error] of cases) {
    if (error === undefined) assert.doesNotThrow(() => parseClusterCidr(cidr), cidr);
    else assert.throws(() => parseClusterCidr(cidr), new RegExp(error), cidr);
  }
});

test('node IPAM gives each node the lowest /24 no other node has, and never changes one', async () => {
  const cases: Array<{ name: string; nodes: KObject[]; sync: string[]; want: Array<[string, string]> }> = [
    { name: 'the first range', nodes: [node('a')], sync: ['a'], want: [['a', '10.42.0.0/24']] },
    {
      name: 'ranges in use are skipped',
      nodes: [node('a', '10.42.0.0/24'), node('b', '10.42.2.0/24'), node('c'), node('d')],
      sync: ['c', 'd'],
      want: [
        ['c', '10.42.1.0/24'],
        ['d', '10.42.3.0/24'],
      ],
    },
    { name: 'a node with a range keeps it', nodes: [node('a', '10.42.7.0/24')], sync: ['a'], want: [] },
    {
      name: 'synced again before its range comes back through the informer',
      nodes: [node('a')],
      sync: ['a', 'a'],
      want: [['a', '10.42.0.0/24']],
    },
  ];
  for (const c of cases) {
    const client = new FakeClient().seed('/api/v1', 'nodes', ...c.nodes);
    const inf = await informers(client, '/api/v1/nodes');
    const controller = new NodeIpamController(
      client,
      inf.get('/api/v1/nodes'),
      parseClusterCidr('10.42.0.0/16'),
      quietLogger,
    );
    for (const name of c.sync) await controller.sync(name);
    inf.stop();
    controller.queue.stop();
    assert.deepEqual(
      client.actions.map((a) => [a.path.split('/').at(-1), (a.body as { spec: { podCIDR: string } }).spec.podCIDR]),
      c.want,
      c.name,
    );
  }
});

test('node IPAM reports a full range instead of reusing one', async () => {
  const client = new FakeClient().seed('/api/v1', 'nodes', node('a', '10.42.0.0/24'), node('b'));
  const inf = await informers(client, '/api/v1/nodes');
  const controller = new NodeIpamController(
    client,
    inf.get('/api/v1/nodes'),
    parseClusterCidr('10.42.0.0/24'),
    quietLogger,
  );
  await controller.sync('b');
  inf.stop();
  controller.queue.stop();
  assert.deepEqual(client.actions, []);
});
