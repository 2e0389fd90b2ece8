import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMetricsAddress } from './metrics.js';

test('parseMetricsAddress: host:port, [v6]:port, :port; anything else named in the error', () => {
  const cases: Array<[string, { host: string; port: number } | RegExp]> = [
    ['127.0.0.1:9323', { host: '127.0.0.1', port: 9323 }],
    ['[::1]:9323', { host: '::1', port: 9323 }],
    [':9323', { host: '0.0.0.0', port: 9323 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['localhost', /invalid metrics address "localhost": give host:port/],
    ['1.2.3.4:70000', /invalid metrics address/],
    ['a:b:1', /invalid metrics address/],
  ];
  for (const [input, want] of cases) {
    if (want instanceof RegExp) assert.throws(() => parseMetricsAddress(input), want, input);
    else assert.deepEqual(parseMetricsAddress(input), want, input);
  }
});
