import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { computePodActions, runtimeState, type PodActions } from './actions.js';
import { SANDBOX, type RuntimeContainer } from './runtime.js';

const pod = (
  o: { deleting?: boolean; grace?: number; phase?: string; containers?: string[]; ephemeral?: string[] } = {},
): KObject => ({
  metadata: {
    name: 'p',
    namespace: 'default',
    uid: 'u',
    ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    ...(o.grace !== undefined ? { deletionGracePeriodSeconds: o.grace } : {}),
  },
  spec: {
    containers: (o.containers ?? ['web', 'sidecar']).map((name) => ({ name, image: 'busybox' })),
    ...(o.ephemeral ? { ephemeralContainers: o.ephemeral.map((name) => ({ name, image: 'busybox' })) } : {}),
  },
  status: { phase: o.phase ?? 'Pending' },
});

const have = (...names: string[]): RuntimeContainer[] =>
  names.map((name) => ({ id: `${name}-id`, runtimeName: `k8s_${name}`, name, podUid: 'u', state: 'running' }));

test('computePodActions', () => {
  const cases: Array<{ name: string; pod: KObject; runtime: RuntimeContainer[]; want: PodActions }> = [
    {
      name: 'a new pod: sandbox and every container',
      pod: pod(),
      runtime: [],
      want: { createSandbox: true, start: ['web', 'sidecar'] },
    },
    {
      name: 'a running pod: nothing',
      pod: pod(),
      runtime: have(SANDBOX, 'web', 'sidecar'),
      want: { createSandbox: false, start: [] },
    },
    {
      name: 'a missing container (replaced after a liveness failure)',
      pod: pod(),
      runtime: have(SANDBOX, 'web'),
      want: { createSandbox: false, start: ['sidecar'] },
    },
    {
      name: 'a lost sandbox is made again',
      pod: pod(),
      runtime: have('web', 'sidecar'),
      want: { createSandbox: true, start: [] },
    },
    {
      name: 'deletion: terminate with the deletion grace period',
      pod: pod({ deleting: true, grace: 5 }),
      runtime: have(SANDBOX, 'web'),
      want: { terminate: { graceSeconds: 5 }, createSandbox: false, start: [] },
    },
    {
      name: 'deletion without a grace period: the pod spec default',
      pod: pod({ deleting: true }),
      runtime: [],
      want: { terminate: { graceSeconds: 30 }, createSandbox: false, start: [] },
    },
    {
      name: 'an ephemeral container added to a running pod is started, once',
      pod: pod({ ephemeral: ['debugger', 'done'] }),
      runtime: have(SANDBOX, 'web', 'sidecar', 'done'),
      want: { createSandbox: false, start: [], startEphemeral: ['debugger'] },
    },
    {
      name: 'ephemeral containers wait for the sandbox',
      pod: pod({ ephemeral: ['debugger'] }),
      runtime: [],
      want: { createSandbox: true, start: ['web', 'sidecar'] },
    },
    {
      name: 'a finished pod is left alone',
      pod: pod({ phase: 'Succeeded' }),
      runtime: [],
      want: { createSandbox: false, start: [] },
    },
    {
      name: 'a failed pod is left alone',
      pod: pod({ phase: 'Failed' }),
      runtime: have(SANDBOX),
      want: { createSandbox: false, start: [] },
    },
  ];
  for (const c of cases) assert.deepEqual(computePodActions(c.pod, runtimeState(c.runtime)), c.want, c.name);
});
