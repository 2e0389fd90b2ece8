/**
 * Build the base images that stand in for Docker Hub, from Debian packages only (no network but apt):
 *
 *   busybox:latest  busybox-static, applets as symlinks, a minimal /etc/passwd and /etc/group
 *                   (OCI manifest; `skopeo copy --format v2s2` turns it into Docker schema2)
 *   node:20         the busybox layer plus the host's Node.js binary and the shared libraries it needs
 *                   (OCI index with one linux/amd64 manifest)
 *   redis:latest    the busybox layer plus redis-server and its libraries, when installed
 *
 * Usage:
 *   make-base-images.ts --push 127.0.0.1:5000 [--images busybox,node,redis]
 *   make-base-images.ts --oci-dir DIR          (an OCI layout; refs are the image names)
 *
 * Layers are packed with fixed mtimes and ownership, so the same inputs give the same digests.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs, existsSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { sha256, hexOf } from '../src/common/digest.js';
import { readAll } from '../src/common/streams.js';
import { packDirectory } from '../src/diff/archive.js';
import { MediaType, type Descriptor, type ImageConfig } from '../src/images/oci.js';
import { RegistryClient } from '../src/registry/client.js';

const EPOCH = new Date('2024-01-01T00:00:00Z');
const BUSYBOX_STEP = { createdBy: '/bin/sh -c #(nop) ADD file:busybox-static in / ' };
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface Blob {
  desc: Descriptor;
  bytes: Buffer;
}

interface BuiltImage {
  repo: string;
  tag: string;
  blobs: Blob[];
  /** The top-level manifest or index pushed under the tag. */
  top: Blob;
}

async function layerFrom(dir: string): Promise<{ blob: Blob; diffId: string }> {
  const tar = await readAll(packDirectory(dir, { mtime: EPOCH }));
  const gz = gzipSync(tar, { level: 6 });
  return {
    blob: { desc: { mediaType: MediaType.OciLayerGzip, digest: sha256(gz), size: gz.length }, bytes: gz },
    diffId: sha256(tar),
  };
}

async function busyboxRoot(dir: string): Promise<void> {
  const bb = '/bin/busybox';
  if (!existsSync(bb)) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  for (const d of [
    'bin',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'etc',
    'root',
    'home',
    'var/log',
    'var/run',
    'dev',
    'proc',
    'sys',
    'run',
    'usr/local/bin',
  ]) {
    await fs.mkdir(path.join(dir, d), { recursive: true, mode: 0o755 });
  }
  await fs.mkdir(path.join(dir, 'tmp'), { mode: 0o1777 });
  await fs.chmod(path.join(dir, 'tmp'), 0o1777);
  await fs.chmod(path.join(dir, 'root'), 0o700);
  await fs.copyFile(bb, path.join(dir, 'bin/busybox'));
  await fs.chmod(path.join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync(bb, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) {
    if (a === 'bin/busybox') continue;
    const target = path.join(dir, a);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.symlink(path.relative(path.dirname(target), path.join(dir, 'bin/busybox')), target).catch(() => undefined);
  }
  await fs.writeFile(
    path.join(dir, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n',
  );
  await fs.writeFile(
    path.join(dir, 'etc/group'),
    'root:x:0:\ndaemon:x:1:\ntty:x:5:\nwww-data:x:33:\nnogroup:x:65534:\n',
  );
  await fs.writeFile(path.join(dir, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  await fs.writeFile(path.join(dir, 'etc/nsswitch.conf'), 'hosts: files dns\n');
}

/** Copy a binary and every shared library `ldd` lists for it, keeping their paths. */
async function withLibraries(dir: string, binaries: string[]): Promise<void> {
  const files = new Set<string>();
  for (const b of binaries) {
    const real = realpathSync(b);
    files.add(real);
    if (real !== b) files.add(b);
    for (const line of execFileSync('ldd', [real], { encoding: 'utf8' }).split('\n')) {
      const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)/.exec(line);
      if (m) files.add(m[1]!);
    }
  }
  // Symlinks are resolved and their targets copied under the link's own name: the host's merged /usr
  // (/lib -> usr/lib) is not the image's layout, so a link would point nowhere inside the image.
  for (const f of files) {
    const dest = path.join(dir, f);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    await fs.copyFile(realpathSync(f), dest);
    await fs.chmod(dest, (await fs.stat(f)).mode & 0o777);
  }
}

interface Step {
  createdBy: string;
  empty?: boolean;
}

function configBlob(diffIds: string[], cfg: ImageConfig['config'], history: Step[], mediaType: string): Blob {
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    created: EPOCH.toISOString(),
    config: cfg,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: history.map((h) => ({
      created: EPOCH.toISOString(),
      created_by: h.createdBy,
      ...(h.empty ? { empty_layer: true } : {}),
    })),
  };
  const bytes = Buffer.from(JSON.stringify(config));
  return { desc: { mediaType, digest: sha256(bytes), size: bytes.length }, bytes };
}

function manifestBlob(config: Blob, layers: Blob[], mediaType: string): Blob {
  const bytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType, config: config.desc, layers: layers.map((l) => l.desc) }, null, 3),
  );
  return { desc: { mediaType, digest: sha256(bytes), size: bytes.length }, bytes };
}

async function build(work: string, names: string[]): Promise<BuiltImage[]> {
  const out: BuiltImage[] = [];
  const bbDir = path.join(work, 'busybox');
  await busyboxRoot(bbDir);
  const bb = await layerFrom(bbDir);
  if (names.includes('busybox')) {
    const cfg = configBlob(
      [bb.diffId],
      { Env: [PATH_ENV], Cmd: ['sh'] },
      [BUSYBOX_STEP, { createdBy: '/bin/sh -c #(nop)  CMD ["sh"]', empty: true }],
      MediaType.OciConfig,
    );
    const man = manifestBlob(cfg, [bb.blob], MediaType.OciManifest);
    out.push({ repo: 'library/busybox', tag: 'latest', blobs: [bb.blob, cfg], top: man });
  }
  if (names.includes('node')) {
    const nodeDir = path.join(work, 'node');
    await fs.mkdir(nodeDir);
    await withLibraries(nodeDir, [process.execPath]);
    const nodeLayer = await layerFrom(nodeDir);
    const cfg = configBlob(
      [bb.diffId, nodeLayer.diffId],
      { Env: [PATH_ENV, `NODE_VERSION=${process.versions.node}`], Cmd: ['node'] },
      [
        BUSYBOX_STEP,
        { createdBy: `/bin/sh -c #(nop) COPY node ${process.versions.node} and its libraries` },
        { createdBy: '/bin/sh -c #(nop)  CMD ["node"]', empty: true },
      ],
      MediaType.OciConfig,
    );
    const ociLayers = [bb.blob, nodeLayer.blob].map((b) => ({
      ...b,
      desc: { ...b.desc, mediaType: MediaType.OciLayerGzip },
    }));
    const man = manifestBlob(cfg, ociLayers, MediaType.OciManifest);
    const indexBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [{ ...man.desc, platform: { architecture: 'amd64', os: 'linux' } }],
      }),
    );
    const index: Blob = {
      desc: { mediaType: MediaType.OciIndex, digest: sha256(indexBytes), size: indexBytes.length },
      bytes: indexBytes,
    };
    out.push({ repo: 'library/node', tag: '20', blobs: [...ociLayers, cfg, man], top: index });
  }
  if (names.includes('redis')) {
    const server = '/usr/bin/redis-server';
    if (!existsSync(server)) throw new Error('redis-server is not installed (apt-get install redis-server)');
    const redisDir = path.join(work, 'redis');
    await fs.mkdir(path.join(redisDir, 'data'), { recursive: true });
    await withLibraries(redisDir, [server, '/usr/bin/redis-cli']);
    const layer = await layerFrom(redisDir);
    const cfg = configBlob(
      [bb.diffId, layer.diffId],
      {
        Env: [PATH_ENV],
        Cmd: ['redis-server', '--protected-mode', 'no', '--dir', '/data'],
        ExposedPorts: { '6379/tcp': {} },
        Volumes: { '/data': {} },
        WorkingDir: '/data',
      },
      [
        BUSYBOX_STEP,
        { createdBy: '/bin/sh -c #(nop) COPY redis-server and its libraries' },
        { createdBy: '/bin/sh -c #(nop)  CMD ["redis-server"]', empty: true },
      ],
      MediaType.OciConfig,
    );
    const man = manifestBlob(cfg, [bb.blob, layer.blob], MediaType.OciManifest);
    out.push({ repo: 'library/redis', tag: 'latest', blobs: [bb.blob, layer.blob, cfg], top: man });
  }
  return out;
}

async function push(images: BuiltImage[], registry: string): Promise<void> {
  const client = new RegistryClient({ insecureRegistries: [registry] });
  for (const img of images) {
    const s = await client.session(registry, img.repo, undefined, 'pull,push');
    for (const b of img.blobs) {
      if (b.desc.mediaType.includes('manifest')) {
        await s.putManifest(b.desc.digest, b.desc.mediaType, b.bytes);
        continue;
      }
      if (await s.hasBlob(b.desc.digest)) continue;
      await s.uploadBlob(b.desc.digest, b.bytes.length, async (from, to) =>
        Readable.from([b.bytes.subarray(from, (to ?? b.bytes.length - 1) + 1)]),
      );
    }
    await s.putManifest(img.tag, img.top.desc.mediaType, img.top.bytes);
    process.stdout.write(`pushed ${registry}/${img.repo}:${img.tag} ${img.top.desc.digest}\n`);
  }
}

async function writeOciLayout(images: BuiltImage[], dir: string): Promise<void> {
  await fs.mkdir(path.join(dir, 'blobs/sha256'), { recursive: true });
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const manifests: Descriptor[] = [];
  for (const img of images) {
    for (const b of [...img.blobs, img.top])
      await fs.writeFile(path.join(dir, 'blobs/sha256', hexOf(b.desc.digest)), b.bytes);
    const name = img.repo.replace(/^library\//, '');
    manifests.push({ ...img.top.desc, annotations: { 'org.opencontainers.image.ref.name': `${name}:${img.tag}` } });
    process.stdout.write(`wrote oci:${dir}:${name}:${img.tag} ${img.top.desc.digest}\n`);
  }
  await fs.writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      push: { type: 'string' },
      'oci-dir': { type: 'string' },
      images: { type: 'string', default: 'busybox,node' },
    },
  });
  if (!values.push && !values['oci-dir']) throw new Error('give --push HOST:PORT or --oci-dir DIR');
  const names = values.images!.split(',').map((s) => s.trim());
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'gantry-base-'));
  try {
    const images = await build(work, names);
    if (values.push) await push(images, values.push);
    if (values['oci-dir']) await writeOciLayout(images, values['oci-dir']);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`make-base-images: ${(err as Error).message}\n`);
  process.exit(1);
});
