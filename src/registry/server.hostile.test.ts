/**
 * Hostile registry clients: names, tags, digests and upload IDs that try to climb out of the data root
 * on every verb, two writers on one upload, blobs whose bytes do not match, unauthenticated writes,
 * and bcrypt kept off the event loop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { sha256 } from '../common/digest.js';
import { RegistryServer } from './server.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request with its path sent exactly as written (percent-encodings included). */
function raw(
  port: number,
  method: string,
  rawPath: string,
  body?: Buffer | (() => AsyncIterable<Buffer>),
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }),
      );
    });
    req.on('error', reject);
    if (typeof body === 'function') {
      void (async () => {
        for await (const c of body()) req.write(c);
        req.end();
      })();
    } else req.end(body);
  });
}

async function withRegistry(fn: (port: number, dir: string) => Promise<void>, htpasswd?: string): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-registry-hostile-'));
  let hp: string | undefined;
  if (htpasswd) {
    hp = path.join(dir, 'htpasswd');
    await writeFile(hp, htpasswd);
  }
  // The data root sits two levels down, so `../../sentinel` names the file beside it.
  const srv = await RegistryServer.create({ dataRoot: path.join(dir, 'data', 'root'), htpasswd: hp });
  const port = await srv.listen('127.0.0.1', 0);
  try {
    await fn(port, dir);
  } finally {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('names, tags, digests and upload IDs that climb out are refused on every verb', () =>
  withRegistry(async (port, dir) => {
    const sentinel = path.join(dir, 'sentinel');
    await writeFile(sentinel, 'outside');
    const climbs = [
      `${'..%2F'.repeat(6)}sentinel`,
      `${'%2e%2e%2f'.repeat(7)}sentinel`,
      '..%2F..%2F..%2Fsentinel',
      '%2e%2e%2f%2e%2e%2f%2e%2e%2fsentinel',
      '..%2f..%2f..%2f..%2fsentinel',
      '..',
      '%2e%2e',
    ];
    const paths = climbs.flatMap((c) => [
      `/v2/a/manifests/${c}`,
      `/v2/a/blobs/${c}`,
      `/v2/a/blobs/sha256:${c}`,
      `/v2/a/blobs/uploads/${c}`,
      `/v2/${c}/manifests/latest`,
      `/v2/${c}/a/tags/list`,
      `/v2/a/${c}/manifests/latest`,
    ]);
    for (const p of paths) {
      for (const method of ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'POST']) {
        const r = await raw(port, method, p, Buffer.from('{}'));
        assert.ok([400, 404, 405].includes(r.status), `${method} ${p}: ${r.status} ${r.body}`);
      }
    }
    assert.ok(existsSync(sentinel), 'nothing outside the data root was removed');
  }));

test('one writer per upload; a blob is visible only when its bytes match its digest', () =>
  withRegistry(async (port) => {
    const start = await raw(port, 'POST', '/v2/a/blobs/uploads/');
    assert.equal(start.status, 202);
    const location = String(start.headers.location);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const slow = raw(port, 'PATCH', location, async function* () {
      yield Buffer.from('first ');
      await held;
      yield Buffer.from('writer');
    });
    await new Promise((r) => setTimeout(r, 100));
    const second = await raw(port, 'PATCH', location, Buffer.from('intruder'));
    assert.equal(second.status, 409);
    assert.match(second.body, /BLOB_UPLOAD_INVALID/);
    release();
    assert.equal((await slow).status, 202);
    const wrong = sha256('something else');
    const put = await raw(port, 'PUT', `${location}?digest=${wrong}`);
    assert.equal(put.status, 400);
    assert.match(put.body, /DIGEST_INVALID/);
    assert.equal((await raw(port, 'HEAD', `/v2/a/blobs/${wrong}`)).status, 404);
    assert.equal((await raw(port, 'HEAD', `/v2/a/blobs/${sha256('first writer')}`)).status, 404);
    const ok = await raw(port, 'POST', `/v2/a/blobs/uploads/?digest=${sha256('whole')}`, Buffer.from('whole'));
    assert.equal(ok.status, 201);
    assert.equal((await raw(port, 'GET', `/v2/a/blobs/${sha256('whole')}`)).body, 'whole');
  }));

test('with an htpasswd file every write needs credentials, and bcrypt never blocks the event loop', () =>
  withRegistry(
    async (port) => {
      for (const [method, p] of [
        ['POST', '/v2/a/blobs/uploads/'],
        ['PUT', '/v2/a/manifests/latest'],
        ['PATCH', '/v2/a/blobs/uploads/00000000-0000-0000-0000-000000000000'],
        ['DELETE', `/v2/a/manifests/${sha256('x')}`],
      ] as const) {
        assert.equal(
          (await raw(port, method, p, method === 'DELETE' ? undefined : Buffer.from('{}'))).status,
          401,
          `${method} ${p}`,
        );
      }
      const good = { authorization: `Basic ${Buffer.from('alice:wonder').toString('base64')}` };
      const bad = { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` };
      assert.equal((await raw(port, 'POST', '/v2/a/blobs/uploads/', undefined, good)).status, 202);
      // Four wrong passwords at cost 12 take about a second of bcrypt; timers keep firing meanwhile.
      let worstTick = 0;
      let last = Date.now();
      const ticker = setInterval(() => {
        worstTick = Math.max(worstTick, Date.now() - last);
        last = Date.now();
      }, 5);
      const replies = await Promise.all([1, 2, 3, 4].map(() => raw(port, 'GET', '/v2/', undefined, bad)));
      clearInterval(ticker);
      assert.deepEqual(
        replies.map((r) => r.status),
        [401, 401, 401, 401],
      );
      assert.ok(worstTick < 150, `the event loop stalled for ${worstTick} ms`);
    },
    `alice:${bcrypt.hashSync('wonder', 12)}\n`,
  ));
