import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { sha256 } from '../common/digest.js';
import { RegistryClient } from './client.js';
import { RegistryServer } from './server.js';

/**
 * Docker Hub's flow: the registry answers 401 with `WWW-Authenticate: Bearer realm=...,service=...,
 * scope=...`; the client fetches a token from the realm (with basic credentials if it has them) and
 * retries with `Authorization: Bearer`. Here a small front checks tokens before the real registry.
 */
test('bearer token flow: challenge, token endpoint with credentials, retry with the token', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-bearer-'));
  const backend = await RegistryServer.create({ dataRoot: dir });
  const backendPort = await backend.listen('127.0.0.1', 0);
  const scopes: string[] = [];
  let tokenRequests = 0;
  const front = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      tokenRequests++;
      scopes.push(...url.searchParams.getAll('scope'));
      const basic = req.headers.authorization === 'Basic ' + Buffer.from('user:pass').toString('base64');
      if (!basic) {
        res.writeHead(401);
        res.end('{"details":"incorrect username or password"}');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token: 'tok-123', expires_in: 300 }));
      return;
    }
    if (req.headers.authorization !== 'Bearer tok-123') {
      req.resume();
      res.writeHead(401, {
        'WWW-Authenticate': `Bearer realm="http://127.0.0.1:${(front.address() as { port: number }).port}/token",service="test.registry",scope="repository:a/b:pull,push"`,
        'Content-Type': 'application/json',
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    const up = http.request(
      { host: '127.0.0.1', port: backendPort, path: req.url, method: req.method, headers: req.headers },
      (ur) => {
        res.writeHead(ur.statusCode ?? 500, ur.headers);
        ur.pipe(res);
      },
    );
    req.pipe(up);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
  const addr = `127.0.0.1:${(front.address() as { port: number }).port}`;
  try {
    await assert.rejects(
      (async () => {
        const s = await new RegistryClient().session(addr, 'a/b', { username: 'user', password: 'wrong' }, 'pull,push');
        await s.hasBlob(sha256('x'));
      })(),
      /unauthorized/,
    );
    const s = await new RegistryClient().session(addr, 'a/b', { username: 'user', password: 'pass' }, 'pull,push');
    const data = Buffer.from('layer bytes');
    await s.uploadBlob(sha256(data), data.length, async () => Readable.from([data]));
    assert.equal(await s.hasBlob(sha256(data)), true);
    assert.ok(scopes.includes('repository:a/b:pull,push'), scopes.join(' '));
    assert.ok(tokenRequests >= 2);
  } finally {
    await new Promise<void>((r) => front.close(() => r()));
    front.closeAllConnections();
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('mirrors come first for docker.io pulls only, and can be skipped', () => {
  const c = new RegistryClient({ mirrors: ['http://127.0.0.1:5999'] });
  assert.deepEqual(
    c.endpoints('docker.io', true).map((e) => e.base.origin),
    ['http://127.0.0.1:5999', 'https://registry-1.docker.io'],
  );
  assert.deepEqual(
    c.endpoints('docker.io', false).map((e) => e.base.origin),
    ['https://registry-1.docker.io'],
  );
  assert.deepEqual(
    c.endpoints('127.0.0.1:5000', true).map((e) => e.base.origin),
    ['https://127.0.0.1:5000', 'http://127.0.0.1:5000'],
  );
});
