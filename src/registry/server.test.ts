import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import bcrypt from 'bcryptjs';
import { sha256 } from '../common/digest.js';
import { MediaType } from '../images/oci.js';
import { RegistryClient } from './client.js';
import { readBody, request } from './http.js';
import { RegistryServer } from './server.js';

async function withRegistry(fn: (addr: string) => Promise<void>, htpasswd?: string): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-registry-'));
  let hp: string | undefined;
  if (htpasswd) {
    hp = path.join(dir, 'htpasswd');
    await writeFile(hp, htpasswd);
  }
  const srv = await RegistryServer.create({ dataRoot: path.join(dir, 'data'), htpasswd: hp });
  const port = await srv.listen('127.0.0.1', 0);
  try {
    await fn(`127.0.0.1:${port}`);
  } finally {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function pushImage(addr: string, repo: string, tag: string, client = new RegistryClient({ chunkSize: 1000 })) {
  const s = await client.session(addr, repo, undefined, 'pull,push');
  const layer = Buffer.alloc(2500, 1);
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }),
  );
  for (const b of [layer, config]) {
    if (!(await s.hasBlob(sha256(b)))) {
      await s.uploadBlob(sha256(b), b.length, async (from, to) =>
        Readable.from([b.subarray(from, (to ?? b.length - 1) + 1)]),
      );
    }
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MediaType.OciLayer, digest: sha256(layer), size: layer.length }],
    }),
  );
  const digest = await s.putManifest(tag, MediaType.OciManifest, manifest);
  return { s, layer, config, manifest, digest };
}

test('push in chunks, pull back by tag and digest, ranges, tags and catalog', () =>
  withRegistry(async (addr) => {
    const { s, layer, manifest, digest } = await pushImage(addr, 'a/b', 'v1');
    assert.equal(digest, sha256(manifest));
    const got = await s.getManifest('v1');
    assert.equal(got.digest, digest);
    assert.equal(got.mediaType, MediaType.OciManifest);
    const blob = await s.getBlob(sha256(layer));
    assert.deepEqual(await readBody(blob.stream as never), layer);
    const ranged = await request(`http://${addr}/v2/a/b/blobs/${sha256(layer)}`, { headers: { Range: 'bytes=10-19' } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers['content-range'], `bytes 10-19/2500`);
    assert.equal((await readBody(ranged)).length, 10);
    await s.putManifest('v2', MediaType.OciManifest, manifest);
    await s.putManifest('v3', MediaType.OciManifest, manifest);
    const page = await request(`http://${addr}/v2/a/b/tags/list?n=2`);
    assert.deepEqual(JSON.parse((await readBody(page)).toString()), { name: 'a/b', tags: ['v1', 'v2'] });
    assert.equal(page.headers.link, '</v2/a/b/tags/list?n=2&last=v2>; rel="next"');
    const cat = await request(`http://${addr}/v2/_catalog`);
    assert.deepEqual(JSON.parse((await readBody(cat)).toString()), { repositories: ['a/b'] });
  }));

test('cross-repository mount, deletes and spec error codes', () =>
  withRegistry(async (addr) => {
    const { layer, digest } = await pushImage(addr, 'src/repo', 'v1');
    const s2 = await new RegistryClient().session(addr, 'dst/repo', undefined, 'pull,push');
    assert.equal(await s2.mountBlob(sha256(layer), 'src/repo'), true);
    assert.equal(await s2.hasBlob(sha256(layer)), true);
    const missing = await request(`http://${addr}/v2/dst/repo/manifests/nope`);
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse((await readBody(missing)).toString()).errors[0].code, 'MANIFEST_UNKNOWN');
    const badManifest = await request(`http://${addr}/v2/dst/repo/manifests/x`, {
      method: 'PUT',
      headers: { 'Content-Type': MediaType.OciManifest },
      body: JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { digest: sha256('nope'), size: 4 },
        layers: [],
      }),
    });
    assert.equal(badManifest.status, 400);
    assert.equal(JSON.parse((await readBody(badManifest)).toString()).errors[0].code, 'MANIFEST_BLOB_UNKNOWN');
    const del = await request(`http://${addr}/v2/src/repo/manifests/${digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    assert.equal((await request(`http://${addr}/v2/src/repo/manifests/v1`)).status, 404);
    const badDigest = await request(`http://${addr}/v2/dst/repo/blobs/uploads/?digest=${sha256('x')}`, {
      method: 'POST',
      body: 'y',
    });
    assert.equal(badDigest.status, 400);
    assert.equal(JSON.parse((await readBody(badDigest)).toString()).errors[0].code, 'DIGEST_INVALID');
  }));

test('htpasswd basic auth guards every request', () =>
  withRegistry(
    async (addr) => {
      const anon = await request(`http://${addr}/v2/`);
      assert.equal(anon.status, 401);
      assert.match(String(anon.headers['www-authenticate']), /^Basic /);
      await assert.rejects(new RegistryClient().session(addr, 'x/y', undefined, 'pull'), /basic auth/);
      await pushImage(addr, 'x/y', 'v1', {
        session: (d: string, p: string, _a: unknown, act: 'pull' | 'pull,push') =>
          new RegistryClient().session(d, p, { username: 'alice', password: 'wonder' }, act),
      } as unknown as RegistryClient);
    },
    `alice:${bcrypt.hashSync('wonder', 4)}\n`,
  ));
