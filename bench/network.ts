/**
 * Networking cost: HTTP request throughput through a published port (127.0.0.1:<host port>, DNAT by
 * the portmap plugin) against straight to the container's bridge address, with the same loopback load
 * generator; and the latency `run --rm` gains with the default bridge network over `--net none`.
 *
 *   node --import tsx bench/network.ts [--runs 20] [--seconds 5]
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Cleanup, freePort, seedRegistry, startDaemon, startRegistry, tempDir, waitFor } from '../test/e2e/helpers.js';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { median, sh, time, engineApi } from './lib.js';

/** Keep-alive GETs from `connections` parallel clients for `seconds`; answers requests per second. */
async function load(host: string, port: number, seconds: number, connections = 32): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const end = Date.now() + seconds * 1000;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < end) {
      await new Promise<void>((resolve, reject) => {
        http
          .get({ host, port, path: '/', agent }, (res) => {
            res.resume();
            res.on('end', () => resolve());
          })
          .on('error', reject);
      });
      done++;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  agent.destroy();
  return done / seconds;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '20' }, seconds: { type: 'string', default: '5' } },
  });
  const runs = Number(values.runs);
  const seconds = Number(values.seconds);
  const cleanup = new Cleanup();
  try {
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    seedRegistry(reg, 'node:20', 'library/node:20');
    const d = await startDaemon(cleanup, { mirror: `http://${reg.addr}` });
    sh('docker', ['pull', '-q', 'busybox'], d.env);
    sh('docker', ['pull', '-q', 'node:20'], d.env);

    const api = (method: string, p: string, body?: unknown): Promise<unknown> => engineApi(d.sock, method, p, body);
    const runRm = async (networkMode: string): Promise<number> =>
      time(async () => {
        const { Id } = (await api('POST', '/containers/create', {
          Image: 'busybox',
          Cmd: ['true'],
          HostConfig: { AutoRemove: true, NetworkMode: networkMode },
        })) as { Id: string };
        const removed = api('POST', `/containers/${Id}/wait?condition=removed`);
        await api('POST', `/containers/${Id}/start`);
        await removed;
      });
    const none: number[] = [];
    const bridge: number[] = [];
    await runRm('none');
    await runRm('bridge');
    // Interleaved, so drift in the machine's load affects both alike.
    for (let i = 0; i < runs; i++) {
      none.push(await runRm('none'));
      bridge.push(await runRm('bridge'));
    }
    const added = median(bridge) - median(none);
    process.stdout.write(
      `run --rm true (Engine API, ${runs} runs, medians): --net none ${median(none).toFixed(0)} ms, default bridge ${median(bridge).toFixed(0)} ms, networking adds ${added.toFixed(0)} ms (goal: <= 30 ms)\n`,
    );

    const app = tempDir(cleanup);
    writeFileSync(
      path.join(app, 'server.js'),
      "require('http').createServer((q, r) => r.end('ok\\n')).listen(8080);\n",
    );
    const port = await freePort();
    sh(
      'docker',
      [
        'run',
        '-d',
        '--name',
        'benchweb',
        '-p',
        `${port}:8080`,
        '-v',
        `${app}:/app:ro`,
        'node:20',
        'node',
        '/app/server.js',
      ],
      d.env,
    );
    const ip = sh('docker', ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'benchweb'], d.env).trim();
    await waitFor(async () => (await load(ip, 8080, 0.2, 1).catch(() => 0)) > 0, 'the server answers', 15000);
    await load('127.0.0.1', port, 1);
    const direct = await load(ip, 8080, seconds);
    const published = await load('127.0.0.1', port, seconds);
    const directAgain = await load(ip, 8080, seconds);
    const directMean = (direct + directAgain) / 2;
    process.stdout.write(
      `HTTP keep-alive GETs, 32 connections, ${seconds} s each: direct to ${ip} ${directMean.toFixed(0)} req/s, published 127.0.0.1:${port} ${published.toFixed(0)} req/s, ratio ${(published / directMean).toFixed(2)} (goal: >= 0.8)\n`,
    );
    sh('docker', ['rm', '-f', 'benchweb'], d.env);
  } finally {
    await cleanup.run();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
