import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { readAll } from '../common/streams.js';
import { decompress, detectCompression, peek } from './compression.js';

test('detects and undoes gzip, passes plain data through', async () => {
  const data = Buffer.from('x'.repeat(100000));
  assert.equal(detectCompression(gzipSync(data)), 'gzip');
  assert.deepEqual(await readAll(await decompress(Readable.from([gzipSync(data)]))), data);
  assert.deepEqual(await readAll(await decompress(Readable.from([data.subarray(0, 2), data.subarray(2)]))), data);
  assert.deepEqual(await readAll(await decompress(Readable.from([Buffer.from('ab')]))), Buffer.from('ab'));
});

test('undoes zstd', async () => {
  // "hello" compressed with `zstd -19`.
  const frame = Buffer.from('KLUv/QRoKQAAaGVsbG+jbZ+I', 'base64');
  assert.equal(detectCompression(frame), 'zstd');
  assert.equal((await readAll(await decompress(Readable.from([frame])))).toString(), 'hello');
});

test('peek gives the first bytes and leaves the stream whole, whatever its chunks', async () => {
  const cases: Array<[string, Buffer[], string]> = [
    ['one chunk', [Buffer.from('abcdef')], 'abcd'],
    ['split head', [Buffer.from('a'), Buffer.from('bc'), Buffer.from('def')], 'abcd'],
    ['shorter than asked', [Buffer.from('ab')], 'ab'],
    ['empty', [], ''],
  ];
  for (const [what, chunks, head] of cases) {
    const source = Readable.from(chunks, { objectMode: false });
    assert.equal((await peek(source, 4)).toString(), head, what);
    assert.equal((await readAll(source)).toString(), Buffer.concat(chunks).toString(), what);
  }
});

test('peek on a stream that already failed answers its error instead of waiting', async () => {
  const source = new PassThrough();
  source.on('error', () => undefined);
  source.destroy(new Error('connection reset'));
  await new Promise((resolve) => setImmediate(resolve));
  await assert.rejects(peek(source, 4), /connection reset/);
});
