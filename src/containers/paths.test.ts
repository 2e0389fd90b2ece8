import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveInRoot } from './paths.js';

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
