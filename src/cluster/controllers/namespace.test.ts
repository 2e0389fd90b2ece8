import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { NamespaceController } from './namespace.js';
import { ServiceAccountController } from './serviceaccount.js';
import { FakeClient, informers, quietLogger } from './testing.js';

const ns = (name: string, deleting = false): KObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
  spec: { finalizers: ['kubernetes'] },
  status: { phase: deleting ? 'Terminating' : 'Active' },
});

function fake(): FakeClient {
  const c = new FakeClient();
  c.discovery.set('/apis', { groups: [{ name: 'apps', preferredVersion: { groupVersion: 'apps/v1' } }] });
  const all = ['create', 'delete', 'deletecollection', 'get', 'list', 'watch'];
  c.discovery.set('/api/v1', {
    resources: [
      { name: 'namespaces', kind: 'Namespace', namespaced: false, verbs: all },
      { name: 'configmaps', kind: 'ConfigMap', namespaced: true, verbs: all },
      { name: 'pods', kind: 'Pod', namespaced: true, verbs: all },
      { name: 'pods/status', kind: 'Pod', namespaced: true, verbs: ['get', 'update'] },
    ],
  });
  c.discovery.set('/apis/apps/v1', {
    resources: [{ name: 'deployments', kind: 'Deployment', namespaced: true, verbs: all }],
  });
  return c;
}

test('the namespace controller empties a Terminating namespace, then clears its finalizer', async () => {
  const cases: Array<{ name: string; namespace: KObject; contents: Array<[string, string, KObject]>; want: string[] }> =
    [
      {
        name: 'an active namespace is left alone',
        namespace: ns('live'),
        contents: [['/api/v1', 'configmaps', { metadata: { name: 'c', namespace: 'live' } }]],
        want: [],
      },
      {
        name: 'contents deleted resource by resource, then finalize',
        namespace: ns('doomed', true),
        contents: [
          ['/api/v1', 'configmaps', { metadata: { name: 'c', namespace: 'doomed' } }],
          ['/apis/apps/v1', 'deployments', { metadata: { name: 'd', namespace: 'doomed' } }],
          ['/api/v1', 'configmaps', { metadata: { name: 'elsewhere', namespace: 'other' } }],
        ],
        want: [
          'deletecollection /api/v1/namespaces/doomed/configmaps',
          'deletecollection /apis/apps/v1/namespaces/doomed/deployments',
          'update /api/v1/namespaces/doomed/finalize',
        ],
      },
      {
        name: 'an empty Terminating namespace is finalized at once',
        namespace: ns('empty', true),
        contents: [],
        want: ['update /api/v1/namespaces/empty/finalize'],
      },
    ];
  for (const c of cases) {
    const client = fake().seed('/api/v1', 'namespaces', c.namespace);
    for (const [base, plural, o] of c.contents) client.seed(base, plural, o);
    const inf = await informers(client, '/api/v1/namespaces');
    const controller = new NamespaceController(client, inf.get('/api/v1/namespaces'), quietLogger);
    await controller.sync(c.namespace.metadata!.name!);
    inf.stop();
    controller.queue.stop();
    assert.deepEqual(client.verbs(), c.want, c.name);
    if (c.want.at(-1)?.endsWith('/finalize')) {
      const body = client.actions.at(-1)!.body as KObject;
      assert.deepEqual(
        (body.spec as { finalizers: string[] }).finalizers,
        [],
        `${c.name}: the kubernetes finalizer goes`,
      );
    }
  }
});

test('the namespace controller waits while something is held by a finalizer', async () => {
  const client = fake()
    .seed('/api/v1', 'namespaces', ns('held', true))
    .seed('/api/v1', 'configmaps', { metadata: { name: 'c', namespace: 'held', finalizers: ['example.com/hold'] } });
  // A held object survives deletecollection in the real server; the fake keeps it by deleting nothing.
  client.delete = async (path: string, options: Record<string, unknown> = {}) => {
    client.actions.push({ verb: 'deletecollection', path, body: options });
    return {};
  };
  const inf = await informers(client, '/api/v1/namespaces');
  const controller = new NamespaceController(client, inf.get('/api/v1/namespaces'), quietLogger);
  await controller.sync('held');
  inf.stop();
  controller.queue.stop();
  assert.deepEqual(client.verbs(), ['deletecollection /api/v1/namespaces/held/configmaps']);
});

test('the ServiceAccount controller gives active namespaces a default ServiceAccount', async () => {
  const cases: Array<{ name: string; namespace: KObject; accounts: KObject[]; want: string[] }> = [
    {
      name: 'made when missing',
      namespace: ns('team'),
      accounts: [],
      want: ['create /api/v1/namespaces/team/serviceaccounts'],
    },
    {
      name: 'left when present',
      namespace: ns('team'),
      accounts: [{ metadata: { name: 'default', namespace: 'team' } }],
      want: [],
    },
    { name: 'not made in a Terminating namespace', namespace: ns('team', true), accounts: [], want: [] },
  ];
  for (const c of cases) {
    const client = new FakeClient()
      .seed('/api/v1', 'namespaces', c.namespace)
      .seed('/api/v1', 'serviceaccounts', ...c.accounts);
    const inf = await informers(client, '/api/v1/namespaces', '/api/v1/serviceaccounts');
    const controller = new ServiceAccountController(
      client,
      inf.get('/api/v1/namespaces'),
      inf.get('/api/v1/serviceaccounts'),
      quietLogger,
    );
    await controller.sync('team');
    inf.stop();
    controller.queue.stop();
    assert.deepEqual(client.verbs(), c.want, c.name);
  }
});
