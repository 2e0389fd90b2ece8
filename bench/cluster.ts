/**
 * The cluster's cost over the engine it runs pods on: the time from creating a Pod (or a Deployment of
 * ten) through the API server until it is Running, against starting the same containers straight
 * through the Engine API. The cluster path adds the scheduler, the node agent's watch, an
 * infrastructure container per pod and the status write back; the peer here is the engine itself,
 * since k3s cannot run on this machine.
 *
 *   node --import tsx bench/cluster.ts [--runs 5] [--replicas 10]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '../src/cluster/client/client.js';
import {
  agentArgs,
  Cleanup,
  GANTRY,
  run,
  seedRegistry,
  startDaemon,
  startProcess,
  startRegistry,
  startServer,
  waitFor,
} from '../test/e2e/helpers.js';
import { engineApi, median, row, time } from './lib.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, replicas: { type: 'string', default: '10' } },
});
const runs = Number(values.runs);
const replicas = Number(values.replicas);

const cleanup = new Cleanup();
try {
  const reg = await startRegistry(cleanup, 'gantry');
  seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
  const d = await startDaemon(cleanup, { mirror: `http://${reg.addr}`, insecure: [reg.addr] });
  run('docker', ['pull', 'busybox'], { env: d.env });
  const server = await startServer(cleanup);
  startProcess(cleanup, GANTRY, await agentArgs(server, d, 'bench'), path.join(server.dir, 'agent.log'));
  const api = new ApiClient({
    server: server.url,
    ca: readFileSync(path.join(server.dir, 'tls', 'ca.crt'), 'utf8'),
    token: server.token,
  });
  cleanup.add(() => api.close());
  await waitFor(async () => (await api.list('/api/v1/nodes')).items.length === 1, 'the node', 20000);
  const pods = '/api/v1/namespaces/default/pods';
  const running = async (selector: string, n: number): Promise<void> => {
    for (;;) {
      const list = await api.list(pods, { labelSelector: selector });
      if (list.items.filter((p) => (p.status as { phase?: string } | undefined)?.phase === 'Running').length >= n)
        return;
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const gone = async (selector: string): Promise<void> => {
    while ((await api.list(pods, { labelSelector: selector })).items.length)
      await new Promise((r) => setTimeout(r, 50));
  };
  const pod = (name: string): Record<string, unknown> => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { bench: name } },
    spec: {
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }],
    },
  });

  // One pod, created until Running, against one container created and started.
  const podTimes: number[] = [];
  const engineTimes: number[] = [];
  for (let i = 0; i < runs; i++) {
    const name = `one-${i}`;
    podTimes.push(
      await time(async () => {
        await api.create(pods, pod(name) as never);
        await running(`bench=${name}`, 1);
      }),
    );
    await api.delete(`${pods}/${name}`, { gracePeriodSeconds: 0 });
    await gone(`bench=${name}`);
    engineTimes.push(
      await time(async () => {
        const c = (await engineApi(d.sock, 'POST', '/containers/create', {
          Image: 'busybox',
          Cmd: ['sleep', '3600'],
        })) as { Id: string };
        await engineApi(d.sock, 'POST', `/containers/${c.Id}/start`);
        cleanup.add(() => void engineApi(d.sock, 'DELETE', `/containers/${c.Id}?force=1`));
      }),
    );
  }
  console.log(`cluster: ${runs} runs each, medians; ${replicas} replicas for the Deployment`);
  row('pod created -> Running', median(podTimes), 'engine create+start', median(engineTimes));

  // A Deployment of N, against N containers started at once.
  const deployments = '/apis/apps/v1/namespaces/default/deployments';
  const deployTimes: number[] = [];
  const burstTimes: number[] = [];
  for (let i = 0; i < Math.min(runs, 3); i++) {
    const name = `many-${i}`;
    deployTimes.push(
      await time(async () => {
        await api.create(deployments, {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name },
          spec: {
            replicas,
            selector: { matchLabels: { bench: name } },
            template: {
              metadata: { labels: { bench: name } },
              spec: {
                terminationGracePeriodSeconds: 0,
                containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }],
              },
            },
          },
        } as never);
        await running(`bench=${name}`, replicas);
      }),
    );
    await api.delete(`${deployments}/${name}`, { propagationPolicy: 'Foreground' });
    await gone(`bench=${name}`);
    burstTimes.push(
      await time(() =>
        Promise.all(
          Array.from({ length: replicas }, async () => {
            const c = (await engineApi(d.sock, 'POST', '/containers/create', {
              Image: 'busybox',
              Cmd: ['sleep', '3600'],
            })) as { Id: string };
            await engineApi(d.sock, 'POST', `/containers/${c.Id}/start`);
            cleanup.add(() => void engineApi(d.sock, 'DELETE', `/containers/${c.Id}?force=1`));
          }),
        ),
      ),
    );
  }
  row(
    `deployment of ${replicas} -> all Running`,
    median(deployTimes),
    `engine ${replicas} at once`,
    median(burstTimes),
  );
} finally {
  await cleanup.run();
}
