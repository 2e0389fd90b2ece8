/**
 * A local multi-node cluster: `gantry cluster up --nodes 4` until every node is Ready (kind needs 30-60 s
 * per cluster and cannot run here, so its published figure is the reference), then a Deployment of 100
 * pods until all are Running across the four nodes, and `gantry cluster down`.
 *
 *   node --import tsx bench/multinode.ts [--nodes 4] [--pods 100]
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Cleanup, GANTRY, kubectl, run, seedRegistry, startRegistry, tempDir } from '../test/e2e/helpers.js';
import { freeRanges } from '../test/e2e/localcluster.js';

const { values } = parseArgs({
  options: { nodes: { type: 'string', default: '4' }, pods: { type: 'string', default: '100' } },
});
const nodes = Number(values.nodes);
const pods = Number(values.pods);

const cleanup = new Cleanup();
try {
  const root = tempDir(cleanup, 'gantry-bench-multinode-');
  const name = `bench${randomBytes(2).toString('hex')}`;
  const { subnet } = freeRanges();
  const env = {
    ...(process.env as Record<string, string>),
    GANTRY_CLUSTER_INDEX: path.join(root, 'index'),
    KUBECONFIG: path.join(root, 'cluster', 'kubeconfig.yaml'),
  };
  const reg = await startRegistry(cleanup, 'gantry');
  seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
  const port = reg.addr.split(':')[1]!;
  cleanup.add(() => {
    run(GANTRY, ['cluster', 'down', '--name', name], { env });
  });
  const t0 = performance.now();
  const up = run(
    GANTRY,
    ['cluster', 'up', '--nodes', String(nodes), '--name', name, '--data-dir', path.join(root, 'cluster')]
      .concat(['--subnet', subnet, '--host-registry-port', port, '--registry-mirror', `http://127.0.0.1:${port}`])
      .concat(['--no-kubeconfig']),
    { env, timeoutMs: 180_000 },
  );
  if (up.code !== 0) throw new Error(up.stderr);
  const upSecs = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const k = (args: string[]): string => run(kubectl, args, { env }).stdout;
  k(['create', 'deployment', 'many', '--image=busybox', `--replicas=${pods}`, '--', 'sleep', '3600']);
  let placed = new Map<string, number>();
  for (;;) {
    const rows = k([
      'get',
      'pods',
      '-l',
      'app=many',
      '--no-headers',
      '-o',
      'custom-columns=PHASE:.status.phase,NODE:.spec.nodeName',
    ])
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    const running = rows.filter((r) => r[0] === 'Running');
    if (running.length >= pods) {
      placed = new Map();
      for (const r of running) placed.set(r[1]!, (placed.get(r[1]!) ?? 0) + 1);
      break;
    }
    if (performance.now() - t1 > 600_000)
      throw new Error(`only ${running.length}/${pods} pods Running after 10 minutes`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const podSecs = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  const down = run(GANTRY, ['cluster', 'down', '--name', name], { env, timeoutMs: 300_000 });
  if (down.code !== 0) throw new Error(down.stderr);
  const downSecs = (performance.now() - t2) / 1000;
  console.log(
    `multinode: cluster up --nodes ${nodes} until all Ready ${upSecs.toFixed(1)} s (goal <= 15 s; kind 30-60 s) | ` +
      `${pods} pods Running in ${podSecs.toFixed(1)} s (${[...placed.values()].join('/')} per node) | down ${downSecs.toFixed(1)} s`,
  );
} finally {
  await cleanup.run();
}
