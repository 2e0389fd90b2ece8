/**
 * Persistent storage on a one-node cluster with real containers, N rounds (default 10), medians:
 * - a claim of the default local-path class (WaitForFirstConsumer) and a pod using it, applied together:
 *   the time until the claim is Bound;
 * - the same pod until Ready, beside the same pod with an emptyDir volume instead (what the claim adds
 *   being the scheduler's selected-node write, provisioning, binding and the agent's wait for Bound).
 *
 *   node --import tsx bench/storage.ts [--rounds 10]
 */
import { parseArgs } from 'node:util';
import { Cleanup, kubectl, run, startOneNodeCluster } from '../test/e2e/helpers.js';
import { median, row, time } from './lib.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' } } });
const rounds = Number(values.rounds);

const podYaml = (name: string, volume: string): string => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: c, image: busybox, command: [sleep, '3600'], volumeMounts: [{name: d, mountPath: /data}]}
  volumes:
  - {name: d, ${volume}}
`;

const cleanup = new Cleanup();
try {
  const { server } = await startOneNodeCluster(cleanup, 'bench-1');
  const k = (args: string[], input?: string): string => {
    const r = run(kubectl, args, { env: server.env, input, timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  // The image is pulled once before either side is timed.
  k(['apply', '-f', '-'], podYaml('warm', 'emptyDir: {}'));
  k(['wait', '--for=condition=Ready', 'pod/warm', '--timeout=120s']);
  const bound: number[] = [];
  const claimReady: number[] = [];
  const emptyReady: number[] = [];
  for (let i = 0; i < rounds; i++) {
    emptyReady.push(
      await time(() => {
        k(['apply', '-f', '-'], podYaml(`empty-${i}`, 'emptyDir: {}'));
        k(['wait', '--for=condition=Ready', `pod/empty-${i}`, '--timeout=120s']);
      }),
    );
    const claim = `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data-${i}}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
${podYaml(`claim-${i}`, `persistentVolumeClaim: {claimName: data-${i}}`)}`;
    const t0 = performance.now();
    k(['apply', '-f', '-'], claim);
    k(['wait', '--for=jsonpath={.status.phase}=Bound', `pvc/data-${i}`, '--timeout=120s']);
    bound.push(performance.now() - t0);
    k(['wait', '--for=condition=Ready', `pod/claim-${i}`, '--timeout=120s']);
    claimReady.push(performance.now() - t0);
    k(['delete', 'pod', `empty-${i}`, `claim-${i}`, '--wait=false']);
  }
  process.stdout.write(
    `PVC (local-path, WaitForFirstConsumer) create → Bound, with its pod: median ${median(bound).toFixed(0)} ms over ${rounds}\n`,
  );
  row('pod with a PVC → Ready', median(claimReady), 'pod with emptyDir', median(emptyReady));
} finally {
  await cleanup.run();
}
