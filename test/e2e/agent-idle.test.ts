/**
 * Issue 12: the node agent is event-driven (a PLEG fed by the engine's event stream, status written only
 * when it changes), so a node with 30 idle pods costs it under 2 % of one core. Its CPU time is read
 * from /proc while nothing happens.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Cleanup, hasKubectl, kubectl, run, startOneNodeCluster, waitFor, type ClusterServer } from './helpers.js';

const PODS = 30;
const MEASURE_MS = 20_000;

/** User plus system CPU seconds a process has used. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(run('getconf', ['CLK_TCK']).stdout.trim()) || 100;
  // utime and stime are the 14th and 15th fields; the split above starts at the 3rd.
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

describe('an idle node agent', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  let server: ClusterServer;
  let agentPid: number;
  const ok = (args: string[]): string => {
    const r = run(kubectl, args, { env: server.env });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    const cluster = await startOneNodeCluster(cleanup, 'idle-1');
    server = cluster.server;
    agentPid = cluster.agent.pid!;
  });
  after(() => cleanup.run());

  test(`with ${PODS} running pods and nothing happening, the agent uses under 2 % of one core`, async () => {
    const file = path.join(server.dir, 'idle.yaml');
    writeFileSync(
      file,
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: idle}
spec:
  replicas: ${PODS}
  selector: {matchLabels: {app: idle}}
  template:
    metadata: {labels: {app: idle}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: sleeper, image: busybox, command: [sleep, '3600']}]
`,
    );
    ok(['apply', '-f', file]);
    await waitFor(
      () =>
        (
          ok(['get', 'pods', '-l', 'app=idle', '--field-selector', 'status.phase=Running', '-o', 'name']).match(
            /pod\//g,
          ) ?? []
        ).length === PODS,
      `${PODS} running pods`,
      240_000,
    );
    // Let the last status writes and events settle.
    await new Promise((r) => setTimeout(r, 5000));
    const before = cpuSeconds(agentPid);
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    const used = cpuSeconds(agentPid) - before;
    const share = used / (MEASURE_MS / 1000);
    console.log(`agent CPU with ${PODS} idle pods: ${(share * 100).toFixed(2)} % of one core`);
    assert.ok(share < 0.02, `the agent used ${(share * 100).toFixed(2)} % of one core`);
    ok(['delete', 'deployment', 'idle', '--cascade=foreground']);
  });
});
