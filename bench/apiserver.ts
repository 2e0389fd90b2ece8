/**
 * The API server over its two datastores, side by side: with 10k ConfigMaps, create, get, list and
 * update throughput and p99 latency through HTTPS (keep-alive, 16 in flight), and watch fan-out (1000
 * watchers, 1000 updates: every watcher must see every event; time until the last one has).
 *
 *   node --import tsx bench/apiserver.ts [--objects 10000] [--watchers 1000] [--updates 1000]
 */
import { existsSync, readFileSync } from 'node:fs';
import type { ClientRequest } from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  Cleanup,
  freePort,
  GANTRY,
  serverArgs,
  startEtcd,
  startProcess,
  tempDir,
  waitFor,
} from '../test/e2e/helpers.js';
import { apiCall as call, measureConcurrent as measure, type ApiTarget as Target } from './lib.js';

async function startServer(cleanup: Cleanup, extra: string[]): Promise<Target> {
  const dir = tempDir(cleanup);
  const port = await freePort();
  startProcess(cleanup, GANTRY, serverArgs(dir, port, extra), path.join(dir, 'server.log'));
  await waitFor(() => existsSync(path.join(dir, 'kubeconfig.yaml')), 'the server', 30000);
  return {
    base: `https://127.0.0.1:${port}`,
    token: readFileSync(path.join(dir, 'token'), 'utf8').trim(),
    agent: new https.Agent({ keepAlive: true, maxSockets: 64 }),
  };
}

async function run(name: string, t: Target, objects: number, watchers: number, updates: number): Promise<void> {
  const ns = '/api/v1/namespaces/default/configmaps';
  const check = (r: { code: number; text: string }, ok: number): void => {
    if (r.code !== ok) throw new Error(`${name}: HTTP ${r.code}: ${r.text.slice(0, 200)}`);
  };
  const create = await measure(objects, async (i) =>
    check(await call(t, 'POST', ns, { metadata: { name: `cm-${i}` }, data: { i: String(i) } }), 201),
  );
  const get = await measure(objects, async (i) => check(await call(t, 'GET', `${ns}/cm-${i % objects}`), 200));
  const list = await measure(20, async () => check(await call(t, 'GET', ns), 200));
  const update = await measure(objects, async (i) =>
    check(await call(t, 'PATCH', `${ns}/cm-${i}`, { data: { i: `u${i}` } }), 200),
  );

  // Fan-out: watchers on one ConfigMap's namespace, counting events.
  const rv = JSON.parse((await call(t, 'GET', `${ns}?limit=1`)).text).metadata.resourceVersion as string;
  let seen = 0;
  const expected = watchers * updates;
  const streams: ClientRequest[] = [];
  const watchAgent = new https.Agent({ keepAlive: false, maxSockets: Infinity });
  for (let w = 0; w < watchers; w++) {
    const req = https.request(
      `${t.base}${ns}?watch=1&resourceVersion=${rv}&fieldSelector=metadata.name%3Dfan`,
      { agent: watchAgent, rejectUnauthorized: false, headers: { Authorization: `Bearer ${t.token}` } },
      (res) => {
        let buf = '';
        res.on('data', (c: Buffer) => {
          buf += c.toString();
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            buf = buf.slice(i + 1);
            seen++;
          }
        });
      },
    );
    req.end();
    streams.push(req);
  }
  await new Promise((r) => setTimeout(r, 2000));
  check(await call(t, 'POST', ns, { metadata: { name: 'fan' }, data: { n: '0' } }), 201);
  const t0 = performance.now();
  for (let u = 1; u < updates; u++) check(await call(t, 'PATCH', `${ns}/fan`, { data: { n: String(u) } }), 200);
  const deadline = Date.now() + 120000;
  while (seen < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const fan = performance.now() - t0;
  for (const s of streams) s.destroy();
  process.stdout.write(
    `${name.padEnd(7)} create ${create.rate.toFixed(0)}/s p99 ${create.p99.toFixed(1)} ms | get ${get.rate.toFixed(0)}/s p99 ${get.p99.toFixed(1)} ms | list(${objects}) ${list.rate.toFixed(1)}/s p99 ${list.p99.toFixed(0)} ms | update ${update.rate.toFixed(0)}/s p99 ${update.p99.toFixed(1)} ms | fan-out ${watchers}x${updates}: ${seen}/${expected} events in ${(fan / 1000).toFixed(1)} s\n`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      objects: { type: 'string', default: '10000' },
      watchers: { type: 'string', default: '1000' },
      updates: { type: 'string', default: '1000' },
    },
  });
  const [objects, watchers, updates] = [Number(values.objects), Number(values.watchers), Number(values.updates)];
  const cleanup = new Cleanup();
  try {
    await run('sqlite', await startServer(cleanup, []), objects, watchers, updates);
    if (existsSync('/usr/bin/etcd')) {
      const etcd = await startEtcd();
      cleanup.add(() => etcd.stop());
      await run(
        'etcd',
        await startServer(cleanup, ['--datastore-endpoint', etcd.endpoint]),
        objects,
        watchers,
        updates,
      );
    } else process.stdout.write('etcd is not installed: apt-get install etcd-server to compare with it\n');
    process.stdout.write('goals (SQLite): >= 2000 GETs/s, p99 of mutating calls < 50 ms, no event lost\n');
  } finally {
    await cleanup.run();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
