import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { FakeClient, informers } from '../controllers/testing.js';
import { nodeInfoOf, podInfo } from './framework.js';
import { VolumeBinding } from './volumebinding.js';

const CLAIMS = '/api/v1/persistentvolumeclaims';
const VOLUMES = '/api/v1/persistentvolumes';
const CLASSES = '/apis/storage.k8s.io/v1/storageclasses';

const onNode = (n: string): Record<string, unknown> => ({
  required: {
    nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [n] }] }],
  },
});
const claim = (name: string, spec: Record<string, unknown>, deleting = false): KObject => ({
  metadata: { name, namespace: 'default', ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
});
const volume = (name: string, spec: Record<string, unknown>, phase = 'Available'): KObject => ({
  metadata: { name },
  spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/srv' }, ...spec },
  status: { phase },
});
const node = (name: string): KObject => ({
  metadata: { name, labels: { 'kubernetes.io/hostname': name } },
  status: { conditions: [{ type: 'Ready', status: 'True' }] },
});
const pod: KObject = {
  metadata: { name: 'p', namespace: 'default' },
  spec: { containers: [{ name: 'c' }], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }] },
};

test('VolumeBinding: which nodes a pod with claims may go to', async () => {
  const classes = [
    { metadata: { name: 'wait' }, provisioner: 'gantry.io/local-path', volumeBindingMode: 'WaitForFirstConsumer' },
    {
      metadata: { name: 'static' },
      provisioner: 'kubernetes.io/no-provisioner',
      volumeBindingMode: 'WaitForFirstConsumer',
    },
    { metadata: { name: 'now' }, provisioner: 'x.io/disk', volumeBindingMode: 'Immediate' },
  ];
  const cases: Array<{
    name: string;
    claims: KObject[];
    volumes?: KObject[];
    want: Record<string, string | undefined>;
  }> = [
    {
      name: 'no claim',
      claims: [],
      want: { n1: 'persistentvolumeclaim "data" not found', n2: 'persistentvolumeclaim "data" not found' },
    },
    {
      name: 'being deleted',
      claims: [claim('data', { storageClassName: 'wait' }, true)],
      want: {
        n1: 'persistentvolumeclaim "data" is being deleted',
        n2: 'persistentvolumeclaim "data" is being deleted',
      },
    },
    {
      name: 'bound to a volume on n2',
      claims: [claim('data', { volumeName: 'v' })],
      volumes: [volume('v', { nodeAffinity: onNode('n2') }, 'Bound')],
      want: { n1: 'node(s) had volume node affinity conflict', n2: undefined },
    },
    {
      name: 'waits, provisionable anywhere',
      claims: [claim('data', { storageClassName: 'wait' })],
      want: { n1: undefined, n2: undefined },
    },
    {
      name: 'waits, only a static volume on n1',
      claims: [claim('data', { storageClassName: 'static' })],
      volumes: [volume('v', { storageClassName: 'static', nodeAffinity: onNode('n1') })],
      want: { n1: undefined, n2: "node(s) didn't find available persistent volumes to bind" },
    },
    {
      name: 'unbound Immediate claim',
      claims: [claim('data', { storageClassName: 'now' })],
      want: {
        n1: 'pod has unbound immediate PersistentVolumeClaims',
        n2: 'pod has unbound immediate PersistentVolumeClaims',
      },
    },
  ];
  for (const tc of cases) {
    const client = new FakeClient()
      .seed('/api/v1', 'persistentvolumeclaims', ...tc.claims)
      .seed('/api/v1', 'persistentvolumes', ...(tc.volumes ?? []))
      .seed('/apis/storage.k8s.io/v1', 'storageclasses', ...structuredClone(classes));
    const inf = await informers(client, CLAIMS, VOLUMES, CLASSES);
    const plugin = new VolumeBinding(client, inf.get(CLAIMS), inf.get(VOLUMES), inf.get(CLASSES));
    const info = podInfo('default/p', pod);
    const nodes = [nodeInfoOf(node('n1')), nodeInfoOf(node('n2'))];
    plugin.prepare(info);
    const got = Object.fromEntries(nodes.map((n) => [n.name, plugin.filter(info, n)]));
    inf.stop();
    assert.deepEqual(got, tc.want, tc.name);
  }
});

test('VolumeBinding names the chosen node on a claim waiting for its first consumer', async () => {
  const client = new FakeClient()
    .seed('/api/v1', 'persistentvolumeclaims', claim('data', { storageClassName: 'wait' }))
    .seed('/apis/storage.k8s.io/v1', 'storageclasses', {
      metadata: { name: 'wait' },
      provisioner: 'gantry.io/local-path',
      volumeBindingMode: 'WaitForFirstConsumer',
    });
  const inf = await informers(client, CLAIMS, VOLUMES, CLASSES);
  await new VolumeBinding(client, inf.get(CLAIMS), inf.get(VOLUMES), inf.get(CLASSES)).preBind(pod, 'n2');
  inf.stop();
  assert.deepEqual(client.actions, [
    {
      verb: 'patch',
      path: '/api/v1/namespaces/default/persistentvolumeclaims/data',
      body: { metadata: { annotations: { 'volume.kubernetes.io/selected-node': 'n2' } } },
    },
  ]);
});
