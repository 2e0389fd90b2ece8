import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { quietLogger } from '../controllers/testing.js';
import { backendOf, LoadBalancer } from './loadbalancer.js';

/** A loopback server answering every connection with its name; close() makes its port refuse. */
async function namedServer(name: string): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.end(name);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A port nothing listens on. */
async function refusedPort(): Promise<number> {
  const s = await namedServer('gone');
  await s.close();
  return s.port;
}

function ask(port: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => resolve('closed'));
    s.on('close', () => resolve(chunks.length ? Buffer.concat(chunks).toString() : 'closed'));
  });
}

const balancers: LoadBalancer[] = [];
after(() => Promise.all(balancers.map((b) => b.close())));

async function balancer(ports: number[], healthIntervalMs = 60_000): Promise<number> {
  const lb = new LoadBalancer({
    backends: ports.map((port) => ({ host: '127.0.0.1', port })),
    logger: quietLogger,
    dialTimeoutMs: 500,
    healthIntervalMs,
  });
  balancers.push(lb);
  return lb.listen('127.0.0.1', 0);
}

test('connections stay with the first server that answers, skipping one that refuses', async () => {
  const b = await namedServer('b');
  const c = await namedServer('c');
  const port = await balancer([await refusedPort(), b.port, c.port]);
  assert.deepEqual(await Promise.all([ask(port), ask(port), ask(port)]), ['b', 'b', 'b']);
  await b.close();
  assert.equal(await ask(port), 'c', 'the next server once the current one refuses');
  assert.equal(await ask(port), 'c');
  await c.close();
});

test('with no server answering, a connection is closed; a server back is found by the health check', async () => {
  const gone = await refusedPort();
  const port = await balancer([gone], 100);
  assert.equal(await ask(port), 'closed');
  const back = net.createServer((s) => s.on('error', () => undefined).end('back'));
  await new Promise<void>((r) => back.listen(gone, '127.0.0.1', r));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await ask(port), 'back');
  await new Promise((r) => back.close(r));
});

test('servers are given as https URLs', () => {
  const table: Array<[string, { host: string; port: number } | RegExp]> = [
    ['https://10.0.0.1:6443', { host: '10.0.0.1', port: 6443 }],
    ['https://[fd00::1]:6443', { host: 'fd00::1', port: 6443 }],
    ['https://api.example:6443/', { host: 'api.example', port: 6443 }],
    ['https://10.0.0.1', { host: '10.0.0.1', port: 443 }],
    ['http://10.0.0.1:6443', /give https:\/\/HOST:PORT/],
    ['https://10.0.0.1:6443/api', /give https:\/\/HOST:PORT/],
    ['10.0.0.1:6443', /give https:\/\/HOST:PORT/],
  ];
  for (const [url, want] of table) {
    if (want instanceof RegExp) assert.throws(() => backendOf(url), want, url);
    else assert.deepEqual(backendOf(url), want, url);
  }
});
