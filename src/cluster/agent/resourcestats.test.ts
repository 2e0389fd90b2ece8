import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuRate } from './resourcestats.js';

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
