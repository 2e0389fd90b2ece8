/**
 * Scheduler throughput: 1000 simulated Ready nodes (Node objects, no agents) and 5000 pods with
 * requests created as fast as the API server takes them; pods/s from the first create until every pod
 * is bound. Side by side with the same 5000 creates with no scheduler running — the API server's own
 * ceiling for this load. The scheduler runs inside `gantry server` (the default) and, as kube-scheduler
 * does, as a process of its own (`gantry scheduler`). kube-scheduler's published end-to-end figure is
 * ~300 pods/s, Gödel's ~1000.
 *
 *   node --import tsx bench/scheduler.ts [--nodes 1000] [--pods 5000]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '../src/cluster/client/client.js';
import type { KObject } from '../src/cluster/api/object.js';
import { Cleanup, startScheduler, startServer, type ClusterServer } from '../test/e2e/helpers.js';
import { cpuSeconds } from './lib.js';

const { values } = parseArgs({
  options: { nodes: { type: 'string', default: '1000' }, pods: { type: 'string', default: '5000' } },
});
const nodeCount = Number(values.nodes);
const podCount = Number(values.pods);
const CONCURRENCY = 32;

const clientOf = (s: ClusterServer): ApiClient =>
  new ApiClient({
    server: s.url,
    ca: readFileSync(path.join(s.dir, 'tls', 'ca.crt'), 'utf8'),
    token: s.token,
    maxSockets: CONCURRENCY + 8,
  });

/** Run `fn` over 0..n-1 with `CONCURRENCY` requests in flight. */
async function pool(n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

function node(i: number): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: `sim-${i}`, labels: { 'kubernetes.io/hostname': `sim-${i}`, zone: `z${i % 3}` } },
  };
}

const nodeStatus = {
  capacity: { cpu: '8', memory: '32Gi', pods: '110' },
  allocatable: { cpu: '8', memory: '32Gi', pods: '110' },
  conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: new Date().toISOString() }],
};

function pod(i: number): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `p-${i}`, labels: { app: 'bench' } },
    spec: {
      containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '100m', memory: '128Mi' } } }],
    },
  };
}

/** Resolves when `count` pods have been seen bound, through a watch (polling lists would load the server). */
function allBound(c: ApiClient, count: number): { done: Promise<void>; stop: () => void } {
  const bound = new Set<string>();
  const stopper = new AbortController();
  const done = new Promise<void>((resolve, reject) => {
    const onEvent = (e: { type: string; object: KObject }): void => {
      if ((e.object.spec as { nodeName?: string } | undefined)?.nodeName) bound.add(e.object.metadata?.name ?? '');
      if (bound.size >= count) resolve();
    };
    c.watch(
      '/api/v1/namespaces/default/pods',
      '0',
      { fieldSelector: 'spec.nodeName!=' },
      onEvent,
      stopper.signal,
    ).catch(reject);
  });
  return { done, stop: () => stopper.abort() };
}

type Mode = 'in-process' | 'own-process' | 'none';

/** Seconds from the first create until every pod is bound (or, with no scheduler, created). */
async function measure(mode: Mode): Promise<number> {
  const withScheduler = mode !== 'none';
  const cleanup = new Cleanup();
  try {
    const server = await startServer(
      cleanup,
      mode === 'in-process'
        ? ['--controllers=garbagecollector,namespace,serviceaccount']
        : mode === 'own-process'
          ? ['--controllers=garbagecollector,namespace,serviceaccount', '--disable-scheduler']
          : ['--disable-controller-manager', '--disable-scheduler'],
    );
    const scheduler =
      mode === 'own-process' ? startScheduler(cleanup, server, path.join(server.dir, 'scheduler.log')) : undefined;
    const c = clientOf(server);
    await pool(nodeCount, async (i) => {
      await c.create('/api/v1/nodes', node(i));
      await c.mergePatch(`/api/v1/nodes/sim-${i}/status`, { status: nodeStatus });
    });
    const watch = allBound(c, podCount);
    const cpuBefore = [cpuSeconds(server.proc.pid), cpuSeconds(scheduler?.pid)];
    const start = performance.now();
    await pool(podCount, (i) => c.create('/api/v1/namespaces/default/pods', pod(i)));
    const created = performance.now();
    if (withScheduler) await watch.done;
    watch.stop();
    const end = performance.now();
    const perPod = (pid: number | undefined, before: number): string =>
      `${((1e6 * (cpuSeconds(pid) - before)) / podCount).toFixed(0)} us`;
    console.log(
      `  ${mode === 'none' ? 'created only' : `scheduled (${mode})`}: creates took ${((created - start) / 1000).toFixed(2)} s, all done in ${((end - start) / 1000).toFixed(2)} s; CPU per pod: server ${perPod(server.proc.pid, cpuBefore[0]!)}${scheduler ? `, scheduler ${perPod(scheduler.pid, cpuBefore[1]!)}` : ''}`,
    );
    c.close();
    return (end - start) / 1000;
  } finally {
    await cleanup.run();
  }
}

console.log(`scheduler: ${nodeCount} simulated nodes, ${podCount} pods (100m CPU, 128Mi each)`);
const inProcess = await measure('in-process');
const ownProcess = await measure('own-process');
const ceiling = await measure('none');
const rate = (s: number): string => `${(podCount / s).toFixed(0)} pods/s`;
console.log(
  `  gantry scheduler in gantry server ${rate(inProcess)}, as its own process ${rate(ownProcess)} | API server creates alone ${rate(ceiling)} | ratio ${(ceiling / inProcess).toFixed(2)} / ${(ceiling / ownProcess).toFixed(2)} (creates-alone time / scheduled time)`,
);
