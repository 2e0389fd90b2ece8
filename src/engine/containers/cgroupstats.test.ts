import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDetailV1, cpuDetailV2, parseBlkioV1, parseIoStatV2 } from './cgroupstats.js';

test('block I/O counters of cgroups v1 and v2 as Docker reports them', () => {
  assert.deepEqual(parseBlkioV1('8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n'), [
    { major: 8, minor: 0, op: 'Read', value: 4096 },
    { major: 8, minor: 0, op: 'Write', value: 8192 },
    { major: 8, minor: 0, op: 'Total', value: 12288 },
  ]);
  assert.deepEqual(parseBlkioV1('Total 0\n'), []);
  const v2 = parseIoStatV2('259:0 rbytes=1024 wbytes=2048 rios=3 wios=4 dbytes=0 dios=0\n');
  assert.deepEqual(v2.bytes, [
    { major: 259, minor: 0, op: 'read', value: 1024 },
    { major: 259, minor: 0, op: 'write', value: 2048 },
  ]);
  assert.deepEqual(
    v2.ios.map((e) => e.value),
    [3, 4],
  );
});

test('CPU time by mode and throttling, in nanoseconds', () => {
  assert.deepEqual(cpuDetailV1('user 150\nsystem 50\n', 'nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n'), {
    usage_in_usermode: 1.5e9,
    usage_in_kernelmode: 0.5e9,
    throttling_data: { periods: 10, throttled_periods: 2, throttled_time: 5000 },
  });
  const v2 = cpuDetailV2(
    'usage_usec 300\nuser_usec 200\nsystem_usec 100\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n',
  );
  assert.deepEqual(v2, {
    total: 300000,
    usage_in_usermode: 200000,
    usage_in_kernelmode: 100000,
    throttling_data: { periods: 4, throttled_periods: 1, throttled_time: 7000 },
  });
});
