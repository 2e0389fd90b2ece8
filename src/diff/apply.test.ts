import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { cleanEntryName } from './apply.js';
import { applyLayer } from './testing.js';
import { packDirectory } from './archive.js';

function tarOf(entries: Array<[Record<string, unknown>, string?]>): Readable {
  const p = tarPack();
  for (const [h, body] of entries) p.entry(h as never, body ?? '');
  p.finalize();
  return p as unknown as Readable;
}

async function tmp(): Promise<string> {
  return fs.mkdtemp(path.join(tmpdir(), 'gantry-apply-'));
}

test('entry names are cleaned and escapes refused', () => {
  assert.equal(cleanEntryName('./a/b/'), 'a/b');
  assert.equal(cleanEntryName('/a/./b'), 'a/b');
  assert.throws(() => cleanEntryName('../etc/passwd'), /escapes/);
});

test('unpacks files, links, modes, owners and whiteouts in overlay form', async () => {
  const dir = await tmp();
  try {
    const mtime = new Date('2020-01-02T03:04:05Z');
    const layer: Array<[Record<string, unknown>, string?]> = [
      [{ name: 'bin/', type: 'directory', mode: 0o755, mtime }],
      [{ name: 'bin/tool', type: 'file', mode: 0o4755, uid: 1000, gid: 1000, mtime }, 'binary'],
      [{ name: 'bin/alias', type: 'symlink', linkname: 'tool', mtime }],
      [{ name: 'bin/hard', type: 'link', linkname: 'bin/tool', mtime }],
      [{ name: 'tmp/', type: 'directory', mode: 0o1777, mtime }],
      [{ name: 'etc/.wh.gone', type: 'file', mode: 0o644 }],
      [{ name: 'var/.wh..wh..opq', type: 'file', mode: 0o644 }],
      [{ name: 'run/fifo', type: 'fifo', mode: 0o600 }],
    ];
    await applyLayer(
      tarOf([...layer, [{ name: 'bin/alias/evil', type: 'file', mode: 0o644 }, 'x']]).on('error', () => undefined),
      dir,
    ).then(
      () => assert.fail('writing through a symlink must be refused'),
      (err: Error) => assert.match(err.message, /through a symlink/),
    );
    await fs.rm(dir, { recursive: true, force: true });
    const res = await applyLayer(tarOf(layer), dir);
    assert.equal(res.size, 6);
    const tool = await fs.stat(path.join(dir, 'bin/tool'));
    assert.equal(tool.mode & 0o7777, 0o4755);
    assert.equal(tool.uid, 1000);
    assert.equal(tool.nlink, 2);
    assert.equal(tool.mtime.getTime(), mtime.getTime());
    assert.equal(await fs.readlink(path.join(dir, 'bin/alias')), 'tool');
    assert.equal((await fs.stat(path.join(dir, 'tmp'))).mode & 0o7777, 0o1777);
    assert.equal((await fs.stat(path.join(dir, 'bin'))).mtime.getTime(), mtime.getTime());
    const wh = await fs.lstat(path.join(dir, 'etc/gone'));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.equal(
      execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', path.join(dir, 'var')]).toString(),
      'y',
    );
    assert.ok((await fs.lstat(path.join(dir, 'run/fifo'))).isFIFO());
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('pack then apply gives back the same tree', async () => {
  const src = await tmp();
  const dst = await tmp();
  try {
    await fs.mkdir(path.join(src, 'a/b'), { recursive: true });
    await fs.writeFile(path.join(src, 'a/b/f'), 'content');
    await fs.link(path.join(src, 'a/b/f'), path.join(src, 'a/g'));
    await fs.symlink('b/f', path.join(src, 'a/s'));
    await fs.chmod(path.join(src, 'a/b/f'), 0o640);
    await applyLayer(packDirectory(src), dst);
    assert.equal(await fs.readFile(path.join(dst, 'a/g'), 'utf8'), 'content');
    assert.equal((await fs.stat(path.join(dst, 'a/b/f'))).nlink, 2);
    assert.equal((await fs.stat(path.join(dst, 'a/b/f'))).mode & 0o777, 0o640);
    assert.equal(await fs.readlink(path.join(dst, 'a/s')), 'b/f');
  } finally {
    await fs.rm(src, { recursive: true, force: true });
    await fs.rm(dst, { recursive: true, force: true });
  }
});
