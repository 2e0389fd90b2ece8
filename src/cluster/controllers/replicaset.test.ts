import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { REPLICATION_CONTROLLER, ReplicaSetController } from './replicaset.js';
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

const orphan = (name: string, labels: Record<string, string>): KObject => ({
  metadata: { name, namespace: 'default', labels },
  spec: { nodeName: 'n1' },
  status: { phase: 'Running' },
});

const relabelled = (name: string): KObject => {
  const p = pod(name, { node: 'n1' });
  p.metadata!.labels = { app: 'debug' };
  return p;
};

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
      name: 'adopts a matching orphan instead of creating',
      set: rs(1),
      pods: [orphan('stray', { app: 'web' })],
      want: [`patch ${POD_PATH}/stray`, `patch ${STATUS_PATH}`],
    },
    {
      name: 'leaves an orphan that does not match',
      set: rs(1),
      pods: [orphan('other', { app: 'db' })],
      want: [`create ${POD_PATH}`, `patch ${STATUS_PATH}`],
    },
    {
      name: 'releases an owned pod whose labels stopped matching, and replaces it',
      set: rs(1),
      pods: [relabelled('moved')],
      want: [`patch ${POD_PATH}/moved`, `create ${POD_PATH}`, `patch ${STATUS_PATH}`],
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

test('the ReplicationController controller selects by label equality and reports in v1', async () => {
  const rc: KObject = {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name: 'web', namespace: 'default', uid: 'rc-uid', generation: 2 },
    spec: { replicas: 2, selector: { app: 'web' }, template: { metadata: { labels: { app: 'web' } } } },
  };
  const client = new FakeClient()
    .seed('/api/v1', 'replicationcontrollers', rc)
    .seed('/api/v1', 'pods', orphan('stray', { app: 'web', tier: 'x' }));
  const inf = await informers(client, '/api/v1/replicationcontrollers', '/api/v1/pods');
  const controller = new ReplicaSetController(
    client,
    inf.get('/api/v1/replicationcontrollers'),
    inf.get('/api/v1/pods'),
    quietLogger,
    undefined,
    REPLICATION_CONTROLLER,
  );
  await controller.sync('default/web');
  inf.stop();
  assert.deepEqual(client.verbs(), [
    `patch ${POD_PATH}/stray`,
    `create ${POD_PATH}`,
    'patch /api/v1/namespaces/default/replicationcontrollers/web/status',
  ]);
  const created = client.actions[1]!.body as KObject;
  assert.deepEqual(created.metadata?.ownerReferences?.[0], {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    name: 'web',
    uid: 'rc-uid',
    controller: true,
    blockOwnerDeletion: true,
  });
  assert.equal((client.actions[2]!.body as { status: { observedGeneration: number } }).status.observedGeneration, 2);
});
