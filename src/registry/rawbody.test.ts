import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureTls } from '../cluster/apiserver/tls.js';
import { MAX_HEAD, rawGet, type RawBody } from './rawbody.js';

/** A server answering each request with what `answer` writes to the socket, recording the heads it got. */
async function rawServer(
  answer: (head: string, socket: net.Socket) => void,
): Promise<{ url: (p: string) => URL; heads: string[]; close: () => void }> {
  const heads: string[] = [];
  const server = net.createServer((socket) => {
    let got = '';
    socket.on('error', () => undefined);
    socket.on('data', (d) => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      heads.push(got.slice(0, end));
      answer(got.slice(0, end), socket);
      got = '';
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { url: (p) => new URL(`http://127.0.0.1:${port}${p}`), heads, close: () => server.close() };
}

/** Read a body into a ring of `ringSize` bytes freed a little later each time it fills, as a worker would. */
function readAllRaw(body: RawBody, ringSize = 4096): Promise<Buffer> {
  const ring = new Uint8Array(ringSize);
  const parts: Buffer[] = [];
  let filled = 0;
  return new Promise((resolve, reject) =>
    body.pipe({
      space: () => (filled < ringSize ? ring.subarray(filled) : undefined),
      written: (n) => {
        parts.push(Buffer.from(ring.subarray(filled, filled + n)));
        filled += n;
        if (filled === ringSize)
          setTimeout(() => {
            filled = 0;
            body.resume();
          }, 1);
      },
      end: () => resolve(Buffer.concat(parts)),
      error: reject,
    }),
  );
}

const payload = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) & 255));

test('a plain answer is read into the caller memory whole, across pauses and head/body packets', async () => {
  const srv = await rawServer((head, socket) => {
    if (head.startsWith('GET /split')) {
      // Head and the first body bytes in one packet, the rest in pieces.
      socket.write(
        Buffer.concat([
          Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`),
          payload.subarray(0, 10),
        ]),
      );
      let at = 10;
      const more = (): void => {
        if (at >= payload.length) return void socket.end();
        socket.write(payload.subarray(at, at + 7000));
        at += 7000;
        setImmediate(more);
      };
      more();
    } else if (head.startsWith('GET /extra')) {
      // More than it promised: only the promised bytes are the body.
      socket.end(
        Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`), payload, payload]),
      );
    } else if (head.startsWith('GET /empty')) {
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    } else {
      socket.end(
        Buffer.concat([Buffer.from(`HTTP/1.0 200 OK\r\ncontent-length: ${payload.length}\r\nX-A: b\r\n\r\n`), payload]),
      );
    }
  });
  try {
    for (const p of ['/whole', '/split', '/extra']) {
      const a = await rawGet(srv.url(p), { headers: { Authorization: 'Bearer t' } });
      assert.ok(a.body, p);
      assert.equal(a.body.size, payload.length);
      assert.deepEqual(await readAllRaw(a.body), payload, p);
    }
    const empty = await rawGet(srv.url('/empty'));
    assert.deepEqual(await readAllRaw(empty.body!), Buffer.alloc(0));
    assert.match(
      srv.heads[0]!,
      /^GET \/whole HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\n.*Authorization: Bearer t\r\nConnection: close$/s,
    );
  } finally {
    srv.close();
  }
});

test('redirects are followed, credentials kept only on the same host; too many end as a status', async () => {
  const storage = await rawServer((_head, socket) =>
    socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`), payload])),
  );
  const registry = await rawServer((head, socket) => {
    if (head.startsWith('GET /loop'))
      return socket.end('HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n');
    if (head.startsWith('GET /blob')) return socket.end('HTTP/1.1 307 Temporary Redirect\r\nLocation: /moved\r\n\r\n');
    socket.end(`HTTP/1.1 307 Temporary Redirect\r\nLocation: ${storage.url('/data?sig=1').href}\r\n\r\n`);
  });
  try {
    const a = await rawGet(registry.url('/blob'), { headers: { Authorization: 'Bearer secret' } });
    assert.deepEqual(await readAllRaw(a.body!), payload);
    assert.match(registry.heads[1]!, /^GET \/moved .*Authorization: Bearer secret/s);
    assert.match(storage.heads[0]!, /^GET \/data\?sig=1 HTTP\/1\.1/);
    assert.doesNotMatch(storage.heads[0]!, /Authorization/);
    const loop = await rawGet(registry.url('/loop'));
    assert.deepEqual(loop, { status: 302 });
    assert.equal(registry.heads.filter((h) => h.startsWith('GET /loop')).length, 6);
  } finally {
    registry.close();
    storage.close();
  }
});

test('answers the general client must handle, and hostile heads and bodies', async () => {
  const answers: Record<string, string | ((s: net.Socket) => void)> = {
    '/missing': 'HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}',
    '/chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    '/nolength': 'HTTP/1.1 200 OK\r\n\r\nabc',
    '/twolengths': 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
    '/badlength': 'HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\nabc',
    '/status': 'HTTP/2 200\r\nContent-Length: 3\r\n\r\nabc',
    '/fold': 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n folded\r\n\r\nabc',
    '/space': 'HTTP/1.1 200 OK\r\nContent Length: 3\r\n\r\nabc',
    '/nul': 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 3\r\n\r\nabc',
    '/huge': (s) => s.write(`HTTP/1.1 200 OK\r\nX-A: ${'a'.repeat(MAX_HEAD)}`),
    '/cut': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this'),
    '/nohead': (s) => s.end('HTTP/1.1 200 OK\r\n'),
  };
  const srv = await rawServer((head, socket) => {
    const a = answers[head.split(' ')[1]!]!;
    if (typeof a === 'string') socket.end(a);
    else a(socket);
  });
  const cases: Array<[string, { status?: number; rejects?: RegExp; bodyFails?: RegExp }]> = [
    ['/missing', { status: 404 }],
    ['/chunked', { status: 200 }],
    ['/nolength', { status: 200 }],
    ['/twolengths', { status: 200 }],
    ['/badlength', { status: 200 }],
    ['/status', { rejects: /malformed response status line "HTTP\/2 200"/ }],
    ['/fold', { rejects: /malformed response header " folded"/ }],
    ['/space', { rejects: /malformed response header "Content Length: 3"/ }],
    ['/nul', { rejects: /malformed response header/ }],
    ['/huge', { rejects: /response head from 127\.0\.0\.1:\d+ larger than 16384 bytes/ }],
    ['/cut', { bodyFails: /premature close of 127\.0\.0\.1:\d+'s answer after 9 of 100 bytes/ }],
    ['/nohead', { rejects: /premature close .* before the response head/ }],
  ];
  try {
    for (const [p, want] of cases) {
      if (want.rejects) {
        await assert.rejects(rawGet(srv.url(p)), want.rejects, p);
        continue;
      }
      const a = await rawGet(srv.url(p));
      if (want.status !== undefined) {
        assert.deepEqual(a, { status: want.status }, p);
        continue;
      }
      await assert.rejects(readAllRaw(a.body!), (err: NodeJS.ErrnoException) => {
        assert.match(err.message, want.bodyFails!);
        // Worded and coded as a reset connection, so the pull tries again.
        assert.equal(err.code, 'ECONNRESET');
        return true;
      });
    }
    await assert.rejects(
      rawGet(srv.url('/missing'), { headers: { Authorization: 'Bearer a\r\nX-Injected: 1' } }),
      /invalid character in request header "Authorization"/,
    );
  } finally {
    srv.close();
  }
});

test('https: the body read the same way, an unknown certificate refused unless insecure', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gantry-rawbody-'));
  const tls = ensureTls(dir);
  const pem = (v: string): string => (existsSync(v) ? readFileSync(v, 'utf8') : v);
  const server = https.createServer({ cert: pem(tls.serverCert), key: pem(tls.serverKey) }, (_req, res) => {
    res.writeHead(200, { 'Content-Length': payload.length });
    res.end(payload);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(`https://127.0.0.1:${(server.address() as net.AddressInfo).port}/blob`);
  try {
    const a = await rawGet(url, { insecureTls: true });
    assert.deepEqual(await readAllRaw(a.body!), payload);
    await assert.rejects(rawGet(url), /self[- ]signed|unable to verify|certificate/i);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
