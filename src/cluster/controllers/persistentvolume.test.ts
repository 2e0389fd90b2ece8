import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { EventRecorder } from '../client/events.js';
import { LocalPathProvisioner } from './localpath.js';
import { PersistentVolumeController } from './persistentvolume.js';
import { FakeClient, informers, quietLogger } from './testing.js';
import { VolumeProtectionController } from './volumeprotection.js';

const CLAIMS = '/api/v1/persistentvolumeclaims';
const VOLUMES = '/api/v1/persistentvolumes';
const CLASSES = '/apis/storage.k8s.io/v1/storageclasses';
const NODES = '/api/v1/nodes';
const PODS = '/api/v1/pods';

const claim = (name: string, spec: Record<string, unknown> = {}, annotations?: Record<string, string>): KObject => ({
  metadata: { name, namespace: 'default', uid: `${name}-uid`, ...(annotations ? { annotations } : {}) },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
  status: { phase: 'Pending' },
});

const volume = (name: string, spec: Record<string, unknown> = {}, phase = 'Available'): KObject => ({
  metadata: { name, labels: { tier: 'fast' } },
  spec: {
    capacity: { storage: '2Gi' },
    accessModes: ['ReadWriteOnce'],
    persistentVolumeReclaimPolicy: 'Retain',
    hostPath: { path: `/srv/${name}` },
    ...spec,
  },
  status: { phase },
});

const localPath = (mode = 'WaitForFirstConsumer'): KObject => ({
  metadata: { name: 'local-path' },
  provisioner: 'gantry.io/local-path',
  reclaimPolicy: 'Delete',
  volumeBindingMode: mode,
});

const node = (name: string): KObject => ({ metadata: { name, labels: { 'kubernetes.io/hostname': name } } });

async function binder(seed: { claims?: KObject[]; volumes?: KObject[]; classes?: KObject[] }) {
  const client = new FakeClient()
    .seed('/api/v1', 'persistentvolumeclaims', ...(seed.claims ?? []))
    .seed('/api/v1', 'persistentvolumes', ...(seed.volumes ?? []))
    .seed('/apis/storage.k8s.io/v1', 'storageclasses', ...(seed.classes ?? []))
    .seed('/api/v1', 'nodes', node('n1'), node('n2'));
  const inf = await informers(client, CLAIMS, VOLUMES, CLASSES, NODES);
  const events: string[] = [];
  const recorder = new EventRecorder(client, 'test', quietLogger);
  recorder.record = (_o, type, reason, message) => void events.push(`${type} ${reason}: ${message}`);
  const c = new PersistentVolumeController(
    client,
    inf.get(CLAIMS),
    inf.get(VOLUMES),
    inf.get(CLASSES),
    inf.get(NODES),
    [new LocalPathProvisioner('/var/lib/gantry/storage')],
    quietLogger,
    recorder,
  );
  c.queue.stop();
  return { client, c, events, stop: inf.stop };
}

test('the binder: which volume a claim gets, or why it waits', async () => {
  const cases: Array<{
    name: string;
    claims: KObject[];
    volumes?: KObject[];
    classes?: KObject[];
    writes: string[];
    events?: string[];
  }> = [
    {
      name: 'the smallest free volume that fits, claimRef first',
      claims: [claim('c', { storageClassName: '' })],
      volumes: [
        volume('big', { capacity: { storage: '10Gi' } }),
        volume('fit'),
        volume('small', { capacity: { storage: '500Mi' } }),
      ],
      writes: [
        'update /api/v1/persistentvolumes/fit',
        'update /api/v1/persistentvolumes/fit/status',
        'update /api/v1/namespaces/default/persistentvolumeclaims/c',
        'update /api/v1/namespaces/default/persistentvolumeclaims/c/status',
      ],
    },
    {
      name: 'access modes, class and selector must match',
      claims: [
        claim('c', {
          storageClassName: '',
          accessModes: ['ReadWriteMany'],
          selector: { matchLabels: { tier: 'slow' } },
        }),
      ],
      volumes: [
        volume('v'),
        volume('rwx', { accessModes: ['ReadWriteMany'] }),
        volume('classy', { storageClassName: 'x', accessModes: ['ReadWriteMany'] }),
      ],
      writes: [],
      events: ['Normal FailedBinding: no persistent volumes available for this claim and no storage class is set'],
    },
    {
      name: 'a class that does not exist',
      claims: [claim('c', { storageClassName: 'nope' })],
      writes: [],
      events: ['Warning ProvisioningFailed: storageclass.storage.k8s.io "nope" not found'],
    },
    {
      name: 'WaitForFirstConsumer waits for the scheduler',
      claims: [claim('c', { storageClassName: 'local-path' })],
      classes: [localPath()],
      writes: [],
      events: ['Normal WaitForFirstConsumer: waiting for first consumer to be created before binding'],
    },
    {
      name: 'the selected node: local-path provisions there and binds',
      claims: [claim('c', { storageClassName: 'local-path' }, { 'volume.kubernetes.io/selected-node': 'n2' })],
      classes: [localPath()],
      writes: [
        'patch /api/v1/namespaces/default/persistentvolumeclaims/c',
        'create /api/v1/persistentvolumes',
        'update /api/v1/persistentvolumes/pvc-c-uid/status',
        'update /api/v1/namespaces/default/persistentvolumeclaims/c',
        'update /api/v1/namespaces/default/persistentvolumeclaims/c/status',
      ],
      events: ['Normal ProvisioningSucceeded: Successfully provisioned volume pvc-c-uid using gantry.io/local-path'],
    },
    {
      name: 'a static volume on the selected node is taken before provisioning',
      claims: [claim('c', { storageClassName: 'local-path' }, { 'volume.kubernetes.io/selected-node': 'n1' })],
      classes: [localPath()],
      volumes: [
        volume('on-n2', {
          storageClassName: 'local-path',
          nodeAffinity: {
            required: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n2'] }] },
              ],
            },
          },
        }),
        volume('on-n1', {
          storageClassName: 'local-path',
          nodeAffinity: {
            required: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] }] },
              ],
            },
          },
        }),
      ],
      writes: [
        'update /api/v1/persistentvolumes/on-n1',
        'update /api/v1/persistentvolumes/on-n1/status',
        'update /api/v1/namespaces/default/persistentvolumeclaims/c',
        'update /api/v1/namespaces/default/persistentvolumeclaims/c/status',
      ],
    },
    {
      name: 'local-path refuses an Immediate class',
      claims: [claim('c', { storageClassName: 'local-path' })],
      classes: [localPath('Immediate')],
      writes: [],
      events: [
        'Warning ProvisioningFailed: the gantry.io/local-path provisioner makes a directory on one node: its StorageClass needs volumeBindingMode WaitForFirstConsumer',
      ],
    },
    {
      name: 'an external provisioner is named on the claim and waited for',
      claims: [claim('c', { storageClassName: 'ext' })],
      classes: [{ metadata: { name: 'ext' }, provisioner: 'ebs.csi.aws.com', volumeBindingMode: 'Immediate' }],
      writes: ['patch /api/v1/namespaces/default/persistentvolumeclaims/c'],
      events: [
        "Normal ExternalProvisioning: Waiting for a volume to be created either by the external provisioner 'ebs.csi.aws.com' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.",
      ],
    },
    {
      name: 'a claim naming a volume another claim holds',
      claims: [claim('c', { storageClassName: '', volumeName: 'taken' })],
      volumes: [volume('taken', { claimRef: { namespace: 'default', name: 'other', uid: 'other-uid' } }, 'Bound')],
      writes: [],
      events: ['Warning FailedBinding: volume "taken" already bound to a different claim.'],
    },
  ];
  for (const tc of cases) {
    const { client, c, events, stop } = await binder(tc);
    await c.syncClaim('default/c');
    stop();
    assert.deepEqual(client.verbs(), tc.writes, tc.name);
    assert.deepEqual(events, tc.events ?? [], tc.name);
  }
});

test('the provisioned volume: pinned to the node, under the root, of the claim and class', async () => {
  const { client, c, stop } = await binder({
    claims: [claim('data', { storageClassName: 'local-path' }, { 'volume.kubernetes.io/selected-node': 'n1' })],
    classes: [localPath()],
  });
  await c.syncClaim('default/data');
  stop();
  const pv = client.get('/api/v1/persistentvolumes/pvc-data-uid')!;
  assert.deepEqual(pv.spec, {
    capacity: { storage: '1Gi' },
    accessModes: ['ReadWriteOnce'],
    persistentVolumeReclaimPolicy: 'Delete',
    storageClassName: 'local-path',
    volumeMode: 'Filesystem',
    claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: 'default', name: 'data', uid: 'data-uid' },
    hostPath: { path: '/var/lib/gantry/storage/pvc-data-uid_default_data', type: 'DirectoryOrCreate' },
    nodeAffinity: {
      required: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] }] }],
      },
    },
  });
  assert.deepEqual(pv.metadata?.finalizers, ['gantry.io/local-path-cleanup']);
  assert.equal(client.get('/api/v1/namespaces/default/persistentvolumeclaims/data')!.spec!.volumeName, 'pvc-data-uid');
});

test('a volume whose claim is gone: Released, then reclaimed by its policy', async () => {
  const provisioned = { 'pv.kubernetes.io/provisioned-by': 'gantry.io/local-path' };
  const cases: Array<{ name: string; pv: KObject; writes: string[] }> = [
    { name: 'free: Available', pv: volume('v', {}, 'Pending'), writes: ['update /api/v1/persistentvolumes/v/status'] },
    {
      name: 'Retain: Released and kept',
      pv: volume('v', { claimRef: { namespace: 'default', name: 'gone', uid: 'gone-uid' } }, 'Bound'),
      writes: ['update /api/v1/persistentvolumes/v/status'],
    },
    {
      name: 'Delete, provisioned here: deleted',
      pv: {
        ...volume(
          'v',
          {
            persistentVolumeReclaimPolicy: 'Delete',
            claimRef: { namespace: 'default', name: 'gone', uid: 'gone-uid' },
          },
          'Released',
        ),
        metadata: { name: 'v', annotations: provisioned },
      },
      writes: ['delete /api/v1/persistentvolumes/v'],
    },
    {
      name: 'Delete, made by hand: Failed, nothing can delete it',
      pv: volume(
        'v',
        { persistentVolumeReclaimPolicy: 'Delete', claimRef: { namespace: 'default', name: 'gone', uid: 'gone-uid' } },
        'Released',
      ),
      writes: ['update /api/v1/persistentvolumes/v/status'],
    },
    {
      name: 'pre-bound by hand to a claim not made yet: Available',
      pv: volume('v', { claimRef: { namespace: 'default', name: 'later' } }, 'Pending'),
      writes: ['update /api/v1/persistentvolumes/v/status'],
    },
  ];
  for (const tc of cases) {
    const { client, c, stop } = await binder({ volumes: [tc.pv] });
    await c.syncVolume('v');
    stop();
    assert.deepEqual(client.verbs(), tc.writes, tc.name);
  }
});

test('in-use protection: a claim keeps its finalizer while an unfinished pod uses it', async () => {
  const deleting = (o: KObject, finalizer: string): KObject => ({
    ...o,
    metadata: { ...o.metadata, deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: [finalizer] },
  });
  const usingPod = (phase: string): KObject => ({
    metadata: { name: 'p', namespace: 'default' },
    spec: { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'c' } }] },
    status: { phase },
  });
  const cases: Array<{ name: string; pods: KObject[]; released: boolean }> = [
    { name: 'a running pod holds it', pods: [usingPod('Running')], released: false },
    { name: 'a finished pod does not', pods: [usingPod('Succeeded')], released: true },
    { name: 'no pod', pods: [], released: true },
  ];
  for (const tc of cases) {
    const client = new FakeClient()
      .seed('/api/v1', 'persistentvolumeclaims', deleting(claim('c'), 'kubernetes.io/pvc-protection'))
      .seed('/api/v1', 'persistentvolumes', deleting(volume('bound', {}, 'Bound'), 'kubernetes.io/pv-protection'))
      .seed('/api/v1', 'persistentvolumes', deleting(volume('free', {}, 'Released'), 'kubernetes.io/pv-protection'))
      .seed('/api/v1', 'pods', ...tc.pods);
    const inf = await informers(client, CLAIMS, VOLUMES, PODS);
    const c = new VolumeProtectionController(client, inf.get(CLAIMS), inf.get(VOLUMES), inf.get(PODS), quietLogger);
    c.queue.stop();
    await c.syncClaim('default/c');
    await c.syncVolume('bound');
    await c.syncVolume('free');
    inf.stop();
    assert.deepEqual(
      client.verbs(),
      [
        ...(tc.released ? ['update /api/v1/namespaces/default/persistentvolumeclaims/c'] : []),
        'update /api/v1/persistentvolumes/free',
      ],
      tc.name,
    );
  }
});
