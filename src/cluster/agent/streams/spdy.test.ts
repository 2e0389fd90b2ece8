import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import zlib from 'node:zlib';
import { adler32, SPDY_DICTIONARY, SpdyConnection, type SpdyStream } from './spdy.js';

/** A header block as spdystream writes it: count, then length-prefixed names and values. */
function headerBlock(h: Record<string, string>): Buffer {
  const parts = [Buffer.alloc(4)];
  parts[0]!.writeUInt32BE(Object.keys(h).length, 0);
  for (const [k, v] of Object.entries(h))
    for (const s of [k, v]) {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(Buffer.byteLength(s), 0);
      parts.push(len, Buffer.from(s));
    }
  return Buffer.concat(parts);
}

function control(type: number, flags: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8003, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt32BE((flags << 24) | body.length, 4);
  return Buffer.concat([head, body]);
}

function data(id: number, fin: boolean, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(id, 0);
  head.writeUInt32BE(((fin ? 1 : 0) << 24) | payload.length, 4);
  return Buffer.concat([head, payload]);
}

test('the SPDY dictionary is the spec one (length and Adler-32 the zlib header names)', () => {
  assert.equal(SPDY_DICTIONARY.length, 1423);
  assert.equal(adler32(SPDY_DICTIONARY), 0xe3c6a7c2);
});

test('a SPDY stream: headers read, replied, data both ways with FIN; PING echoed', async () => {
  const server = net.createServer((socket) => {
    new SpdyConnection(socket, (s: SpdyStream) => {
      assert.deepEqual(s.headers, { streamtype: 'data', port: '8080', requestid: '0' });
      const got: Buffer[] = [];
      s.on('data', (c: Buffer) => got.push(c));
      s.on('end', () => s.end(Buffer.concat(got).toString().toUpperCase()));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const deflate = zlib.createDeflate({ dictionary: SPDY_DICTIONARY });
  const compressed = await new Promise<Buffer>((resolve) => {
    const out: Buffer[] = [];
    deflate.on('data', (c: Buffer) => out.push(c));
    deflate.write(headerBlock({ streamType: 'data', port: '8080', requestID: '0' }));
    deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(out)));
  });
  const syn = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), compressed]);
  const ping = Buffer.from([0, 0, 0, 7]);
  client.write(
    Buffer.concat([
      control(1, 0, syn),
      data(1, false, Buffer.from('hel')),
      data(1, true, Buffer.from('lo')),
      control(6, 0, ping),
    ]),
  );
  const received: Buffer[] = [];
  client.on('data', (c: Buffer) => received.push(c));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no FIN')), 3000);
    client.on('data', () => {
      const all = Buffer.concat(received);
      if (all.includes(Buffer.from('HELLO'))) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  client.destroy();
  server.close();
  // Frames back: SYN_REPLY for stream 1 (its empty header block inflating to no headers), the PING, DATA+FIN.
  let at = 0;
  const all = Buffer.concat(received);
  const frames: Array<{ kind: string; flags: number; body: Buffer }> = [];
  while (at + 8 <= all.length) {
    const len = all.readUInt32BE(at + 4) & 0xffffff;
    const isControl = (all[at]! & 0x80) !== 0;
    frames.push({
      kind: isControl ? `control ${all.readUInt16BE(at + 2)}` : `data ${all.readUInt32BE(at)}`,
      flags: all[at + 4]!,
      body: all.subarray(at + 8, at + 8 + len),
    });
    at += 8 + len;
  }
  const reply = frames.find((f) => f.kind === 'control 2')!;
  assert.equal(reply.body.readUInt32BE(0), 1);
  assert.deepEqual(
    zlib.inflateSync(reply.body.subarray(4), { dictionary: SPDY_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH }),
    Buffer.alloc(4),
  );
  assert.deepEqual(frames.find((f) => f.kind === 'control 6')!.body, ping);
  const out = frames.filter((f) => f.kind === 'data 1');
  assert.equal(Buffer.concat(out.map((f) => f.body)).toString(), 'HELLO');
  assert.equal(out.at(-1)!.flags & 1, 1);
});

test('a header block that inflates past 64 KiB closes the connection', async () => {
  let streams = 0;
  const server = net.createServer((socket) => new SpdyConnection(socket, () => void streams++));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const bomb = zlib.deflateSync(Buffer.alloc(8 * 1024 * 1024), { dictionary: SPDY_DICTIONARY });
  const syn = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), bomb]);
  client.write(control(1, 0, syn));
  await new Promise<void>((resolve) => client.on('close', () => resolve()));
  server.close();
  assert.equal(streams, 0);
});
