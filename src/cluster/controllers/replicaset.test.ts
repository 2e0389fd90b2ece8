import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { ReplicaSetController } from './replicaset.js';
import { FakeClient, informers, quietLogger } from './testing.js';

const rs = (replicas: number, status: Record<string, unknown> = {}): KObject => ({
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: { name: 'web', namespace: 'default', uid: 'rs-uid', generation: 1 },
  spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } } } },
  status,
});

const pod = (
  name: string,
  o: { owner?: string; node?: string; deleting?: boolean; ready?: boolean } = {},
): KObject => ({
  metadata: {
    name,
    namespace: 'default',
    labels: { app: 'web' },
    ownerReferences: [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: o.owner ?? 'rs-uid', controller: true },
    ],
    ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
  },
  spec: { ...(o.node ? { nodeName: o.node } : {}) },
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: o.ready ? 'True' : 'False' }] },
});

const POD_PATH = '/api/v1/namespaces/default/pods';
const STATUS_PATH = '/apis/apps/v1/namespaces/default/replicasets/web/status';

test('the ReplicaSet controller keeps spec.replicas active pods and reports them', async () => {
  const cases: Array<{ name: string; set: KObject; pods: KObject[]; want: string[] }> = [
    {
      name: 'creates the missing pods',
      set: rs(3),
      pods: [],
      want: [`create ${POD_PATH}`, `create ${POD_PATH}`, `create ${POD_PATH}`, `patch ${STATUS_PATH}`],
    },
    {
      name: 'deletes the surplus, unscheduled first',
      set: rs(1),
      pods: [pod('a', { node: 'n1', ready: true }), pod('b')],
      want: [`delete ${POD_PATH}/b`, `patch ${STATUS_PATH}`],
    },
    {
      name: 'nothing to do when pods and status agree',
      set: rs(2, {
        replicas: 2,
        fullyLabeledReplicas: 2,
        readyReplicas: 0,
        availableReplicas: 0,
        observedGeneration: 1,
      }),
      pods: [pod('a', { node: 'n1' }), pod('b', { node: 'n1' })],
      want: [],
    },
    {
      name: "another set's pods are not counted",
      set: rs(1),
      pods: [pod('other', { owner: 'other-uid', node: 'n1' })],
      want: [`create ${POD_PATH}`, `patch ${STATUS_PATH}`],
    },
    {
      name: 'a terminating pod is replaced',
      set: rs(2),
      pods: [pod('a', { node: 'n1' }), pod('b', { node: 'n1', deleting: true })],
      want: [`create ${POD_PATH}`, `patch ${STATUS_PATH}`],
    },
  ];
  for (const c of cases) {
    const client = new FakeClient().seed('/apis/apps/v1', 'replicasets', c.set).seed('/api/v1', 'pods', ...c.pods);
    const inf = await informers(client, '/apis/apps/v1/replicasets', '/api/v1/pods');
    const controller = new ReplicaSetController(
      client,
      inf.get('/apis/apps/v1/replicasets'),
      inf.get('/api/v1/pods'),
      quietLogger,
    );
    await controller.sync('default/web');
    inf.stop();
    assert.deepEqual(client.verbs(), c.want, c.name);
  }
});

test('the ReplicaSet controller does not act twice before its informer catches up (expectations)', async () => {
  const client = new FakeClient().seed('/apis/apps/v1', 'replicasets', rs(2));
  const inf = await informers(client, '/apis/apps/v1/replicasets', '/api/v1/pods');
  const controller = new ReplicaSetController(
    client,
    inf.get('/apis/apps/v1/replicasets'),
    inf.get('/api/v1/pods'),
    quietLogger,
  );
  await controller.sync('default/web');
  await controller.sync('default/web');
  inf.stop();
  assert.equal(client.verbs().filter((v) => v.startsWith('create')).length, 2, 'two creates, not four');
});
