import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { podTemplateHash } from './deployment.js';
import { StatefulSetController } from './statefulset.js';
import { FakeClient, informers, quietLogger } from './testing.js';

const PODS = '/api/v1/namespaces/default/pods';
const CLAIMS = '/api/v1/namespaces/default/persistentvolumeclaims';
const template: KObject = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'n', image: 'x' }] } };
const REV = `web-${podTemplateHash(template)}`;

const sts = (spec: Record<string, unknown> = {}): KObject => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'web', namespace: 'default', uid: 'sts-uid', generation: 1 },
  spec: {
    replicas: 3,
    serviceName: 'nginx',
    selector: { matchLabels: { app: 'web' } },
    template,
    podManagementPolicy: 'OrderedReady',
    updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
    ...spec,
  },
});

const pod = (ordinal: number, o: { ready?: boolean; rev?: string } = {}): KObject => ({
  metadata: {
    name: `web-${ordinal}`,
    namespace: 'default',
    labels: { app: 'web', 'controller-revision-hash': o.rev ?? REV },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'sts-uid', controller: true }],
  },
  spec: { nodeName: 'n1' },
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
});

test('the StatefulSet controller makes, removes and updates pods in ordinal order', async () => {
  const cases: Array<{ name: string; set: KObject; pods: KObject[]; want: string[] }> = [
    { name: 'OrderedReady: the first pod only', set: sts(), pods: [], want: [`create ${PODS} web-0`] },
    { name: 'the next once the previous is Ready', set: sts(), pods: [pod(0)], want: [`create ${PODS} web-1`] },
    { name: 'waits while one is not Ready', set: sts(), pods: [pod(0, { ready: false })], want: [] },
    {
      name: 'Parallel: all at once',
      set: sts({ podManagementPolicy: 'Parallel' }),
      pods: [],
      want: [`create ${PODS} web-0`, `create ${PODS} web-1`, `create ${PODS} web-2`],
    },
    {
      name: 'scale down from the highest ordinal',
      set: sts({ replicas: 1 }),
      pods: [pod(0), pod(1), pod(2)],
      want: [`delete ${PODS}/web-2`],
    },
    {
      name: 'rolling update from the highest ordinal',
      set: sts(),
      pods: [pod(0, { rev: 'web-old' }), pod(1, { rev: 'web-old' }), pod(2, { rev: 'web-old' })],
      want: [`delete ${PODS}/web-2`],
    },
    {
      name: 'the partition keeps lower ordinals',
      set: sts({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } }),
      pods: [pod(0, { rev: 'web-old' }), pod(1, { rev: 'web-old' }), pod(2)],
      want: [],
    },
    {
      name: 'a claim per template and ordinal before the pod',
      set: sts({ replicas: 1, volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { resources: {} } }] }),
      pods: [],
      want: [`create ${CLAIMS} data-web-0`, `create ${PODS} web-0`],
    },
  ];
  for (const c of cases) {
    const client = new FakeClient().seed('/apis/apps/v1', 'statefulsets', c.set).seed('/api/v1', 'pods', ...c.pods);
    const paths = ['/apis/apps/v1/statefulsets', '/api/v1/pods', '/apis/apps/v1/controllerrevisions'];
    const inf = await informers(client, ...paths);
    const [sets, pods, revisions] = paths.map((p) => inf.get(p));
    const controller = new StatefulSetController(client, sets!, pods!, revisions!, quietLogger);
    await controller.sync('default/web');
    inf.stop();
    controller.queue.stop();
    const got = client.actions
      .filter((a) => (a.path === PODS || a.path === CLAIMS || a.path.startsWith(`${PODS}/`)) && a.verb !== 'patch')
      .map((a) => `${a.verb} ${a.path}${a.verb === 'create' ? ` ${(a.body as KObject).metadata?.name}` : ''}`);
    assert.deepEqual(got, c.want, c.name);
  }
});

test('a StatefulSet pod has its stable name, hostname, subdomain, labels and claim volumes', async () => {
  const set = sts({ replicas: 1, volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: {} }] });
  const client = new FakeClient().seed('/apis/apps/v1', 'statefulsets', set);
  const paths = ['/apis/apps/v1/statefulsets', '/api/v1/pods', '/apis/apps/v1/controllerrevisions'];
  const inf = await informers(client, ...paths);
  const [sets, pods, revisions] = paths.map((p) => inf.get(p));
  const controller = new StatefulSetController(client, sets!, pods!, revisions!, quietLogger);
  await controller.sync('default/web');
  inf.stop();
  controller.queue.stop();
  const made = client.actions.find((a) => a.verb === 'create' && a.path === PODS)!.body as KObject;
  assert.equal(made.metadata?.name, 'web-0');
  assert.deepEqual(made.metadata?.labels, {
    app: 'web',
    'controller-revision-hash': REV,
    'statefulset.kubernetes.io/pod-name': 'web-0',
    'apps.kubernetes.io/pod-index': '0',
  });
  const spec = made.spec as { hostname?: string; subdomain?: string; volumes?: unknown[] };
  assert.equal(spec.hostname, 'web-0');
  assert.equal(spec.subdomain, 'nginx');
  assert.deepEqual(spec.volumes, [{ name: 'data', persistentVolumeClaim: { claimName: 'data-web-0' } }]);
  const status = client.actions.find((a) => a.path.endsWith('/statefulsets/web/status'))!.body as {
    status: Record<string, unknown>;
  };
  assert.equal(status.status.updateRevision, REV);
  assert.equal(status.status.currentRevision, REV);
});
