import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { EndpointsController } from './endpoints.js';
import { FakeClient, informers, quietLogger } from './testing.js';

const service = (targetPort: number | string): KObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'default', uid: 'svc-uid' },
  spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort }] },
});

const pod = (
  name: string,
  ip: string | undefined,
  o: { ready?: boolean; ns?: string; app?: string } = {},
): KObject => ({
  metadata: { name, namespace: o.ns ?? 'default', uid: `${name}-uid`, labels: { app: o.app ?? 'web' } },
  spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ name: 'web', containerPort: 8080 }] }] },
  status: {
    ...(ip ? { podIP: ip } : {}),
    conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
  },
});

type Subset = {
  addresses?: Array<{ ip: string }>;
  notReadyAddresses?: Array<{ ip: string }>;
  ports: Array<{ port: number }>;
};

test('the Endpoints controller writes the pods a Service selects, by readiness, with resolved ports', async () => {
  const cases: Array<{
    name: string;
    svc: KObject;
    pods: KObject[];
    want: Array<{ ready: string[]; notReady: string[]; port: number }>;
  }> = [
    {
      name: 'ready and not-ready pods, numeric port',
      svc: service(8080),
      pods: [pod('a', '10.0.0.1'), pod('b', '10.0.0.2', { ready: false })],
      want: [{ ready: ['10.0.0.1'], notReady: ['10.0.0.2'], port: 8080 }],
    },
    {
      name: 'a named port resolves per pod',
      svc: service('web'),
      pods: [pod('a', '10.0.0.1')],
      want: [{ ready: ['10.0.0.1'], notReady: [], port: 8080 }],
    },
    {
      name: 'pods without an IP, of other labels or other namespaces are left out',
      svc: service(8080),
      pods: [pod('a', undefined), pod('b', '10.0.0.2', { app: 'db' }), pod('c', '10.0.0.3', { ns: 'other' })],
      want: [],
    },
  ];
  for (const c of cases) {
    const client = new FakeClient().seed('/api/v1', 'services', c.svc).seed('/api/v1', 'pods', ...c.pods);
    const inf = await informers(client, '/api/v1/services', '/api/v1/pods', '/api/v1/nodes');
    const controller = new EndpointsController(
      client,
      inf.get('/api/v1/services'),
      inf.get('/api/v1/pods'),
      inf.get('/api/v1/nodes'),
      quietLogger,
    );
    await controller.sync('default/web');
    inf.stop();
    const written = client.get('/api/v1/namespaces/default/endpoints/web');
    assert.ok(written, `${c.name}: Endpoints written`);
    assert.ok(
      client.get('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web'),
      `${c.name}: slice written`,
    );
    assert.deepEqual(
      ((written.subsets as Subset[] | undefined) ?? []).map((s) => ({
        ready: (s.addresses ?? []).map((a) => a.ip),
        notReady: (s.notReadyAddresses ?? []).map((a) => a.ip),
        port: s.ports[0]!.port,
      })),
      c.want,
      c.name,
    );
  }
});
