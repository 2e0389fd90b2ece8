/**
 * Scale-out, side by side: API writes (ConfigMap creates and merge patches, 16 in flight) and their p99
 * through one `gantry server` on SQLite against one of three servers on a three-member etcd; then the
 * leader hand-over of the controller manager's Lease when its holder is stopped (SIGTERM: the lease is
 * handed back) and when it is killed (SIGKILL: the others wait out the 15 s lease).
 *
 *   node --import tsx bench/scaleout.ts [--objects 3000]
 */
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
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
import { apiCall, measureConcurrent, type ApiTarget } from './lib.js';

interface Server extends ApiTarget {
  dir: string;
  proc: ChildProcess;
}

async function startServer(cleanup: Cleanup, extra: string[]): Promise<Server> {
  const dir = tempDir(cleanup);
  const port = await freePort();
  const proc = startProcess(cleanup, GANTRY, serverArgs(dir, port, extra), path.join(dir, 'server.log'));
  await waitFor(() => existsSync(path.join(dir, 'kubeconfig.yaml')), 'the server', 60000);
  return {
    dir,
    proc,
    base: `https://127.0.0.1:${port}`,
    token: readFileSync(path.join(dir, 'token'), 'utf8').trim(),
    agent: new https.Agent({ keepAlive: true, maxSockets: 64 }),
  };
}

async function writes(name: string, t: ApiTarget, objects: number): Promise<void> {
  const ns = '/api/v1/namespaces/default/configmaps';
  const check = (r: { code: number; text: string }, ok: number): void => {
    if (r.code !== ok) throw new Error(`${name}: HTTP ${r.code}: ${r.text.slice(0, 200)}`);
  };
  const create = await measureConcurrent(objects, async (i) =>
    check(await apiCall(t, 'POST', ns, { metadata: { name: `w-${i}` }, data: { i: String(i) } }), 201),
  );
  const update = await measureConcurrent(objects, async (i) =>
    check(await apiCall(t, 'PATCH', `${ns}/w-${i}`, { data: { i: `u${i}` } }), 200),
  );
  process.stdout.write(
    `${name.padEnd(28)} create ${create.rate.toFixed(0).padStart(5)}/s p99 ${create.p99.toFixed(1).padStart(6)} ms | update ${update.rate.toFixed(0).padStart(5)}/s p99 ${update.p99.toFixed(1).padStart(6)} ms\n`,
  );
}

/** The identity holding the controller manager's Lease, as seen through `t`. */
async function holder(t: ApiTarget): Promise<string> {
  const r = await apiCall(
    t,
    'GET',
    '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager',
  );
  if (r.code !== 200) return '';
  return (JSON.parse(r.text) as { spec?: { holderIdentity?: string } }).spec?.holderIdentity ?? '';
}

/** Stop the leading server with `signal`; answers ms until another server holds the lease. */
async function handover(servers: Server[], signal: NodeJS.Signals): Promise<number> {
  const identityOf = (s: Server): string => readFileSync(path.join(s.dir, 'identity'), 'utf8').trim();
  const live = servers.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null);
  const current = await holder(live[0]!);
  const leader = live.find((s) => current.endsWith(`_${identityOf(s)}`));
  if (!leader) throw new Error(`no live server holds the lease (holder ${current || 'none'})`);
  const watcher = live.find((s) => s !== leader)!;
  const t0 = performance.now();
  const exited = new Promise((resolve) => leader.proc.once('exit', resolve));
  leader.proc.kill(signal);
  for (;;) {
    const h = await holder(watcher).catch(() => '');
    if (h && h !== current) {
      const took = performance.now() - t0;
      // A stopped server may still be closing when the lease has moved: the next round must not ask it.
      await exited;
      return took;
    }
    if (performance.now() - t0 > 60000) throw new Error('no hand-over within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { objects: { type: 'string', default: '3000' } } });
  const objects = Number(values.objects);
  if (!existsSync('/usr/bin/etcd')) throw new Error('etcd is not installed: apt-get install etcd-server');
  const cleanup = new Cleanup();
  try {
    await writes('sqlite, one server', await startServer(cleanup, []), objects);
    const etcd = await startEtcd(3);
    cleanup.add(() => etcd.stop());
    const first = await startServer(cleanup, ['--datastore-endpoint', etcd.endpoint]);
    const join = ['--server', first.base, '--token-file', path.join(first.dir, 'token')];
    const servers = [first];
    for (let i = 0; i < 2; i++)
      servers.push(await startServer(cleanup, [...join, '--datastore-endpoint', etcd.endpoint]));
    await writes('etcd x3, one of 3 servers', servers[1]!, objects);
    const graceful = await handover(servers, 'SIGTERM');
    const killed = await handover(servers, 'SIGKILL');
    process.stdout.write(
      `controller-manager hand-over: leader stopped (SIGTERM) ${graceful.toFixed(0)} ms | leader killed (SIGKILL) ${killed.toFixed(0)} ms (lease 15 s, retry 2 s)\n`,
    );
  } finally {
    await cleanup.run();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
