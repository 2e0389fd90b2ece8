import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { addThreadMetrics, parseMetricsAddress, writeMetrics } from './metrics.js';

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

test("a scrape carries the registry's metrics and those of the threads joined to it, until one leaves", async () => {
  const registry = new Registry();
  new Counter({ name: 'main_total', help: 'main thread', registers: [registry] }).inc();
  const worker = new Registry();
  new Counter({ name: 'scheduler_total', help: 'worker thread', registers: [worker] }).inc(2);
  const leave = addThreadMetrics(registry, () => worker.metrics());
  addThreadMetrics(registry, async () => '');
  const scrape = async (): Promise<string> => {
    const server = http.createServer((_req, res) => void writeMetrics(registry, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    server.close();
    return text;
  };
  const both = await scrape();
  assert.match(both, /^main_total 1$/m);
  assert.match(both, /^scheduler_total 2$/m);
  assert.doesNotMatch(both, /\n\n\n/, 'one blank line between families at most');
  leave();
  assert.doesNotMatch(await scrape(), /scheduler_total/);
});
