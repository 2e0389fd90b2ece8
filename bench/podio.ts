/**
 * `kubectl port-forward` throughput on a one-node cluster with real containers: a 200 MB download from
 * busybox httpd in a pod, through port-forward (kubectl 1.33: SPDY tunnelled in a WebSocket; kubectl
 * 1.27: SPDY) beside the same download straight from the pod's address. Median of 3 each.
 *
 *   node --import tsx bench/podio.ts [--megabytes 200]
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Cleanup, kubectl, kubectl127, run, startOneNodeCluster, waitFor } from '../test/e2e/helpers.js';
import { median, row, time } from './lib.js';

const { values } = parseArgs({ options: { megabytes: { type: 'string', default: '200' } } });
const megabytes = Number(values.megabytes);

const download = (host: string, port: number): Promise<number> =>
  new Promise((resolve, reject) => {
    http
      .get({ host, port, path: '/big', agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve(n));
      })
      .on('error', reject);
  });

const cleanup = new Cleanup();
try {
  const { server } = await startOneNodeCluster(cleanup, 'bench-1');
  const k = (args: string[], input?: string): string => {
    const r = run(kubectl, args, { env: server.env, input, timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  k(
    ['apply', '-f', '-'],
    `apiVersion: v1
kind: Pod
metadata: {name: blob}
spec:
  containers:
  - name: web
    image: busybox
    command: [sh, -c, 'mkdir /w && dd if=/dev/urandom of=/w/big bs=1M count=${megabytes} 2>/dev/null && httpd -f -p 8080 -h /w']
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
`,
  );
  k(['wait', '--for=condition=Ready', 'pod/blob', '--timeout=180s']);
  const podIp = k(['get', 'pod', 'blob', '-o', 'jsonpath={.status.podIP}']);
  const bytes = megabytes * 1024 * 1024;
  const measure = async (host: string, port: number): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < 3; i++)
      times.push(
        await time(async () => {
          const n = await download(host, port);
          if (n !== bytes) throw new Error(`downloaded ${n} bytes, expected ${bytes}`);
        }),
      );
    return median(times);
  };
  const direct = await measure(podIp, 8080);
  for (const [name, bin] of [
    ['port-forward kubectl 1.33', kubectl],
    ['port-forward kubectl 1.27', kubectl127],
  ] as const) {
    const child = spawn(bin, ['port-forward', 'pod/blob', ':8080'], {
      env: { ...process.env, ...server.env },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    cleanup.add(() => {
      child.kill();
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => /Forwarding from 127\.0\.0\.1:\d+/.test(out), 'port-forward', 20_000);
    const port = Number(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(out)![1]);
    row(`${name} (${megabytes} MB)`, await measure('127.0.0.1', port), 'direct to the pod', direct, bytes);
    child.kill();
  }
} finally {
  await cleanup.run();
}
