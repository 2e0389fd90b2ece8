import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyState, type ContainerRecord } from '../containers/types.js';
import { buildSpec, cgroupResources, computeCaps, DEFAULT_CAPS } from './spec.js';
import { clampLimit, hostHardLimits } from './limits.js';
import { signalNumber } from './runtime.js';

function rec(hc: ContainerRecord['HostConfig'] = {}): ContainerRecord {
  return {
    Id: 'a'.repeat(64),
    Created: '',
    Path: 'sh',
    Args: ['-c', 'true'],
    State: emptyState(),
    Image: 'sha256:x',
    Name: '/t',
    RestartCount: 0,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    HostnamePath: '',
    HostsPath: '',
    ResolvConfPath: '',
    LogPath: '',
    Config: { Env: ['A=1'], Tty: false },
    HostConfig: hc,
    chainId: 'sha256:y',
    runtime: 'runc',
  };
}

test('capabilities: defaults, add, drop, ALL', () => {
  assert.deepEqual(computeCaps(false), DEFAULT_CAPS);
  assert.ok(computeCaps(false, ['NET_ADMIN']).includes('CAP_NET_ADMIN'));
  assert.ok(!computeCaps(false, [], ['chown']).includes('CAP_CHOWN'));
  assert.deepEqual(computeCaps(false, ['SYS_ADMIN'], ['ALL']), ['CAP_SYS_ADMIN']);
  assert.throws(() => computeCaps(false, ['NOPE']), /invalid capability: CAP_NOPE/);
});

test('rlimits are clamped to the host hard limit', () => {
  const hard = hostHardLimits().get('RLIMIT_NOFILE')!;
  assert.deepEqual(clampLimit('RLIMIT_NOFILE', 1048576, 1048576), {
    type: 'RLIMIT_NOFILE',
    soft: Math.min(1048576, hard),
    hard: Math.min(1048576, hard),
  });
  const spec = buildSpec({
    rec: rec({ Ulimits: [{ Name: 'nofile', Soft: 512, Hard: 10 ** 9 }] }),
    rootfs: '/r',
    user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
    hostname: 'h',
    etcFiles: [],
    cgroupsPath: '/g/x',
  });
  const nofile = (spec.process as { rlimits: Array<{ type: string; soft: number; hard: number }> }).rlimits.find(
    (r) => r.type === 'RLIMIT_NOFILE',
  )!;
  assert.equal(nofile.soft, 512);
  assert.equal(nofile.hard, Math.min(10 ** 9, hard));
});

test('namespaces: own by default, joined by path, host omitted', () => {
  const spec = buildSpec({
    rec: rec(),
    rootfs: '/r',
    user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
    hostname: 'h',
    etcFiles: [],
    cgroupsPath: '/g/x',
    netns: '/proc/1/ns/net',
    pidns: 'host',
  });
  const ns = (spec.linux as { namespaces: Array<{ type: string; path?: string }> }).namespaces;
  assert.deepEqual(
    ns.find((n) => n.type === 'network'),
    { type: 'network', path: '/proc/1/ns/net' },
  );
  assert.equal(
    ns.find((n) => n.type === 'pid'),
    undefined,
  );
  assert.ok(ns.some((n) => n.type === 'cgroup'));
  assert.ok((spec.linux as { maskedPaths: string[] }).maskedPaths.includes('/proc/kcore'));
});

test('cgroup resources as Docker maps them', () => {
  assert.deepEqual(cgroupResources({ Memory: 20 << 20, NanoCpus: 1.5e9, PidsLimit: 10 }), {
    memory: { limit: 20 << 20, swap: 40 << 20 },
    cpu: { period: 100000, quota: 150000 },
    pids: { limit: 10 },
  });
});

test('signal names and numbers', () => {
  assert.equal(signalNumber('TERM'), 15);
  assert.equal(signalNumber('SIGKILL'), 9);
  assert.equal(signalNumber('10'), 10);
  assert.equal(signalNumber('SIGRTMIN+2'), 36);
  assert.equal(signalNumber('NOPE'), undefined);
});
