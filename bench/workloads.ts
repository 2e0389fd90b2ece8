/**
 * The workload controllers on a one-node cluster with real containers:
 * - a Job of 200 completions, parallelism 20, until Complete — beside the same 200 containers run
 *   straight on the node's engine 20 at a time (`docker run --rm`), what the Job adds being the
 *   controller, scheduler and agent;
 * - a CronJob every minute for N minutes (default 5): how many Jobs it made (exactly N expected);
 * - HPA reaction (default 15 s sync period): from CPU load on one pod to a new replica Running.
 *
 *   node --import tsx bench/workloads.ts [--completions 200] [--parallelism 20] [--cron-minutes 5]
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Cleanup, kubectl, run, startOneNodeCluster } from '../test/e2e/helpers.js';
import { row, shAsync, time } from './lib.js';

const { values } = parseArgs({
  options: {
    completions: { type: 'string', default: '200' },
    parallelism: { type: 'string', default: '20' },
    'cron-minutes': { type: 'string', default: '5' },
  },
});
const completions = Number(values.completions);
const parallelism = Number(values.parallelism);
const cronMinutes = Number(values['cron-minutes']);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const cleanup = new Cleanup();
try {
  const { d, server } = await startOneNodeCluster(cleanup, 'bench-1');
  const k = (args: string[], input?: string): string => {
    const r = run(kubectl, args, { env: server.env, input, timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  // The image is pulled once before either side is timed.
  k(['create', 'job', 'warm', '--image=busybox', '--', 'true']);
  k(['wait', '--for=condition=complete', 'job/warm', '--timeout=120s']);

  k(['create', 'cronjob', 'tick', '--image=busybox', '--schedule=*/1 * * * *', '--', 'true']);
  // Every Job made stays listed, so the count is read once at the end.
  k(['patch', 'cronjob', 'tick', '--type=merge', '-p', '{"spec":{"successfulJobsHistoryLimit":100}}']);
  const cronStart = Date.parse(k(['get', 'cronjob', 'tick', '-o', 'jsonpath={.metadata.creationTimestamp}']));

  const jobMs = await time(() => {
    k(
      ['apply', '-f', '-'],
      `apiVersion: batch/v1
kind: Job
metadata: {name: many}
spec:
  completions: ${completions}
  parallelism: ${parallelism}
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ['true']}]
`,
    );
    k(['wait', '--for=condition=complete', 'job/many', '--timeout=900s']);
  });
  const engineMs = await time(async () => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next++ < completions) await shAsync('docker', ['run', '--rm', 'busybox', 'true'], d.env);
    };
    await Promise.all(Array.from({ length: parallelism }, worker));
  });
  row(`Job ${completions} completions / ${parallelism}`, jobMs, 'engine docker run', engineMs);
  k(['delete', 'job', 'many', '--wait=false']);

  // HPA: load on the one pod, until a second replica runs.
  k(
    ['apply', '-f', '-'],
    `apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: busybox, command: [sleep, '3600'], resources: {requests: {cpu: 100m}}}]
`,
  );
  k(['rollout', 'status', 'deploy/burn', '--timeout=60s']);
  k(['autoscale', 'deployment', 'burn', '--cpu-percent=50', '--min=1', '--max=2']);
  const pod = k(['get', 'pods', '-l', 'app=burn', '-o', 'jsonpath={.items[0].metadata.name}']);
  // Metrics first flow once asked: wait for the HPA to see the idle pod.
  while (!/cpu: \d+%/.test(k(['get', 'hpa', 'burn']))) await sleep(500);
  const load = spawn(kubectl, ['exec', pod, '--', 'sh', '-c', 'while [ ! -e /tmp/stop ]; do :; done'], {
    env: { ...process.env, ...server.env },
    stdio: 'ignore',
  });
  cleanup.add(() => {
    load.kill();
  });
  const loadAt = Date.now();
  while (
    k(['get', 'pods', '-l', 'app=burn', '--field-selector=status.phase=Running', '-o', 'name']).trim().split('\n')
      .length < 2
  )
    await sleep(250);
  const reactionMs = Date.now() - loadAt;
  k(['exec', pod, '--', 'touch', '/tmp/stop']);
  process.stdout.write(
    `HPA reaction (load → 2nd replica Running) ${(reactionMs / 1000).toFixed(1)} s (15 s sync period, 10 s metrics resolution; kube-controller-manager with metrics-server: 15-30 s)\n`,
  );

  const windowEnd = cronStart + cronMinutes * 60_000;
  while (Date.now() < windowEnd + 5000) await sleep(1000);
  const made = k(['get', 'jobs', '-o', 'jsonpath={.items[*].metadata.name}'])
    .split(' ')
    .filter((n) => /^tick-\d+$/.test(n))
    .map((n) => Number(n.slice(5)) * 60_000)
    .filter((t) => t > cronStart && t <= windowEnd);
  process.stdout.write(
    `CronJob */1 for ${cronMinutes} min: ${made.length} Jobs for the minutes in the window (expected ${cronMinutes})\n`,
  );
} finally {
  await cleanup.run();
}
