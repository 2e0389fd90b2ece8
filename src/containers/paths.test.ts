import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveInRoot, resolveInView } from './paths.js';

test('symlinks resolve inside the container root, never above it', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'gantry-root-'));
  try {
    await mkdir(path.join(root, 'real/dir'), { recursive: true });
    await symlink('/etc', path.join(root, 'abs'));
    await symlink('../../../../../..', path.join(root, 'up'));
    await symlink('real', path.join(root, 'rel'));
    assert.equal(await resolveInRoot(root, '/abs/passwd'), path.join(root, 'etc/passwd'));
    assert.equal(await resolveInRoot(root, '/up/etc/shadow'), path.join(root, 'etc/shadow'));
    assert.equal(await resolveInRoot(root, '/../../etc'), path.join(root, 'etc'));
    assert.equal(await resolveInRoot(root, '/rel/dir'), path.join(root, 'real/dir'));
    assert.equal(await resolveInRoot(root, '/rel'), path.join(root, 'rel'));
    assert.equal(await resolveInRoot(root, '/rel', true), path.join(root, 'real'));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('paths beneath a mount lie in its source, symlinks followed across mounts in the container view', async () => {
  const base = await mkdtemp(path.join(tmpdir(), 'gantry-view-'));
  try {
    const rootfs = path.join(base, 'rootfs');
    const vol = path.join(base, 'vol');
    const nested = path.join(base, 'nested');
    await mkdir(path.join(rootfs, 'data'), { recursive: true });
    await mkdir(path.join(vol, 'sub'), { recursive: true });
    await mkdir(nested);
    await symlink('/data/sub', path.join(rootfs, 'tosub'));
    await symlink('/etc', path.join(vol, 'etc'));
    const view = {
      rootfs,
      mounts: [
        { destination: '/data', source: vol, rw: true },
        { destination: '/data/sub/deeper', source: nested, rw: false },
      ],
    };
    const table: Array<[string, boolean, string, string, string | undefined]> = [
      ['/data', false, vol, '', '/data'],
      ['/data/sub/x', false, vol, 'sub/x', '/data'],
      ['/tosub/x', false, vol, 'sub/x', '/data'],
      ['/data/sub/deeper/f', false, nested, 'f', '/data/sub/deeper'],
      ['/data/etc/passwd', false, rootfs, 'etc/passwd', undefined],
      ['/data/etc', false, vol, 'etc', '/data'],
      ['/datax', false, rootfs, 'datax', undefined],
      ['/data/../../data/sub', true, vol, 'sub', '/data'],
    ];
    for (const [p, follow, root, rel, dest] of table) {
      const got = await resolveInView(view, p, follow);
      assert.deepEqual([got.root, got.rel, got.mount?.destination], [root, rel, dest], p);
    }
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
