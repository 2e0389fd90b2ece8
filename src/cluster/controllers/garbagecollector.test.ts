import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { GarbageCollector } from './garbagecollector.js';
import { FakeClient, quietLogger } from './testing.js';

const CM = '/api/v1/namespaces/default/configmaps';

const cm = (
  name: string,
  o: { uid?: string; owners?: Array<[string, string]>; finalizers?: string[]; deleting?: boolean } = {},
): KObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: {
    name,
    namespace: 'default',
    uid: o.uid ?? `${name}-uid`,
    ...(o.owners
      ? { ownerReferences: o.owners.map(([owner, uid]) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: owner, uid })) }
      : {}),
    ...(o.finalizers ? { finalizers: o.finalizers } : {}),
    ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
  },
});

function fake(...objs: KObject[]): FakeClient {
  const c = new FakeClient().seed('/api/v1', 'configmaps', ...objs);
  c.discovery.set('/apis', { groups: [] });
  c.discovery.set('/api/v1', {
    resources: [
      {
        name: 'configmaps',
        kind: 'ConfigMap',
        namespaced: true,
        verbs: ['create', 'delete', 'get', 'list', 'update', 'watch'],
      },
      { name: 'events', kind: 'Event', namespaced: true, verbs: ['create', 'delete', 'get', 'list', 'watch'] },
    ],
  });
  return c;
}

test('the garbage collector: dependents of gone owners, orphaning and foreground deletion', async () => {
  const cases: Array<{ name: string; objects: KObject[]; sync: string; want: string[] }> = [
    {
      name: 'a dependent whose owner is gone is deleted',
      objects: [cm('dep', { owners: [['owner', 'owner-uid']] })],
      sync: 'dep-uid',
      want: [`delete ${CM}/dep`],
    },
    {
      name: 'a dependent whose owner exists stays',
      objects: [cm('owner'), cm('dep', { owners: [['owner', 'owner-uid']] })],
      sync: 'dep-uid',
      want: [],
    },
    {
      name: 'an owner of the same name but another UID is not its owner',
      objects: [cm('owner', { uid: 'new-uid' }), cm('dep', { owners: [['owner', 'owner-uid']] })],
      sync: 'dep-uid',
      want: [`delete ${CM}/dep`],
    },
    {
      name: 'one owner of two gone: only its reference goes',
      objects: [
        cm('a'),
        cm('dep', {
          owners: [
            ['a', 'a-uid'],
            ['b', 'b-uid'],
          ],
        }),
      ],
      sync: 'dep-uid',
      want: [`update ${CM}/dep`],
    },
    {
      name: 'orphan: dependents freed, then the finalizer cleared',
      objects: [
        cm('owner', { finalizers: ['orphan'], deleting: true }),
        cm('dep', { owners: [['owner', 'owner-uid']] }),
      ],
      sync: 'owner-uid',
      want: [`update ${CM}/dep`, `update ${CM}/owner`],
    },
    {
      name: 'foreground: dependents deleted first, the owner waits',
      objects: [
        cm('owner', { finalizers: ['foregroundDeletion'], deleting: true }),
        cm('dep', { owners: [['owner', 'owner-uid']] }),
      ],
      sync: 'owner-uid',
      want: [`delete ${CM}/dep`],
    },
    {
      name: 'foreground with no dependents left: the finalizer is cleared',
      objects: [cm('owner', { finalizers: ['foregroundDeletion'], deleting: true })],
      sync: 'owner-uid',
      want: [`update ${CM}/owner`],
    },
  ];
  for (const c of cases) {
    const client = fake(...c.objects);
    const gc = new GarbageCollector(client, quietLogger);
    await gc.start();
    await gc.sync(c.sync);
    gc.stop();
    assert.deepEqual(client.verbs(), c.want, c.name);
  }
});

test('the garbage collector frees an orphaned dependent of exactly the deleted owner', async () => {
  const client = fake(
    cm('owner', { finalizers: ['orphan'], deleting: true }),
    cm('dep', { owners: [['owner', 'owner-uid']] }),
  );
  const gc = new GarbageCollector(client, quietLogger);
  await gc.start();
  await gc.sync('owner-uid');
  gc.stop();
  const dep = client.actions.find((a) => a.path.endsWith('/dep'))!.body as KObject;
  assert.equal(dep.metadata?.ownerReferences, undefined);
  const owner = client.actions.find((a) => a.path.endsWith('/owner'))!.body as KObject;
  assert.deepEqual(owner.metadata?.finalizers, []);
});
