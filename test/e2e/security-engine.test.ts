/**
 * Issue 11, the engine half: hostile images, archives, build contexts and requests against a real
 * daemon through the docker CLI. Each test checks that the request was refused (or confined) and that
 * the host is unchanged: a directory standing for the host is compared before and after, by every
 * inode's ctime, which any write, chmod, chown, link or xattr change moves.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { readAll } from '../../src/common/streams.js';
import {
  Cleanup,
  createViaApi,
  docker,
  ok,
  restartDaemon,
  run,
  seedRegistry,
  startDaemon,
  startRegistry,
  tempDir,
  waitFor,
  type Daemon,
  type Registry,
} from './helpers.js';

type Entry = [Record<string, unknown>, (string | Buffer)?];

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const p = tarPack();
  for (const [h, body] of entries) p.entry(h as never, body ?? '');
  p.finalize();
  return readAll(p as unknown as Readable);
}

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The config and manifest of an image made of the given layer tars. */
function imageOf(layers: Buffer[]): { config: Buffer; manifest: Buffer } {
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map(digestOf) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: digestOf(l),
        size: l.length,
      })),
    }),
  );
  return { config, manifest };
}

/** Push an image made of raw layer tars to a registry over the distribution API. */
async function pushRaw(reg: Registry, repo: string, tag: string, layers: Buffer[]): Promise<void> {
  const { config, manifest } = imageOf(layers);
  for (const blob of [...layers, config]) {
    const r = await fetch(`http://${reg.addr}/v2/${repo}/blobs/uploads/?digest=${digestOf(blob)}`, {
      method: 'POST',
      body: blob,
    });
    assert.equal(r.status, 201, await r.text());
  }
  const r = await fetch(`http://${reg.addr}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(r.status, 201, await r.text());
}

/** A `docker save` archive (one directory per layer) of an image made of raw layer tars. */
async function dockerArchive(tag: string, layers: Buffer[]): Promise<Buffer> {
  const { config } = imageOf(layers);
  const entries: Entry[] = [[{ name: 'config.json' }, config]];
  layers.forEach((l, i) => entries.push([{ name: `l${i}/layer.tar` }, l]));
  entries.push([
    { name: 'manifest.json' },
    JSON.stringify([{ Config: 'config.json', RepoTags: [tag], Layers: layers.map((_, i) => `l${i}/layer.tar`) }]),
  ]);
  return tarOf(entries);
}

/** Does a TCP connection to addr:port open within 3 s (from the network namespace `ns`, else from here)? */
function tcpOpen(addr: string, port: string, ns?: string): boolean {
  const probe = ['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${addr}/${port}`];
  return run(ns ? 'ip' : probe[0]!, ns ? ['netns', 'exec', ns, ...probe] : probe.slice(1)).code === 0;
}

/** A directory standing for the host: a file, a root-only secret in a subdirectory. */
async function hostDir(cleanup: Cleanup): Promise<{ dir: string; snapshot: () => Promise<string> }> {
  const dir = tempDir(cleanup, 'gantry-host-');
  await fs.mkdir(path.join(dir, 'sub'));
  await fs.writeFile(path.join(dir, 'sentinel'), 'host');
  await fs.writeFile(path.join(dir, 'sub/secret'), 'host secret', { mode: 0o600 });
  const snapshot = async (): Promise<string> => {
    const lines: string[] = [];
    const walk = async (p: string): Promise<void> => {
      const st = await fs.lstat(p);
      lines.push(`${path.relative(dir, p)} ${st.mode} ${st.uid} ${st.nlink} ${st.size} ${st.ctimeMs}`);
      if (st.isDirectory()) for (const n of (await fs.readdir(p)).sort()) await walk(path.join(p, n));
    };
    await walk(dir);
    return lines.join('\n');
  };
  return { dir, snapshot };
}

describe('a hostile image, archive or build context never reaches the host', () => {
  const cleanup = new Cleanup();
  let d: Daemon;
  let reg: Registry;
  const dk = (args: string[], input?: string | Buffer): ReturnType<typeof docker> => docker(d, args, { input });
  before(async () => {
    reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    d = await startDaemon(cleanup, { mirror: `http://${reg.addr}` });
    ok('docker', ['pull', '-q', 'busybox'], { env: d.env });
  });
  after(() => cleanup.run());

  test('a layer whose directory is swapped for a symlink after its device and xattr entries: pull and load', async () => {
    const host = await hostDir(cleanup);
    const before_ = await host.snapshot();
    const layer = await tarOf([
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
      [{ name: 'd', type: 'symlink', linkname: host.dir }],
    ]);
    await pushRaw(reg, 'hostile/swap', 'v1', [layer]);
    const pulled = dk(['pull', `${reg.addr}/hostile/swap:v1`]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const loaded = dk(['load'], await dockerArchive('hostile/swap-load:v1', [layer]));
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.equal(await host.snapshot(), before_);
    assert.ok(!existsSync(path.join(host.dir, 'node')) && !existsSync(path.join(host.dir, 'x')));
  });

  test('a hardlink through a symlink is refused on pull, load and import', async () => {
    const host = await hostDir(cleanup);
    const before_ = await host.snapshot();
    const layer = await tarOf([
      [{ name: 'e', type: 'symlink', linkname: path.join(host.dir, 'sub') }],
      [{ name: 'leak', type: 'link', linkname: 'e/secret' }],
    ]);
    await pushRaw(reg, 'hostile/link', 'v1', [layer]);
    const pulled = dk(['pull', `${reg.addr}/hostile/link:v1`]);
    assert.notEqual(pulled.code, 0);
    assert.match(pulled.stderr, /written through a symlink/);
    const loaded = dk(['load'], await dockerArchive('hostile/link-load:v1', [layer]));
    assert.notEqual(loaded.code, 0);
    assert.match(loaded.stderr, /written through a symlink/);
    const imported = dk(['import', '-', 'hostile/link-import:v1'], layer);
    assert.notEqual(imported.code, 0);
    assert.match(imported.stderr, /written through a symlink/);
    assert.equal(dk(['image', 'inspect', `${reg.addr}/hostile/link:v1`]).code, 1, 'no half-made image');
    assert.equal(await host.snapshot(), before_);
  });

  test('a digest that names a path is refused before it becomes one', async () => {
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: ['sha256:../../../../tmp/x'] },
      }),
    );
    const archive = await tarOf([
      [{ name: 'config.json' }, config],
      [{ name: 'l/layer.tar' }, await tarOf([[{ name: 'f' }, 'x']])],
      [
        { name: 'manifest.json' },
        JSON.stringify([{ Config: 'config.json', RepoTags: ['hostile/digest:v1'], Layers: ['l/layer.tar'] }]),
      ],
    ]);
    const loaded = dk(['load'], archive);
    assert.notEqual(loaded.code, 0);
    assert.match(loaded.stderr, /invalid digest|diff ID/);
  });

  test('a layer over the size cap is refused with an error naming it', async () => {
    const dir = tempDir(cleanup);
    const small = await startDaemon(cleanup, { dataRoot: path.join(dir, 'data') });
    // Restarted with a cap of 1 MiB.
    small.proc.kill('SIGTERM');
    await new Promise((r) => small.proc.once('exit', r));
    const capped = await restartDaemon(cleanup, { ...small, args: [...small.args, '--max-layer-size', '1m'] });
    const layer = await tarOf([[{ name: 'big', size: 2 << 20 }, Buffer.alloc(2 << 20)]]);
    const out = docker(capped, ['load'], { input: await dockerArchive('bomb:v1', [layer]) });
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, new RegExp(`layer ${digestOf(layer)} is larger than the limit of 1048576 bytes`));
  });

  test('docker cp in and out resolves paths inside the container, never the host', async () => {
    const host = await hostDir(cleanup);
    const ctx = tempDir(cleanup);
    await fs.writeFile(
      path.join(ctx, 'Dockerfile'),
      `FROM busybox\nRUN ln -s ${host.dir} /evil && ln -s ${host.dir}/sub/secret /etc/leak && mkdir -p ${host.dir}/sub\n`,
    );
    ok('docker', ['build', '-q', '-t', 'hostile/cp', ctx], { env: d.env });
    const before_ = await host.snapshot();
    ok('docker', ['create', '--name', 'cp-target', 'hostile/cp', 'true'], { env: d.env });
    const file = path.join(ctx, 'dropped');
    await fs.writeFile(file, 'from the client');
    ok('docker', ['cp', file, 'cp-target:/evil/sub/'], { env: d.env });
    // The file went where the container sees /evil/sub: its own copy of the host path.
    const out = dk(['cp', `cp-target:${host.dir}/sub/dropped`, '-']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /from the client/);
    const leak = dk(['cp', 'cp-target:/etc/leak', '-']);
    assert.equal(leak.code, 0, leak.stderr);
    assert.doesNotMatch(leak.stdout, /host secret/, 'the link itself is copied, not the host file');
    const through = dk(['cp', 'cp-target:/evil/sub/secret', '-']);
    assert.notEqual(through.code, 0);
    assert.equal(await host.snapshot(), before_);
    ok('docker', ['rm', 'cp-target'], { env: d.env });
  });

  test('build: COPY through a context symlink, a symlinked Dockerfile and a hostile context tar stay in the context', async () => {
    const host = await hostDir(cleanup);
    const before_ = await host.snapshot();
    const ctx = tempDir(cleanup);
    await fs.symlink(path.join(host.dir, 'sub'), path.join(ctx, 'link'));
    await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY link/secret /got\n');
    const copy = dk(['build', '-q', ctx]);
    assert.notEqual(copy.code, 0);
    assert.match(copy.stderr, /file not found in build context/);
    const ctx2 = tempDir(cleanup);
    await fs.symlink(path.join(host.dir, 'sub/secret'), path.join(ctx2, 'Dockerfile'));
    const df = dk(['build', '-q', ctx2]);
    assert.notEqual(df.code, 0);
    assert.doesNotMatch(df.stderr, /host secret/);
    // A context tar with an entry written through its own symlink, sent straight to the API.
    const tar = await tarOf([
      [{ name: 'Dockerfile' }, 'FROM busybox\n'],
      [{ name: 'e', type: 'symlink', linkname: host.dir }],
      [{ name: 'e/planted' }, 'x'],
    ]);
    const res = run(
      'curl',
      [
        '-s',
        '--unix-socket',
        d.sock,
        '-X',
        'POST',
        '-H',
        'Content-Type: application/x-tar',
        '--data-binary',
        '@-',
        'http://d/build',
      ],
      { input: tar },
    );
    assert.match(res.stdout, /written through a symlink/);
    assert.equal(await host.snapshot(), before_);
    assert.ok(!existsSync(path.join(host.dir, 'planted')));
  });

  test('VOLUME copy-up and WORKDIR creation resolve inside the container root', async () => {
    const host = await hostDir(cleanup);
    const ctx = tempDir(cleanup);
    await fs.writeFile(
      path.join(ctx, 'Dockerfile'),
      `FROM busybox\nRUN ln -s ${host.dir} /data && ln -s ${host.dir} /app\nVOLUME /data\n`,
    );
    ok('docker', ['build', '-q', '-t', 'hostile/volume', ctx], { env: d.env });
    const before_ = await host.snapshot();
    const out = dk(['run', '--rm', '-w', '/app/made-by-workdir', 'hostile/volume', 'sh', '-c', 'ls -A /data; pwd']);
    assert.equal(out.code, 0, out.stderr);
    assert.doesNotMatch(out.stdout, /sentinel|sub/, 'nothing of the host was copied into the volume');
    assert.equal(await host.snapshot(), before_);
    assert.ok(!existsSync(path.join(host.dir, 'made-by-workdir')));
  });

  test('an /etc/passwd that is a FIFO or huge never blocks the daemon', async () => {
    const ctx = tempDir(cleanup);
    await fs.writeFile(
      path.join(ctx, 'Dockerfile'),
      'FROM busybox\nRUN rm /etc/passwd && mkfifo /etc/passwd && dd if=/dev/zero of=/etc/group bs=1M count=17 2>/dev/null\n',
    );
    ok('docker', ['build', '-q', '-t', 'hostile/fifo', ctx], { env: d.env });
    const started = Date.now();
    const fifo = dk(['run', '--rm', '-u', 'nobody', 'hostile/fifo', 'true']);
    assert.notEqual(fifo.code, 0);
    assert.match(fifo.stderr, /unable to find user nobody|File too large/);
    assert.ok(Date.now() - started < 20000);
    assert.equal(dk(['version', '--format', '{{.Server.Version}}']).code, 0, 'the daemon still answers');
  });
});

describe('state, isolation and validation as Docker has them', () => {
  const cleanup = new Cleanup();
  let d: Daemon;
  const dk = (args: string[], input?: string): ReturnType<typeof docker> => docker(d, args, { input });
  before(async () => {
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    d = await startDaemon(cleanup, { mirror: `http://${reg.addr}` });
    ok('docker', ['pull', '-q', 'busybox'], { env: d.env });
  });
  after(() => cleanup.run());

  test('the data root and exec root are closed to other users', () => {
    const mode = (p: string): number => statSync(p).mode & 0o777;
    assert.equal(mode(d.dataRoot), 0o711);
    for (const [sub, m] of [
      ['containers', 0o710],
      ['snapshots', 0o710],
      ['content', 0o700],
      ['image', 0o700],
      ['volumes', 0o701],
    ] as const)
      assert.equal(mode(path.join(d.dataRoot, sub)), m, sub);
    assert.equal(mode(d.execRoot), 0o700);
  });

  test('bad resources, ports and a relative WorkingDir are refused at create with Docker words', () => {
    const count = (): number => dk(['ps', '-aq']).stdout.split('\n').filter(Boolean).length;
    const n = count();
    const cases: Array<[string[], RegExp]> = [
      [['-m', '1k'], /Minimum memory limit allowed is 6MB/],
      [['--cpus', '1000'], /Range of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs available/],
      [['--cpu-shares', '-5'], /invalid CPU shares \(-5\): value must be a positive integer/],
      [
        ['-m', '64m', '--memory-reservation', '128m'],
        /Minimum memory limit can not be less than memory reservation limit/,
      ],
      [['-w', 'relative/dir'], /the working directory 'relative\/dir' is invalid, it needs to be an absolute path/],
    ];
    for (const [flags, re] of cases) {
      const out = dk(['run', '--rm', ...flags, 'busybox', 'true']);
      assert.equal(out.code, 125, `${flags.join(' ')}: ${out.stderr}`);
      assert.match(out.stderr, re);
    }
    const port = createViaApi(d, {
      Image: 'busybox',
      Cmd: ['true'],
      HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '70000' }] } },
    });
    assert.match(port.body, /invalid port specification: \\"70000\\"/);
    assert.equal(port.status, 400);
    assert.equal(count(), n, 'nothing was created');
  });

  test('the default seccomp profile refuses namespace clones and io_uring', async () => {
    const dir = tempDir(cleanup);
    const src = path.join(dir, 'probe.c');
    await fs.writeFile(
      src,
      `#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static char stack[65536];
static int child(void *a) { (void)a; return 0; }
int main(void) {
  int pid = clone(child, stack + sizeof(stack), CLONE_NEWNET | SIGCHLD, NULL);
  printf("clone-newnet %s\\n", pid < 0 ? (errno == EPERM ? "EPERM" : "error") : "allowed");
  if (pid > 0) waitpid(pid, NULL, 0);
  pid = clone(child, stack + sizeof(stack), SIGCHLD, NULL);
  printf("clone-plain %s\\n", pid < 0 ? "error" : "allowed");
  if (pid > 0) waitpid(pid, NULL, 0);
  long r = syscall(SYS_io_uring_setup, 1, stack);
  printf("io_uring %s\\n", r < 0 ? (errno == EPERM ? "EPERM" : "error") : "allowed");
  return 0;
}
`,
    );
    ok('gcc', ['-static', '-O1', '-o', path.join(dir, 'probe'), src]);
    const out = dk(['run', '--rm', '-v', `${dir}:/probe:ro`, 'busybox', '/probe/probe']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /clone-newnet EPERM/);
    assert.match(out.stdout, /clone-plain allowed/);
    assert.match(out.stdout, /io_uring EPERM/);
  });

  test('user-defined networks are isolated from each other and the default bridge, published ports stay reachable', async () => {
    ok('docker', ['network', 'create', 'iso-a'], { env: d.env });
    ok('docker', ['network', 'create', 'iso-b'], { env: d.env });
    const serve = ['httpd', '-f', '-p', '8080', '-h', '/etc'];
    ok('docker', ['run', '-d', '--name', 'srv-a', '--network', 'iso-a', 'busybox', ...serve], { env: d.env });
    ok('docker', ['run', '-d', '--name', 'srv-b', '--network', 'iso-b', '-p', '127.0.0.1::8080', 'busybox', ...serve], {
      env: d.env,
    });
    const ipOf = (c: string, net: string): string =>
      ok('docker', ['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, c], {
        env: d.env,
      }).trim();
    const reach = (net: string, target: string): boolean =>
      /200 OK/.test(
        dk([
          'run',
          '--rm',
          '--network',
          net,
          'busybox',
          'sh',
          '-c',
          `printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${target} 8080`,
        ]).stdout,
      );
    await waitFor(async () => reach('iso-a', ipOf('srv-a', 'iso-a')), 'within a network');
    assert.equal(reach('iso-a', ipOf('srv-b', 'iso-b')), false, 'from another user-defined network');
    assert.equal(reach('bridge', ipOf('srv-a', 'iso-a')), false, 'from the default bridge');
    const published = ok('docker', ['port', 'srv-b', '8080'], { env: d.env }).trim().split(':').at(-1)!;
    assert.ok(tcpOpen('127.0.0.1', published), 'the published port from the host');
    for (const c of ['srv-a', 'srv-b']) ok('docker', ['rm', '-f', c], { env: d.env });
    ok('docker', ['network', 'rm', 'iso-a', 'iso-b'], { env: d.env });
  });

  test('an unpublished port is not reachable from another host; a published one is', async () => {
    // "Another host": a network namespace linked to this one, routing the container subnet through it.
    const ns = `gtsec${process.pid % 10000}`;
    const hostIf = `${ns}h`;
    const octet = 200 + (process.pid % 50);
    cleanup.add(() => {
      run('ip', ['netns', 'del', ns]);
      run('ip', ['link', 'del', hostIf]);
    });
    ok('ip', ['netns', 'add', ns]);
    ok('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    ok('ip', ['addr', 'add', `192.168.${octet}.1/24`, 'dev', hostIf]);
    ok('ip', ['link', 'set', hostIf, 'up']);
    ok('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `192.168.${octet}.2/24`, 'dev', 'eth0']);
    ok('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'eth0', 'up']);
    ok('ip', ['netns', 'exec', ns, 'ip', 'route', 'add', 'default', 'via', `192.168.${octet}.1`]);
    ok(
      'docker',
      ['run', '-d', '--name', 'srv-p', '-p', '8081:8080', 'busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc'],
      { env: d.env },
    );
    ok('docker', ['run', '-d', '--name', 'srv-u', 'busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc'], {
      env: d.env,
    });
    const ip = ok('docker', ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'srv-u'], { env: d.env }).trim();
    await waitFor(async () => tcpOpen(`192.168.${octet}.1`, '8081', ns), 'the published port from another host');
    assert.equal(tcpOpen(ip, '8080', ns), false, 'an unpublished port from another host');
    for (const c of ['srv-p', 'srv-u']) ok('docker', ['rm', '-f', c], { env: d.env });
  });

  test('a container another joined with --net container: can be stopped and started again', () => {
    ok('docker', ['run', '-d', '--name', 'net-owner', 'busybox', 'sleep', '300'], { env: d.env });
    ok('docker', ['run', '-d', '--name', 'net-joiner', '--net', 'container:net-owner', 'busybox', 'sleep', '300'], {
      env: d.env,
    });
    ok('docker', ['stop', '-t', '0', 'net-owner'], { env: d.env });
    const started = dk(['start', 'net-owner']);
    assert.equal(started.code, 0, started.stderr);
    assert.match(ok('docker', ['exec', 'net-owner', 'ip', '-4', 'addr'], { env: d.env }), /inet 10\./);
    ok('docker', ['rm', '-f', 'net-owner', 'net-joiner'], { env: d.env });
  });

  test('name filters are regular expressions matched in linear time', () => {
    ok('docker', ['create', '--name', `${'a'.repeat(60)}`, 'busybox', 'true'], { env: d.env });
    const started = Date.now();
    const out = dk(['ps', '-a', '--filter', 'name=(a+)+$b', '--format', '{{.Names}}']);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout.trim(), '');
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.match(
      ok('docker', ['ps', '-a', '--filter', 'name=^a{60}$', '--format', '{{.Names}}'], { env: d.env }),
      /^a{60}$/m,
    );
    const bad = dk(['ps', '-a', '--filter', 'name=(']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid name filter/);
    ok('docker', ['rm', 'a'.repeat(60)], { env: d.env });
  });

  test('a build container left by a crash is labelled and removed at the next start', async () => {
    const ctx = tempDir(cleanup);
    await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN sleep 60\n');
    const build = run('sh', ['-c', `timeout 60 docker build ${ctx} > /dev/null 2>&1 &`], { env: d.env });
    assert.equal(build.code, 0);
    const label = 'label=io.gantry.build.container=true';
    await waitFor(async () => dk(['ps', '-q', '--filter', label]).stdout.trim() !== '', 'the RUN container');
    d.proc.kill('SIGKILL');
    await new Promise((r) => d.proc.once('exit', r));
    d = await restartDaemon(cleanup, d);
    assert.equal(dk(['ps', '-aq', '--filter', label]).stdout.trim(), '');
    assert.equal(dk(['ps', '-aq']).stdout.trim(), '');
  });
});
