import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { sha256 } from '../common/digest.js';
import { GantryError } from '../common/errors.js';
import { readAll } from '../common/streams.js';
import { packDirectory } from '../diff/archive.js';
import { rawGet } from '../registry/rawbody.js';
import { unpackInWorker } from './layerpool.js';

test('layers unpacked on a worker: the files, the blob written beside them, the diff ID check and a broken source', async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'gantry-layerpool-'));
  try {
    mkdirSync(path.join(work, 'src/etc'), { recursive: true });
    writeFileSync(path.join(work, 'src/etc/hello'), 'hello\n');
    writeFileSync(path.join(work, 'src/big'), Buffer.alloc(3 << 20, 7));
    const tar = await readAll(packDirectory(path.join(work, 'src')));
    const gz = gzipSync(tar);
    // Several chunks, as a download delivers them.
    const chunks = (): Readable =>
      Readable.from(Array.from({ length: 8 }, (_, i) => gz.subarray((i * gz.length) >> 3, ((i + 1) * gz.length) >> 3)));

    const out = path.join(work, 'out');
    mkdirSync(out);
    const r = await unpackInWorker(chunks(), out, sha256(tar));
    assert.equal(readFileSync(path.join(out, 'etc/hello'), 'utf8'), 'hello\n');
    assert.equal(r.size, 6 + (3 << 20));

    // With a blob file: the compressed bytes are stored beside the unpack and hashed; chunks that own
    // their memory (as HTTP bodies do) are handed over, not copied.
    const withBlob = path.join(work, 'with-blob');
    mkdirSync(withBlob);
    const blobFile = path.join(work, 'blob');
    const owned = Readable.from(
      Array.from({ length: 8 }, (_, i) => {
        // Buffer.alloc never takes memory from the shared pool: each chunk owns its ArrayBuffer.
        const part = gz.subarray((i * gz.length) >> 3, ((i + 1) * gz.length) >> 3);
        const chunk = Buffer.alloc(part.length);
        part.copy(chunk);
        return chunk;
      }),
    );
    let counted = 0;
    const b = await unpackInWorker(owned, withBlob, sha256(tar), { blobFile, onBytes: (n) => (counted += n) });
    assert.deepEqual(b.blob, { digest: sha256(gz), size: gz.length });
    assert.deepEqual(readFileSync(blobFile), gz);
    assert.equal(counted, gz.length);
    assert.equal(readFileSync(path.join(withBlob, 'etc/hello'), 'utf8'), 'hello\n');

    // A blob that is not the one promised is reported as such, before what it broke in the tar.
    const corrupt = Buffer.from(gz);
    corrupt[corrupt.length >> 1] ^= 0xff;
    const wrongBlob = path.join(work, 'wrong-blob');
    mkdirSync(wrongBlob);
    await assert.rejects(
      unpackInWorker(Readable.from([corrupt]), wrongBlob, sha256(tar), {
        blobFile: path.join(work, 'blob2'),
        expectedBlob: { digest: sha256(gz), size: gz.length },
      }),
      new RegExp(`filesystem layer verification failed for digest ${sha256(gz)}`),
    );

    // A blob that cannot be written fails the job at once, named.
    const full = path.join(work, 'full');
    mkdirSync(full);
    await assert.rejects(
      unpackInWorker(chunks(), full, sha256(tar), { blobFile: '/dev/full' }),
      /writing the blob: No space left on device/,
    );

    const other = path.join(work, 'other');
    mkdirSync(other);
    await assert.rejects(unpackInWorker(chunks(), other, `sha256:${'0'.repeat(64)}`), (err: unknown) => {
      assert.ok(err instanceof GantryError);
      assert.equal(err.kind, 'invalid');
      assert.match(err.message, /layer diff ID mismatch/);
      return true;
    });

    const broken = new PassThrough();
    const third = path.join(work, 'third');
    mkdirSync(third);
    const pending = unpackInWorker(broken, third, sha256(tar));
    broken.write(gz.subarray(0, 100));
    broken.destroy(new Error('connection reset'));
    await assert.rejects(pending, /connection reset/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('a raw download unpacked through the shared ring: files and blob whole, a cut body reported with its code', async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'gantry-layerpool-ring-'));
  // Larger than the ring, in random-looking bytes gzip cannot shrink, so the ring wraps and refills.
  const big = Buffer.alloc(40 << 20);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((Math.imul(i, 2654435761) ^ i) >>> 0, i);
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Length': gz.length });
    // The cut answer promises it all and stops half way.
    if (req.url === '/cut') res.end(gz.subarray(0, gz.length >> 1), () => req.socket.destroy());
    else res.end(gz);
  });
  let gz = Buffer.alloc(0);
  try {
    mkdirSync(path.join(work, 'src/etc'), { recursive: true });
    writeFileSync(path.join(work, 'src/etc/hello'), 'hello\n');
    writeFileSync(path.join(work, 'src/big'), big);
    const tar = await readAll(packDirectory(path.join(work, 'src')));
    gz = gzipSync(tar, { level: 1 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = (p: string): URL => new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}${p}`);

    const out = path.join(work, 'out');
    mkdirSync(out);
    const blobFile = path.join(work, 'blob');
    const answer = await rawGet(url('/blob'));
    let counted = 0;
    const r = await unpackInWorker(answer.body!, out, sha256(tar), {
      blobFile,
      expectedBlob: { digest: sha256(gz), size: gz.length },
      onBytes: (n) => (counted += n),
    });
    assert.deepEqual(r.blob, { digest: sha256(gz), size: gz.length });
    assert.equal(counted, gz.length);
    assert.ok(readFileSync(blobFile).equals(gz));
    assert.ok(readFileSync(path.join(out, 'big')).equals(big));
    assert.equal(readFileSync(path.join(out, 'etc/hello'), 'utf8'), 'hello\n');

    const cut = path.join(work, 'cut');
    mkdirSync(cut);
    const cutAnswer = await rawGet(url('/cut'));
    await assert.rejects(
      unpackInWorker(cutAnswer.body!, cut, sha256(tar), {
        blobFile: path.join(work, 'blob2'),
        expectedBlob: { digest: sha256(gz) },
      }),
      (err: NodeJS.ErrnoException) => {
        assert.match(err.message, /premature close/);
        assert.equal(err.code, 'ECONNRESET');
        return true;
      },
    );
  } finally {
    server.close();
    rmSync(work, { recursive: true, force: true });
  }
});
