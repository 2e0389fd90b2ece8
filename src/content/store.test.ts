import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { sha256 } from '../common/digest.js';
import { FileContentStore } from './store.js';

async function withStore(fn: (s: FileContentStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-content-'));
  try {
    await fn(await FileContentStore.open(dir), dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('stores and reads blobs by digest', () =>
  withStore(async (s) => {
    const data = Buffer.from('hello world');
    const info = await s.writeBytes(data);
    assert.equal(info.digest, sha256(data));
    assert.deepEqual(await s.readBytes(info.digest), data);
    assert.equal((await s.info(info.digest))?.size, 11);
    const chunks: Buffer[] = [];
    for await (const c of await s.reader(info.digest, { start: 6 })) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'world');
  }));

test('a stream that does not match its digest is never stored and the error names the digest', () =>
  withStore(async (s, dir) => {
    const expected = sha256('good');
    await assert.rejects(
      s.ingest({ digest: expected }, () => Readable.from([Buffer.from('bad!')])),
      (err: Error) => err.message.includes(expected),
    );
    assert.equal(await s.info(expected), undefined);
    assert.deepEqual(await readdir(path.join(dir, 'ingest')), []);
    assert.deepEqual(await readdir(path.join(dir, 'blobs', 'sha256')), []);
  }));

test('concurrent ingests of one digest fetch it once', () =>
  withStore(async (s) => {
    const data = Buffer.alloc(1 << 20, 7);
    const digest = sha256(data);
    let opened = 0;
    const open = () => {
      opened++;
      return Readable.from([data.subarray(0, 1000), data.subarray(1000)]);
    };
    const results = await Promise.all([1, 2, 3, 4].map(() => s.ingest({ digest, size: data.length }, open)));
    assert.equal(opened, 1);
    for (const r of results) assert.equal(r.digest, digest);
  }));

test('walk lists blobs and delete removes them', () =>
  withStore(async (s) => {
    const a = await s.writeBytes(Buffer.from('a'));
    const b = await s.writeBytes(Buffer.from('b'));
    const seen = [];
    for await (const i of s.walk()) seen.push(i.digest);
    assert.deepEqual(seen.sort(), [a.digest, b.digest].sort());
    await s.delete(a.digest);
    assert.equal(await s.info(a.digest), undefined);
  }));
