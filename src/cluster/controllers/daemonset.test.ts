import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { DaemonSetController, shouldRun, targetNode } from './daemonset.js';
import { podTemplateHash } from './deployment.js';
import { FakeClient, informers, quietLogger } from './testing.js';

const PODS = '/api/v1/namespaces/default/pods';
const template = (spec: Record<string, unknown> = {}): KObject => ({
  metadata: { labels: { app: 'agent' } },
  spec: { containers: [{ name: 'a', image: 'busybox' }], ...spec },
});
const HASH = podTemplateHash(template());

const ds = (spec: Record<string, unknown> = {}): KObject => ({
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: 'agent', namespace: 'default', uid: 'ds-uid', generation: 1 },
  spec: {
    selector: { matchLabels: { app: 'agent' } },
    template: template(),
    updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
    ...spec,
  },
});

const node = (name: string, o: { labels?: Record<string, string>; taints?: unknown[] } = {}): KObject => ({
  metadata: { name, labels: { 'kubernetes.io/hostname': name, ...o.labels } },
  spec: { ...(o.taints ? { taints: o.taints } : {}) },
  status: { conditions: [{ type: 'Ready', status: 'True' }] },
});

const pod = (name: string, on: string, hash = HASH, ready = true): KObject => ({
  metadata: {
    name,
    namespace: 'default',
    labels: { app: 'agent', 'controller-revision-hash': hash },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: 'ds-uid', controller: true }],
  },
  spec: { nodeName: on },
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

test('which nodes a daemon pod runs on: selector, affinity, taints with the daemon tolerations', () => {
  const cases: Array<[string, KObject, KObject, boolean]> = [
    ['any node', template(), node('n1'), true],
    [
      'nodeSelector matches',
      template({ nodeSelector: { disk: 'ssd' } }),
      node('n1', { labels: { disk: 'ssd' } }),
      true,
    ],
    ['nodeSelector does not', template({ nodeSelector: { disk: 'ssd' } }), node('n1'), false],
    ['an untolerated taint', template(), node('n1', { taints: [{ key: 'gpu', effect: 'NoSchedule' }] }), false],
    [
      'a tolerated taint',
      template({ tolerations: [{ key: 'gpu', operator: 'Exists' }] }),
      node('n1', { taints: [{ key: 'gpu', effect: 'NoSchedule' }] }),
      true,
    ],
    [
      'cordoned and not-ready nodes are tolerated',
      template(),
      node('n1', {
        taints: [
          { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' },
          { key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' },
        ],
      }),
      true,
    ],
    [
      'a PreferNoSchedule taint does not keep it off',
      template(),
      node('n1', { taints: [{ key: 'x', effect: 'PreferNoSchedule' }] }),
      true,
    ],
  ];
  for (const [name, t, n, want] of cases) assert.equal(shouldRun(t, n), want, name);
});

test('the DaemonSet controller keeps one pod per eligible node and rolls templates over maxUnavailable', async () => {
  const cases: Array<{
    name: string;
    set: KObject;
    nodes: KObject[];
    pods: KObject[];
    creates: string[];
    deletes: string[];
  }> = [
    {
      name: 'a pod per node',
      set: ds(),
      nodes: [node('n1'), node('n2')],
      pods: [],
      creates: ['n1', 'n2'],
      deletes: [],
    },
    {
      name: 'only the missing node gets one',
      set: ds(),
      nodes: [node('n1'), node('n2')],
      pods: [pod('p1', 'n1')],
      creates: ['n2'],
      deletes: [],
    },
    {
      name: 'a node that no longer qualifies loses its pod',
      set: ds({ template: template({ nodeSelector: { role: 'edge' } }) }),
      nodes: [node('n1', { labels: { role: 'edge' } }), node('n2')],
      pods: [
        pod('p1', 'n1', podTemplateHash(template({ nodeSelector: { role: 'edge' } }))),
        pod('p2', 'n2', podTemplateHash(template({ nodeSelector: { role: 'edge' } }))),
      ],
      creates: [],
      deletes: ['p2'],
    },
    {
      name: 'rolling update: one node at a time',
      set: ds(),
      nodes: [node('n1'), node('n2'), node('n3')],
      pods: [pod('p1', 'n1', 'old'), pod('p2', 'n2', 'old'), pod('p3', 'n3', 'old')],
      creates: [],
      deletes: ['p1'],
    },
    {
      name: 'rolling update waits while a node is unavailable',
      set: ds(),
      nodes: [node('n1'), node('n2')],
      pods: [pod('p1', 'n1', HASH, false), pod('p2', 'n2', 'old')],
      creates: [],
      deletes: [],
    },
    {
      name: 'maxSurge starts the new pod beside the old one',
      set: ds({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } } }),
      nodes: [node('n1'), node('n2')],
      pods: [pod('p1', 'n1', 'old'), pod('p2', 'n2', 'old')],
      creates: ['n1'],
      deletes: [],
    },
    {
      name: 'OnDelete leaves old pods',
      set: ds({ updateStrategy: { type: 'OnDelete' } }),
      nodes: [node('n1')],
      pods: [pod('p1', 'n1', 'old')],
      creates: [],
      deletes: [],
    },
  ];
  for (const c of cases) {
    const client = new FakeClient()
      .seed('/apis/apps/v1', 'daemonsets', c.set)
      .seed('/api/v1', 'nodes', ...c.nodes)
      .seed('/api/v1', 'pods', ...c.pods);
    const paths = ['/apis/apps/v1/daemonsets', '/api/v1/pods', '/api/v1/nodes', '/apis/apps/v1/controllerrevisions'];
    const inf = await informers(client, ...paths);
    const [sets, pods, nodes, revisions] = paths.map((p) => inf.get(p));
    const controller = new DaemonSetController(client, sets!, pods!, nodes!, revisions!, quietLogger);
    await controller.sync('default/agent');
    inf.stop();
    controller.queue.stop();
    const creates = client.actions
      .filter((a) => a.verb === 'create' && a.path === PODS)
      .map((a) => targetNode(a.body as KObject));
    const deletes = client
      .verbs()
      .filter((v) => v.startsWith(`delete ${PODS}/`))
      .map((v) => v.split('/').pop());
    assert.deepEqual(creates.sort(), c.creates, `${c.name}: creates`);
    assert.deepEqual(deletes.sort(), c.deletes, `${c.name}: deletes`);
    assert.ok(
      client.verbs().includes('create /apis/apps/v1/namespaces/default/controllerrevisions'),
      `${c.name}: revision`,
    );
  }
});
