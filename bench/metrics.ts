/**
 * What metrics cost where they are measured, in process, medians of N rounds (default 5):
 * - the datastore hot path: 20,000 concurrent creates on SQLite, bare beside wrapped in the
 *   `etcd_request_duration_seconds` histogram the API server uses (peer: the same store unmeasured);
 * - a scrape: the API server's registry after those requests (process metrics and the request
 *   series), rendered as Prometheus text, beside a bare prom-client registry with the same series.
 *
 *   node --import tsx bench/metrics.ts [--rounds 5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { InstrumentedStorage } from '../src/cluster/storage/metrics.js';
import { SqliteStorage } from '../src/cluster/storage/sqlite.js';
import type { Storage } from '../src/cluster/storage/types.js';
import { processRegistry } from '../src/common/metrics.js';
import { median, row, time } from './lib.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);
const WRITES = 20_000;
const CONCURRENCY = 64;

async function creates(storage: Storage, round: number): Promise<void> {
  let next = 0;
  const value = Buffer.from(JSON.stringify({ kind: 'ConfigMap', data: { k: 'v'.repeat(200) } }));
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < WRITES) await storage.create(`/registry/core/configmaps/r${round}/c${next++}`, value);
    }),
  );
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-metrics-'));
try {
  const bare: number[] = [];
  const measured: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const a = new SqliteStorage(path.join(dir, `bare-${i}.db`));
    bare.push(await time(() => creates(a, i)));
    await a.close();
    const registry = new Registry();
    const b = new InstrumentedStorage(new SqliteStorage(path.join(dir, `measured-${i}.db`)), registry);
    measured.push(await time(() => creates(b, i)));
    await b.close();
  }
  row(`${WRITES} creates, etcd_request_* timed`, median(measured), 'unmeasured', median(bare));

  const full = processRegistry();
  const store = new InstrumentedStorage(new SqliteStorage(path.join(dir, 'scrape.db')), full);
  await creates(store, 0);
  const scrape: number[] = [];
  const plain: number[] = [];
  const bareRegistry = new Registry();
  const body = await full.metrics();
  for (let i = 0; i < rounds * 20; i++) {
    scrape.push(await time(() => full.metrics()));
    plain.push(await time(() => bareRegistry.metrics()));
  }
  process.stdout.write(
    `scrape of a server registry: ${(body.length / 1024).toFixed(0)} KiB, ${body.split('\n').filter((l) => l && !l.startsWith('#')).length} samples, median ${median(scrape).toFixed(2)} ms (an empty registry: ${median(plain).toFixed(3)} ms)\n`,
  );
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
