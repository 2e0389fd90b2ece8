import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { readAll } from '../common/streams.js';
import { checkArchiveUpload, isTarHeader } from './archivecheck.js';

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, body] of Object.entries(files)) p.entry({ name }, body);
  p.finalize();
  return readAll(p, 1 << 20, () => new Error('too big'));
}

test('a tar header is known by its checksum', async () => {
  const tar = await tarOf({ 'a.txt': 'hello' });
  assert.equal(isTarHeader(tar), true);
  assert.equal(isTarHeader(Buffer.alloc(512)), true, 'an empty archive');
  const broken = Buffer.from(tar);
  broken[0] = broken[0]! ^ 1;
  assert.equal(isTarHeader(broken), false);
  assert.equal(isTarHeader(Buffer.from('not a tar')), false);
});

test('uploads: tar, gzip and large ones pass whole and unread; others are refused saying why', async () => {
  const tar = await tarOf({ 'a.txt': 'hello', 'big.bin': 'x'.repeat(200_000) });
  for (const body of [tar, gzipSync(tar)]) {
    const out = await checkArchiveUpload(Readable.from([body.subarray(0, 1000), body.subarray(1000)]), 'the archive');
    assert.deepEqual(await readAll(out, 1 << 22, () => new Error('too big')), body);
  }
  const refused: Array<[Buffer, RegExp]> = [
    [Buffer.alloc(0), /the archive is empty: send a tar archive/],
    [Buffer.from('{"not":"a tar"}'), /the archive is not a tar archive: archive\/tar: invalid tar header/],
    [Buffer.from('x'.repeat(100_000)), /not a tar archive/],
    [gzipSync('plain text that is long enough '.repeat(40)), /not a tar archive/],
    [Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x42, 0x42]), /not valid gzip/],
  ];
  for (const [body, message] of refused)
    await assert.rejects(checkArchiveUpload(Readable.from([body]), 'the archive'), message);
});
