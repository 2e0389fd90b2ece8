import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { sha256 } from '../common/digest.js';
import { GantryError } from '../common/errors.js';
import { readAll } from '../common/streams.js';
import { packDirectory } from '../diff/archive.js';
import { unpackInWorker } from './layerpool.js';

test('layers unpacked on a worker: the files, the diff ID check and a broken source, as on the main thread', async () => {
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
