import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { decompress, detectCompression } from './compression.js';

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

test('detects and undoes gzip, passes plain data through', async () => {
  const data = Buffer.from('x'.repeat(100000));
  assert.equal(detectCompression(gzipSync(data)), 'gzip');
  assert.deepEqual(await collect(await decompress(Readable.from([gzipSync(data)]))), data);
  assert.deepEqual(await collect(await decompress(Readable.from([data.subarray(0, 2), data.subarray(2)]))), data);
  assert.deepEqual(await collect(await decompress(Readable.from([Buffer.from('ab')]))), Buffer.from('ab'));
});

test('undoes zstd', async () => {
  // "hello" compressed with `zstd -19`.
  const frame = Buffer.from('KLUv/QRoKQAAaGVsbG+jbZ+I', 'base64');
  assert.equal(detectCompression(frame), 'zstd');
  assert.equal((await collect(await decompress(Readable.from([frame])))).toString(), 'hello');
});
