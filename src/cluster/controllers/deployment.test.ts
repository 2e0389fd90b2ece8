import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { DeploymentController, podTemplateHash } from './deployment.js';
import { FakeClient, informers, quietLogger } from './testing.js';

const template = (image: string): KObject => ({
  metadata: { labels: { app: 'web' } },
  spec: { containers: [{ name: 'c', image }] },
});

const deployment = (replicas: number, image: string): KObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default', uid: 'd-uid', generation: 1 },
  spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: template(image) },
});

const set = (image: string, replicas: number, revision: number): KObject => ({
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: {
    name: `web-${image}`,
    namespace: 'default',
    labels: { app: 'web', 'pod-template-hash': podTemplateHash(template(image)) },
    annotations: { 'deployment.kubernetes.io/revision': String(revision) },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-uid', controller: true }],
  },
  spec: { replicas },
  status: { replicas, readyReplicas: replicas, availableReplicas: replicas },
});

const RS = '/apis/apps/v1/namespaces/default/replicasets';

/** The ReplicaSet writes, as `verb name replicas`. */
function setWrites(client: FakeClient): string[] {
  return client.actions
    .filter((a) => a.path.startsWith(RS))
    .map((a) => {
      const body = a.body as KObject;
      // The set made for the new template is named after its hash: `new` here.
      const name = a.verb === 'create' || a.path.slice(RS.length + 1) !== 'web-v1' ? 'new' : 'web-v1';
      return `${a.verb} ${name} ${(body.spec as { replicas?: number } | undefined)?.replicas ?? '-'}`;
    });
}

test('the Deployment controller keeps one ReplicaSet per template and rolls between them', async () => {
  const cases: Array<{ name: string; deployment: KObject; sets: KObject[]; want: string[] }> = [
    { name: 'a new Deployment gets its ReplicaSet', deployment: deployment(3, 'v1'), sets: [], want: ['create new 3'] },
    {
      name: 'scaling changes the ReplicaSet',
      deployment: deployment(5, 'v1'),
      sets: [set('v1', 3, 1)],
      want: ['patch web-v1 5'],
    },
    { name: 'in step: nothing to write', deployment: deployment(3, 'v1'), sets: [set('v1', 3, 1)], want: [] },
    {
      name: 'a new template starts a rollout: the new set surges by one (25% of 3, rounded up)',
      deployment: deployment(3, 'v2'),
      sets: [set('v1', 3, 1)],
      want: ['create new 0', 'patch new 1'],
    },
  ];
  for (const c of cases) {
    const client = new FakeClient()
      .seed('/apis/apps/v1', 'deployments', c.deployment)
      .seed('/apis/apps/v1', 'replicasets', ...c.sets);
    const inf = await informers(client, '/apis/apps/v1/deployments', '/apis/apps/v1/replicasets');
    const controller = new DeploymentController(
      client,
      inf.get('/apis/apps/v1/deployments'),
      inf.get('/apis/apps/v1/replicasets'),
      quietLogger,
    );
    await controller.sync('default/web');
    inf.stop();
    assert.deepEqual(
      setWrites(client).map((w) =>
        w.replace(/^patch web-[a-z0-9]+-?\w* /, (m) => (m.includes('web-v1') ? m : 'patch new ')),
      ),
      c.want,
      c.name,
    );
  }
});
