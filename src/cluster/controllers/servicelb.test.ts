import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { parseLbRange, ServiceLbController } from './servicelb.js';
import { FakeClient, informers, quietLogger } from './testing.js';

const svc = (name: string, type: string, ip?: string): KObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: { type, ports: [{ port: 80 }] },
  status: ip ? { loadBalancer: { ingress: [{ ip }] } } : {},
});

test('--lb-range takes FIRST-LAST or a CIDR, and nothing else', () => {
  const cases: Array<[string, { first: number; last: number } | RegExp]> = [
    ['192.168.49.200-192.168.49.202', { first: 3232248264, last: 3232248266 }],
    ['192.168.49.252/30', { first: 3232248316, last: 3232248319 }],
    ['192.168.49.9-192.168.49.1', /FIRST-LAST/],
    ['192.168.49.1-', /FIRST-LAST/],
    ['nonsense', /FIRST-LAST/],
  ];
  for (const [text, want] of cases) {
    if (want instanceof RegExp) assert.throws(() => parseLbRange(text), want, text);
    else assert.deepEqual(parseLbRange(text), want, text);
  }
});

test('LoadBalancer Services get the lowest free address of the pool, keep theirs, and give it back', async () => {
  const cases: Array<{ name: string; services: KObject[]; sync: string; want: unknown[] }> = [
    {
      name: 'the first address',
      services: [svc('a', 'LoadBalancer')],
      sync: 'a',
      want: [{ ingress: [{ ip: '10.9.0.10', ipMode: 'VIP' }] }],
    },
    {
      name: 'addresses in use are skipped',
      services: [svc('a', 'LoadBalancer', '10.9.0.10'), svc('b', 'LoadBalancer')],
      sync: 'b',
      want: [{ ingress: [{ ip: '10.9.0.11', ipMode: 'VIP' }] }],
    },
    { name: 'an address is kept', services: [svc('a', 'LoadBalancer', '10.9.0.11')], sync: 'a', want: [] },
    {
      name: 'an address outside the pool is replaced',
      services: [svc('a', 'LoadBalancer', '172.16.0.1')],
      sync: 'a',
      want: [{ ingress: [{ ip: '10.9.0.10', ipMode: 'VIP' }] }],
    },
    {
      name: 'a ClusterIP Service gives its address back',
      services: [svc('a', 'ClusterIP', '10.9.0.10')],
      sync: 'a',
      want: [{}],
    },
    {
      name: 'a full pool leaves the Service pending',
      services: [
        svc('a', 'LoadBalancer', '10.9.0.10'),
        svc('b', 'LoadBalancer', '10.9.0.11'),
        svc('c', 'LoadBalancer'),
      ],
      sync: 'c',
      want: [],
    },
  ];
  for (const c of cases) {
    const client = new FakeClient().seed('/api/v1', 'services', ...c.services);
    const inf = await informers(client, '/api/v1/services');
    const controller = new ServiceLbController(
      client,
      inf.get('/api/v1/services'),
      parseLbRange('10.9.0.10-10.9.0.11'),
      quietLogger,
    );
    await controller.sync(`default/${c.sync}`);
    inf.stop();
    controller.queue.stop();
    assert.deepEqual(
      client.actions
        .filter((a) => a.verb === 'patch')
        .map((a) => (a.body as { status: { loadBalancer: unknown } }).status.loadBalancer),
      c.want,
      c.name,
    );
  }
});
