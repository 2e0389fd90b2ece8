/**
 * The native layer unpacker against tars built byte by byte: the header forms Go's archive/tar writes
 * (GNU long names, pax records, base-256 numbers), gzip in several members, and broken input, which
 * must fail with an error naming it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { applyLayer } from './testing.js';

interface Fields {
  name: string;
  type?: string;
  size?: number | Buffer;
  mode?: number;
  linkname?: string;
  mtime?: number;
  magic?: 'ustar' | 'gnu' | 'v7';
}

/** One 512-byte header; `size` given as a Buffer is written as is (base-256). */
function header(f: Fields): Buffer {
  const b = Buffer.alloc(512);
  const octal = (v: number, off: number, len: number): void =>
    void b.write(v.toString(8).padStart(len - 1, '0') + '\0', off, 'latin1');
  b.write(f.name, 0, 100, 'latin1');
  octal(f.mode ?? 0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  if (Buffer.isBuffer(f.size)) f.size.copy(b, 124);
  else octal(f.size ?? 0, 124, 12);
  octal(f.mtime ?? 1600000000, 136, 12);
  b.write(f.type ?? '0', 156, 'latin1');
  if (f.linkname) b.write(f.linkname, 157, 100, 'latin1');
  if ((f.magic ?? 'ustar') === 'ustar') b.write('ustar\u000000', 257, 'latin1');
  else if (f.magic === 'gnu') b.write('ustar  \0', 257, 'latin1');
  b.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

/** A body padded to whole blocks. */
function body(data: string | Buffer): Buffer {
  const d = Buffer.from(data);
  return Buffer.concat([d, Buffer.alloc((512 - (d.length % 512)) % 512)]);
}

function pax(records: Record<string, string>): Buffer {
  const parts = Object.entries(records).map(([k, v]) => {
    const rest = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(rest) + 1;
    while (String(len).length + Buffer.byteLength(rest) !== len) len++;
    return `${len}${rest}`;
  });
  return Buffer.from(parts.join(''));
}

const END = Buffer.alloc(1024);
const file = (name: string, data: string, extra: Partial<Fields> = {}): Buffer[] => [
  header({ name, size: Buffer.byteLength(data), ...extra }),
  body(data),
];

/** Chunks of a few odd sizes, so every parser state meets a chunk boundary. */
function chunked(data: Buffer, size = 333): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts, { objectMode: false });
}

async function unpack(tar: Buffer, opts: { gzip?: boolean; chunk?: number } = {}) {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'gantry-layer-'));
  const input = opts.gzip ? gzipSync(tar) : tar;
  try {
    const res = await applyLayer(chunked(input, opts.chunk), path.join(dir, 'fs'));
    return { dir: path.join(dir, 'fs'), res, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

test('header forms: GNU long names, pax records, base-256 sizes, header-only types, old-style directories', async () => {
  const longName = 'd/' + 'n'.repeat(150);
  const longTarget = 't'.repeat(140);
  const base256 = Buffer.alloc(12);
  base256[0] = 0x80;
  base256[11] = 5;
  const tar = Buffer.concat([
    header({ name: '././@LongLink', type: 'L', size: longName.length + 1, magic: 'gnu' }),
    body(longName + '\0'),
    ...file('ignored', 'long', { magic: 'gnu' }),
    header({ name: '././@LongLink', type: 'K', size: longTarget.length, magic: 'gnu' }),
    body(longTarget),
    header({ name: 'longlink', type: '2', magic: 'gnu' }),
    header({ name: 'pax', type: 'x', size: 0 }),
    header({ name: 'g', type: 'g', size: pax({ path: 'global-must-be-ignored' }).length }),
    body(pax({ path: 'global-must-be-ignored' })),
    header({ name: 'x', type: 'x', size: pax({ path: 'paxed/name', 'SCHILY.xattr.user.gantry': 'v=1' }).length }),
    body(pax({ path: 'paxed/name', 'SCHILY.xattr.user.gantry': 'v=1' })),
    ...file('short', 'pax'),
    header({ name: 'b256', size: base256 }),
    body('12345'),
    // A directory whose size field is set carries no data (Go's reader): the next header follows at once.
    header({ name: 'dir-with-size', type: '5', size: 1024, mode: 0o750 }),
    header({ name: 'olddir/', type: '\0', mode: 0o700 }),
    header({ name: 'dev', type: '3', mode: 0o600 }),
    ...file('unknown-type', 'skipped body', { type: 'V' }),
    ...file('last', 'end'),
    END,
    Buffer.from('trailing bytes after the archive are hashed, not read'),
  ]);
  for (const gzip of [false, true]) {
    const u = await unpack(tar, { gzip });
    try {
      assert.equal(u.res.diffId, sha(tar));
      assert.equal(await fs.readFile(path.join(u.dir, longName), 'utf8'), 'long');
      assert.equal(await fs.readlink(path.join(u.dir, 'longlink')), longTarget);
      assert.equal(await fs.readFile(path.join(u.dir, 'paxed/name'), 'utf8'), 'pax');
      await assert.rejects(fs.stat(path.join(u.dir, 'global-must-be-ignored')));
      await assert.rejects(fs.stat(path.join(u.dir, 'short')));
      assert.equal(await fs.readFile(path.join(u.dir, 'b256'), 'utf8'), '12345');
      assert.equal((await fs.stat(path.join(u.dir, 'dir-with-size'))).mode & 0o7777, 0o750);
      assert.ok((await fs.stat(path.join(u.dir, 'olddir'))).isDirectory());
      assert.ok((await fs.lstat(path.join(u.dir, 'dev'))).isCharacterDevice());
      await assert.rejects(fs.stat(path.join(u.dir, 'unknown-type')));
      assert.equal(await fs.readFile(path.join(u.dir, 'last'), 'utf8'), 'end');
      assert.equal((await fs.stat(path.join(u.dir, 'last'))).mtimeMs, 1600000000 * 1000);
      assert.equal(u.res.entries, 9);
    } finally {
      await u.cleanup();
    }
  }
});

test('pax xattrs are set on the file, after its content', async () => {
  const records = pax({ 'SCHILY.xattr.user.gantry': 'value' });
  const tar = Buffer.concat([
    header({ name: 'x', type: 'x', size: records.length }),
    body(records),
    ...file('f', 'data'),
    END,
  ]);
  const u = await unpack(tar);
  try {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync('getfattr', ['--only-values', '-n', 'user.gantry', path.join(u.dir, 'f')], {
      encoding: 'utf8',
    });
    assert.equal(out, 'value');
  } finally {
    await u.cleanup();
  }
});

test('gzip in several members unpacks as one stream; bytes after the last member are ignored', async () => {
  const tar = Buffer.concat([...file('a', 'first'), ...file('b', 'second'), END]);
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'gantry-layer-'));
  try {
    const members = Buffer.concat([gzipSync(tar.subarray(0, 700)), gzipSync(tar.subarray(700)), Buffer.from('junk')]);
    for (const size of [1, 7, 4096]) {
      const target = path.join(dir, String(size));
      const res = await applyLayer(chunked(members, size), target);
      assert.equal(res.diffId, sha(tar));
      assert.equal(await fs.readFile(path.join(target, 'b'), 'utf8'), 'second');
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('broken input fails naming what is wrong', async () => {
  const tar = Buffer.concat([...file('a', 'x'.repeat(2000)), END]);
  const badSum = header({ name: 'a', size: 1 });
  badSum[0] ^= 1;
  const gz = gzipSync(tar);
  const corrupt = Buffer.from(gz);
  corrupt[20] ^= 0xff;
  const cases: Array<[string, Buffer, RegExp]> = [
    ['a tar cut inside a body', tar.subarray(0, 1024), /^archive: Unexpected end of data$/],
    ['a bad header checksum', Buffer.concat([badSum, END]), /Invalid tar header. Maybe the tar is corrupted/],
    ['an unknown header format', Buffer.concat([header({ name: 'a', magic: 'v7' }), END]), /unknown format/],
    ['a gzip stream cut short', gz.subarray(0, gz.length - 10), /^archive: unexpected end of file$/],
    ['a corrupt gzip stream', corrupt, /^archive: (invalid|incorrect)/],
    ['a name climbing out', Buffer.concat([...file('../x', 'y'), END]), /"..\/x" escapes the extraction root/],
  ];
  for (const [what, input, error] of cases) {
    const dir = await fs.mkdtemp(path.join(tmpdir(), 'gantry-layer-'));
    try {
      await assert.rejects(
        applyLayer(chunked(input, 100), path.join(dir, 'fs')),
        (err: Error) => {
          assert.match(err.message, error, what);
          return true;
        },
        what,
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
});
