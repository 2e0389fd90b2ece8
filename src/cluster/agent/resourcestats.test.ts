import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../common/log.js';
import type { Runtime } from './runtime.js';
import { cpuRate, hostUsage, ResourceSampler } from './resourcestats.js';

test('CPU rate in nano-cores between two samples of cumulative CPU time', () => {
  const at = 1_000_000;
  assert.equal(cpuRate(undefined, { cpuNanos: 5e9, at }), 0);
  // One core busy for 2 s: 2e9 ns of CPU over 2000 ms is 1e9 nano-cores.
  assert.equal(cpuRate({ cpuNanos: 0, at }, { cpuNanos: 2e9, at: at + 2000 }), 1e9);
  // A quarter core.
  assert.equal(cpuRate({ cpuNanos: 0, at }, { cpuNanos: 25e7, at: at + 1000 }), 25e7);
  // A restarted container's counter went back: no rate rather than a negative one.
  assert.equal(cpuRate({ cpuNanos: 9e9, at }, { cpuNanos: 1e9, at: at + 1000 }), 0);
});

test("a node sharing its machine reports its pods' and its agent's usage, not the machine's", async () => {
  const GiB = 1 << 30;
  const containers = [
    { id: 'c1', name: 'web', state: 'running', podUid: 'u1' },
    { id: 'c2', name: 'db', state: 'running', podUid: 'u2' },
  ];
  const runtime = {
    nodeContainers: async () => containers,
    usage: async (id: string) => ({
      cpuNanos: 1e9,
      workingSetBytes: id === 'c1' ? GiB : 2 * GiB,
      memoryUsageBytes: GiB,
      at: Date.now(),
    }),
  } as unknown as Runtime;
  const podOf = (uid: string) => ({ namespace: 'default', name: uid });
  const logger = createLogger('test', 'silent');
  const shared = await new ResourceSampler('n1', runtime, podOf, logger, 10_000, 'pods').sampleNow();
  const rss = process.memoryUsage.rss();
  // Both pods, plus the agent's own memory (which has grown a little since): far below the machine's.
  assert.ok(shared.node.memory.workingSetBytes >= 3 * GiB + rss * 0.5);
  assert.ok(shared.node.memory.workingSetBytes <= 3 * GiB + rss * 2);
  // By default the node is the machine: its memory in use, whatever its pods hold.
  const host = await new ResourceSampler('n1', runtime, podOf, logger).sampleNow();
  const machine = (await hostUsage()).workingSetBytes;
  assert.ok(Math.abs(host.node.memory.workingSetBytes - machine) < 256 << 20);
  assert.equal(shared.pods.length, 2);
});
