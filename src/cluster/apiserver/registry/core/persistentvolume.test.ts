import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../../objects.js';
import { persistentVolumeClaimProblems, persistentVolumeProblems } from './persistentvolume.js';

const messages = (problems: Array<{ field: string; message: string }>): string[] =>
  problems.map((p) => `${p.field}: ${p.message}`);

test('PersistentVolume validation: capacity, access modes, one volume source, paths, policy', () => {
  const pv = (spec: Record<string, unknown>): KObject => ({
    metadata: { name: 'v' },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      hostPath: { path: '/srv/v' },
      ...spec,
    },
  });
  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    ['valid', {}, []],
    ['no capacity', { capacity: undefined }, ['spec.capacity: Required value']],
    ['zero size', { capacity: { storage: '0' } }, ['spec.capacity.storage: must be greater than zero']],
    ['no access modes', { accessModes: [] }, ['spec.accessModes: Required value']],
    [
      'an unknown access mode',
      { accessModes: ['ReadWriteSometimes'] },
      [
        'spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"',
      ],
    ],
    ['no source', { hostPath: undefined }, ['spec: Required value: must specify a volume type']],
    [
      'two sources',
      { nfs: { server: 'x', path: '/' } },
      ['spec.nfs: Forbidden: may not specify more than 1 volume type'],
    ],
    ['a relative hostPath', { hostPath: { path: 'srv' } }, ['spec.hostPath.path: must be an absolute path']],
    ['a climbing hostPath', { hostPath: { path: '/srv/../etc' } }, ["spec.hostPath.path: must not contain '..'"]],
    [
      'local without node affinity',
      { hostPath: undefined, local: { path: '/mnt/disk' } },
      ['spec.nodeAffinity: Required value: Local volume requires node affinity'],
    ],
    [
      'a bad reclaim policy',
      { persistentVolumeReclaimPolicy: 'Keep' },
      [
        'spec.persistentVolumeReclaimPolicy: Unsupported value: "Keep": supported values: "Delete", "Recycle", "Retain"',
      ],
    ],
    [
      'Block volumes',
      { volumeMode: 'Block' },
      ['spec.volumeMode: Unsupported value: "Block": supported values: "Filesystem"'],
    ],
  ];
  for (const [name, spec, want] of cases) assert.deepEqual(messages(persistentVolumeProblems(pv(spec))), want, name);
});

test('PersistentVolumeClaim validation: access modes, size, class name', () => {
  const pvc = (spec: Record<string, unknown>): KObject => ({
    metadata: { name: 'c' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
  });
  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    ['valid', {}, []],
    ['the empty class (none)', { storageClassName: '' }, []],
    [
      'no access modes',
      { accessModes: undefined },
      ['spec.accessModes: Required value: at least 1 access mode is required'],
    ],
    ['no size', { resources: {} }, ['spec.resources[storage]: Required value']],
    [
      'not a quantity',
      { resources: { requests: { storage: 'lots' } } },
      ['spec.resources[storage]: must be a quantity'],
    ],
    [
      'a bad class name',
      { storageClassName: 'Fast_Disk' },
      [
        "spec.storageClassName: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
      ],
    ],
  ];
  for (const [name, spec, want] of cases)
    assert.deepEqual(messages(persistentVolumeClaimProblems(pvc(spec))), want, name);
});
