/**
 * Hostile archives against the confined extraction primitive: each test unpacks beside an "outside"
 * directory standing for the host, and checks that nothing there changed (names, and every inode's
 * ctime, which any write, chmod, chown, link or xattr change moves). Then a fuzz run of thousands of
 * generated archives mixing every entry type, link targets that point out, and repeated names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { ConfinedDir } from '../common/confined.js';
import { extractTar } from './apply.js';
import { applyLayer } from './testing.js';

type Entry = [Record<string, unknown>, (string | Buffer)?];

function tarOf(entries: Entry[]): Readable {
  const p = tarPack();
  for (const [h, body] of entries) p.entry(h as never, body ?? '');
  p.finalize();
  return p as unknown as Readable;
}

interface Sandbox {
  base: string;
  target: string;
  outside: string;
  snapshot(): Promise<string>;
  cleanup(): Promise<void>;
}

/** A target directory beside an "outside" one holding a file, a subdirectory and a root-only secret. */
async function sandbox(): Promise<Sandbox> {
  const base = await fs.mkdtemp(path.join(tmpdir(), 'gantry-hostile-'));
  const target = path.join(base, 'target');
  const outside = path.join(base, 'outside');
  await fs.mkdir(path.join(outside, 'sub'), { recursive: true });
  await fs.writeFile(path.join(outside, 'sentinel'), 'host');
  await fs.writeFile(path.join(outside, 'sub/secret'), 'root only', { mode: 0o600 });
  await fs.mkdir(target);
  const snapshot = async (): Promise<string> => {
    const lines: string[] = [];
    const walk = async (p: string): Promise<void> => {
      const st = await fs.lstat(p);
      lines.push(`${path.relative(base, p)} ${st.mode} ${st.uid} ${st.nlink} ${st.size} ${st.ctimeMs}`);
      if (st.isDirectory()) for (const n of (await fs.readdir(p)).sort()) await walk(path.join(p, n));
    };
    await walk(outside);
    lines.push((await fs.readdir(base)).sort().join(','));
    return lines.join('\n');
  };
  return { base, target, outside, snapshot, cleanup: () => fs.rm(base, { recursive: true, force: true }) };
}

async function refused(p: Promise<unknown>, re: RegExp): Promise<void> {
  await p.then(
    () => assert.fail('the archive must be refused'),
    (err: Error) => assert.match(err.message, re),
  );
}

test('deferred work cannot follow a directory later replaced by a symlink', async () => {
  const s = await sandbox();
  try {
    const before = await s.snapshot();
    await applyLayer(
      tarOf([
        [{ name: 'd/', type: 'directory', mode: 0o755 }],
        [{ name: 'd/node', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }],
        [
          {
            name: 'd/x',
            type: 'file',
            mode: 0o755,
            pax: {
              'SCHILY.xattr.security.capability':
                '\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00',
            },
          },
          'x',
        ],
        [{ name: 'd/', type: 'directory', mode: 0o755 }],
        [{ name: 'd', type: 'symlink', linkname: s.outside }],
      ]),
      s.target,
    );
    assert.equal(await s.snapshot(), before);
    assert.equal(await fs.readlink(path.join(s.target, 'd')), s.outside);
  } finally {
    await s.cleanup();
  }
});

test('hardlinks resolve inside the root and never through a symlink', async () => {
  const s = await sandbox();
  try {
    const before = await s.snapshot();
    await refused(
      applyLayer(
        tarOf([
          [{ name: 'e', type: 'symlink', linkname: path.join(s.outside, 'sub') }],
          [{ name: 'leak', type: 'link', linkname: 'e/secret' }],
        ]),
        s.target,
      ),
      /through a symlink/,
    );
    await fs.rm(s.target, { recursive: true });
    // An absolute hardlink target names a path inside the layer, which does not exist.
    await refused(
      applyLayer(tarOf([[{ name: 'leak', type: 'link', linkname: path.join(s.outside, 'sentinel') }]]), s.target),
      /No such file/,
    );
    assert.equal(await s.snapshot(), before);
  } finally {
    await s.cleanup();
  }
});

test('files, whiteouts, opaque markers and devices are never written through a symlink', async () => {
  const cases: Entry[][] = [
    [[{ name: 'e/sentinel', type: 'file', mode: 0o644 }, 'overwritten']],
    [[{ name: 'e/.wh.sentinel', type: 'file', mode: 0o644 }]],
    [[{ name: 'e/.wh..wh..opq', type: 'file', mode: 0o644 }]],
    [[{ name: 'e/dev', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o600 }]],
    [[{ name: 'e/sub/', type: 'directory', mode: 0o777 }]],
    [[{ name: 'e/new', type: 'symlink', linkname: '/' }]],
  ];
  for (const rest of cases) {
    const s = await sandbox();
    try {
      const before = await s.snapshot();
      await refused(
        applyLayer(tarOf([[{ name: 'e', type: 'symlink', linkname: s.outside }], ...rest]), s.target),
        /through a symlink/,
      );
      await fs.rm(s.target, { recursive: true });
      await refused(
        applyLayer(tarOf([[{ name: 'e', type: 'symlink', linkname: '../outside' }], ...rest]), s.target),
        /through a symlink/,
      );
      assert.equal(await s.snapshot(), before, JSON.stringify(rest));
    } finally {
      await s.cleanup();
    }
  }
});

test('names that climb out are refused; a directory entry replaces a symlink instead of following it', async () => {
  const s = await sandbox();
  try {
    const before = await s.snapshot();
    await refused(
      applyLayer(tarOf([[{ name: '../outside/sentinel', type: 'file', mode: 0o644 }, 'x']]), s.target),
      /escapes/,
    );
    await applyLayer(
      tarOf([
        [{ name: 'e', type: 'symlink', linkname: s.outside }],
        [{ name: 'e/', type: 'directory', mode: 0o700 }],
        [{ name: 'e/sentinel', type: 'file', mode: 0o644 }, 'inside'],
      ]),
      s.target,
    );
    assert.equal(await fs.readFile(path.join(s.target, 'e/sentinel'), 'utf8'), 'inside');
    assert.equal(await s.snapshot(), before);
  } finally {
    await s.cleanup();
  }
});

test('in a container root, symlinks resolve against the root, as the container sees them', async () => {
  const s = await sandbox();
  try {
    await fs.mkdir(path.join(s.target, 'etc'));
    await fs.mkdir(path.join(s.target, 'outside'));
    await fs.mkdir(path.join(s.target, s.outside, 'sub'), { recursive: true });
    await fs.symlink('/', path.join(s.target, 'up'));
    await fs.symlink('../../../../outside', path.join(s.target, 'rel'));
    await fs.symlink(s.outside, path.join(s.target, 'abs'));
    const before = await s.snapshot();
    await ConfinedDir.with(s.target, 'in-root', (root) =>
      extractTar(
        tarOf([
          [{ name: 'up/etc/passwd', type: 'file', mode: 0o644 }, 'root:x:0:0::/root:/bin/sh\n'],
          [{ name: 'rel/sentinel', type: 'file', mode: 0o644 }, 'inside'],
          [{ name: 'abs/sub/secret', type: 'file', mode: 0o644 }, 'inside'],
        ]),
        root,
        { prefix: '/' },
      ),
    );
    assert.equal(await fs.readFile(path.join(s.target, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
    assert.equal(await fs.readFile(path.join(s.target, 'outside/sentinel'), 'utf8'), 'inside');
    assert.equal(await fs.readFile(path.join(s.target, s.outside, 'sub/secret'), 'utf8'), 'inside');
    assert.equal(await s.snapshot(), before);
  } finally {
    await s.cleanup();
  }
});

test('size and entry caps refuse decompression bombs', async () => {
  const s = await sandbox();
  try {
    const big = Buffer.alloc(300 << 10, 1);
    await refused(
      applyLayer(tarOf([[{ name: 'a', type: 'file', size: big.length }, big]]), s.target, {
        maxBytes: 100 << 10,
        what: 'layer sha256:abc',
      }),
      /layer sha256:abc is larger than the limit/,
    );
    await fs.rm(s.target, { recursive: true });
    const many: Entry[] = Array.from({ length: 20 }, (_, i) => [{ name: `f${i}`, type: 'file' }, '']);
    await refused(applyLayer(tarOf(many), s.target, { maxEntries: 10 }), /more than 10 entries/);
  } finally {
    await s.cleanup();
  }
});

test('readFile reads regular files only, bounded, without opening FIFOs or devices', async () => {
  const s = await sandbox();
  try {
    execFileSync('mkfifo', [path.join(s.target, 'fifo')]);
    await fs.writeFile(path.join(s.target, 'big'), Buffer.alloc(2000));
    await fs.writeFile(path.join(s.target, 'small'), 'ok');
    await fs.symlink('/outside/sentinel', path.join(s.target, 'link'));
    await ConfinedDir.with(s.target, 'in-root', (root) => {
      assert.equal(root.readFile('fifo', 1000), undefined);
      assert.equal(root.readFile('missing', 1000), undefined);
      assert.equal(root.readFile('link', 1000), undefined);
      assert.equal(root.readFile('small', 1000)?.toString(), 'ok');
      assert.throws(() => root.readFile('big', 1000), /File too large/);
    });
  } finally {
    await s.cleanup();
  }
});

/** A small deterministic generator (mulberry32), so a failing seed can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomArchive(next: () => number, outside: string): Entry[] {
  const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)]!;
  const names = [
    'a',
    'b',
    'e',
    'a/b',
    'a/e',
    'e/x',
    'e/sub',
    'e/sub/secret',
    'e/sentinel',
    'a/b/c',
    'b/e/sentinel',
    'sub',
  ];
  const linkTargets = [
    outside,
    `${outside}/sub`,
    '../outside',
    '../../outside',
    '../outside/sub',
    '/',
    '..',
    'a',
    'e',
    'a/b',
    '.',
  ];
  const entries: Entry[] = [];
  const count = 1 + Math.floor(next() * 12);
  for (let i = 0; i < count; i++) {
    const name = pick(names);
    const mode = pick([0o755, 0o644, 0o4755, 0o777, 0o600]);
    const xattr =
      next() < 0.2
        ? {
            pax: { [pick(['SCHILY.xattr.user.k', 'SCHILY.xattr.trusted.k', 'SCHILY.xattr.security.capability'])]: 'v' },
          }
        : {};
    switch (pick(['dir', 'file', 'symlink', 'symlink', 'link', 'char', 'fifo', 'whiteout', 'opaque'])) {
      case 'dir':
        entries.push([{ name: `${name}/`, type: 'directory', mode, ...xattr }]);
        break;
      case 'file':
        entries.push([{ name, type: 'file', mode, uid: pick([0, 1000]), ...xattr }, 'data']);
        break;
      case 'symlink':
        entries.push([{ name, type: 'symlink', linkname: pick(linkTargets) }]);
        break;
      case 'link':
        entries.push([
          {
            name,
            type: 'link',
            linkname: pick([...names, 'e/sentinel', `${outside}/sentinel`, '../outside/sentinel']),
          },
        ]);
        break;
      case 'char':
        entries.push([{ name, type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666, ...xattr }]);
        break;
      case 'fifo':
        entries.push([{ name, type: 'fifo', mode: 0o600 }]);
        break;
      case 'whiteout':
        entries.push([
          {
            name: `${path.posix.dirname(name) === '.' ? '' : `${path.posix.dirname(name)}/`}.wh.${pick(['sentinel', 'sub', 'x', 'a'])}`,
            type: 'file',
          },
        ]);
        break;
      default:
        entries.push([{ name: `${name}/.wh..wh..opq`, type: 'file' }]);
    }
  }
  return entries;
}

test('fuzz: thousands of generated archives never change anything outside the target', async () => {
  const s = await sandbox();
  // The in-root mode also meets links already in the root, as a container's files would be.
  const seedRoot = async (): Promise<void> => {
    await fs.rm(s.target, { recursive: true, force: true });
    await fs.mkdir(s.target);
    await fs.symlink(s.outside, path.join(s.target, 'e'));
    await fs.symlink('../outside', path.join(s.target, 'b'));
  };
  try {
    const before = await s.snapshot();
    const seed = Number(process.env.GANTRY_FUZZ_SEED ?? Date.now() % 100000);
    const next = rng(seed);
    let refusedCount = 0;
    for (let i = 0; i < 3000; i++) {
      const archive = randomArchive(next, s.outside);
      const inRoot = i % 3 === 2;
      if (inRoot) await seedRoot();
      else await fs.rm(s.target, { recursive: true, force: true });
      try {
        if (inRoot)
          await ConfinedDir.with(s.target, 'in-root', (root) =>
            extractTar(tarOf(archive), root, { whiteouts: 'overlay' }),
          );
        else await applyLayer(tarOf(archive), s.target);
      } catch {
        refusedCount++;
      }
      const after = await s.snapshot();
      if (after !== before)
        assert.fail(
          `seed ${seed}, archive ${i} (${inRoot ? 'in-root' : 'beneath'}) changed the outside:\n${JSON.stringify(archive)}\n${after}`,
        );
    }
    assert.ok(
      refusedCount > 100 && refusedCount < 2900,
      `a mix of refused and accepted archives (${refusedCount} refused)`,
    );
  } finally {
    await s.cleanup();
  }
});
