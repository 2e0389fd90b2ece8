/**
 * Issue 2 acceptance: pulls, pushes, mirrors, save/load/import through the real docker CLI, skopeo and
 * docker-py, against Debian's docker-registry and gantry's own registry interchangeably.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, readdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import {
  Cleanup,
  docker,
  gantry,
  hasPython,
  ok,
  run,
  runAsync,
  seedRegistry,
  startDaemon,
  startRegistry,
  tempDir,
  type Daemon,
  type Registry,
} from './helpers.js';
import { diskUsage } from '../../src/common/fsutil.js';

for (const kind of ['debian', 'gantry'] as const) {
  describe(`images with ${kind} registry`, () => {
    const cleanup = new Cleanup();
    let reg: Registry;
    let d: Daemon;
    let busyboxConfig: string;

    before(async () => {
      reg = await startRegistry(cleanup, kind);
      seedRegistry(reg, 'busybox:latest', 'library/busybox:latest', 'v2s2');
      seedRegistry(reg, 'node:20', 'library/node:20');
      d = await startDaemon(cleanup, { mirror: `http://${reg.addr}` });
      const raw = JSON.parse(
        ok('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.addr}/library/busybox:latest`]),
      ) as {
        config: { digest: string };
      };
      busyboxConfig = raw.config.digest;
    });
    after(() => cleanup.run());

    test('docker pull by registry host; image ID is the config digest', () => {
      const out = docker(d, ['pull', `${reg.addr}/library/busybox`]);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /Pull complete|Already exists/);
      assert.match(out.stdout, /Status: Downloaded newer image for/);
      const id = ok('docker', ['image', 'inspect', '--format', '{{.Id}}', `${reg.addr}/library/busybox`], {
        env: d.env,
      }).trim();
      assert.equal(id, busyboxConfig);
    });

    test('gantry pull by registry host', () => {
      const out = gantry(d, ['pull', `${reg.addr}/library/node:20`]);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, new RegExp(`${reg.addr.replace(/\./g, '\\.')}/library/node:20`));
      const images = ok('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}'], { env: d.env });
      assert.match(images, /library\/node:20/);
    });

    test('with --registry-mirror, docker pull busybox works', () => {
      const out = docker(d, ['pull', 'busybox']);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /docker\.io\/library\/busybox:latest/);
      assert.equal(ok('docker', ['inspect', '--format', '{{.Id}}', 'busybox'], { env: d.env }).trim(), busyboxConfig);
    });

    test('docker push to a new repository: digest matches skopeo, and copies back to an OCI layout', () => {
      const target = `${reg.addr}/team/app:v1`;
      ok('docker', ['tag', 'busybox', target], { env: d.env });
      const out = docker(d, ['push', target]);
      assert.equal(out.code, 0, out.stderr);
      const pushed = /digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(out.stdout)?.[1];
      assert.ok(pushed, out.stdout);
      const inspected = JSON.parse(ok('skopeo', ['inspect', '--tls-verify=false', `docker://${target}`])) as {
        Digest: string;
      };
      assert.equal(inspected.Digest, pushed);
      const layout = tempDir(cleanup);
      ok('skopeo', ['copy', '--src-tls-verify=false', `docker://${target}`, `oci:${layout}:app`]);
      assert.ok(readdirSync(path.join(layout, 'blobs/sha256')).length >= 3);
      // A second push finds every blob already there.
      assert.match(docker(d, ['push', target]).stdout, /Layer already exists/);
    });

    test('push to another repository of the same registry mounts the layers', () => {
      const target = `${reg.addr}/other/app:v1`;
      ok('docker', ['tag', `${reg.addr}/library/busybox`, target], { env: d.env });
      const out = docker(d, ['push', target]);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /Mounted from|Layer already exists/);
    });

    test('a missing image is reported as Docker reports it', () => {
      const out = docker(d, ['pull', `${reg.addr}/nope/nothing:1`]);
      assert.notEqual(out.code, 0);
      assert.match(out.stderr, /not found|does not exist/);
      const bad = docker(d, ['pull', 'Bad Name']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /invalid reference format/);
    });
  });
}

describe('registries are interchangeable', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  test('skopeo copy into gantry registry and back out keeps digests; docker pulls from it', async () => {
    const deb = await startRegistry(cleanup, 'debian');
    const gan = await startRegistry(cleanup, 'gantry');
    seedRegistry(deb, 'node:20', 'library/node:20');
    const digestOf = (ref: string): string =>
      (JSON.parse(ok('skopeo', ['inspect', '--tls-verify=false', ref])) as { Digest: string }).Digest;
    const original = digestOf(`docker://${deb.addr}/library/node:20`);
    ok('skopeo', [
      'copy',
      '--all',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${deb.addr}/library/node:20`,
      `docker://${gan.addr}/library/node:20`,
    ]);
    assert.equal(digestOf(`docker://${gan.addr}/library/node:20`), original);
    const layout = tempDir(cleanup);
    ok('skopeo', [
      'copy',
      '--all',
      '--src-tls-verify=false',
      `docker://${gan.addr}/library/node:20`,
      `oci:${layout}:n`,
    ]);
    const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    assert.equal(index.manifests[0]!.digest, original);
    const d = await startDaemon(cleanup);
    const out = docker(d, ['pull', `${gan.addr}/library/node:20`]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`Digest: ${original}`));
  });

  test('docker login and push to an htpasswd-protected gantry registry', async () => {
    const dir = tempDir(cleanup);
    const htpasswd = path.join(dir, 'htpasswd');
    await fs.writeFile(htpasswd, `alice:${bcrypt.hashSync('s3cret', 5)}\n`);
    const reg = await startRegistry(cleanup, 'gantry', { htpasswd });
    const src = await startRegistry(cleanup, 'gantry');
    seedRegistry(src, 'busybox:latest', 'library/busybox:latest');
    const d = await startDaemon(cleanup);
    ok('docker', ['pull', `${src.addr}/library/busybox`], { env: d.env });
    ok('docker', ['tag', `${src.addr}/library/busybox`, `${reg.addr}/alice/bb:1`], { env: d.env });
    const denied = docker(d, ['push', `${reg.addr}/alice/bb:1`]);
    assert.notEqual(denied.code, 0);
    const bad = docker(d, ['login', '-u', 'alice', '--password-stdin', reg.addr], { input: 'wrong\n' });
    assert.notEqual(bad.code, 0);
    const login = docker(d, ['login', '-u', 'alice', '--password-stdin', reg.addr], { input: 's3cret\n' });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    const pushed = docker(d, ['push', `${reg.addr}/alice/bb:1`]);
    assert.equal(pushed.code, 0, pushed.stderr);
    // docker search asks the registry's /v1/search, with the login's credentials.
    const found = ok('docker', ['search', '--format', '{{.Name}} {{.StarCount}}', `${reg.addr}/bb`], { env: d.env });
    assert.equal(found.trim(), 'alice/bb 0');
    const table = ok('docker', ['search', `${src.addr}/busy`], { env: d.env });
    assert.match(table, /^NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL/);
    assert.match(table, /^library\/busybox\s+0\s+$/m);
    assert.equal(
      ok('docker', ['search', '--limit', '1', '--format', '{{.Name}}', `${src.addr}/nothing-like-this`], {
        env: d.env,
      }),
      '',
    );
    assert.match(
      docker(d, ['search', '--limit', '101', `${src.addr}/busy`]).stderr,
      /limit 101 is outside the range of \[1, 100\]/,
    );
    ok('docker', ['logout', reg.addr], { env: d.env });
    assert.notEqual(docker(d, ['search', `${reg.addr}/bb`]).code, 0, 'without credentials the registry refuses');
  });
});

describe('local image store', () => {
  const cleanup = new Cleanup();
  let reg: Registry;
  let d: Daemon;
  before(async () => {
    reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    seedRegistry(reg, 'node:20', 'library/node:20');
    d = await startDaemon(cleanup, { mirror: `http://${reg.addr}` });
  });
  after(() => cleanup.run());

  test('two images sharing a base layer store it once', async () => {
    ok('docker', ['pull', 'busybox'], { env: d.env });
    const snapshots = path.join(d.dataRoot, 'snapshots');
    const afterBusybox = await diskUsage(snapshots);
    ok('docker', ['pull', 'node:20'], { env: d.env });
    const afterNode = await diskUsage(snapshots);
    const nodeSize = Number(
      ok('docker', ['image', 'inspect', '--format', '{{.Size}}', 'node:20'], { env: d.env }).trim(),
    );
    const busyboxSize = Number(
      ok('docker', ['image', 'inspect', '--format', '{{.Size}}', 'busybox'], { env: d.env }).trim(),
    );
    const snapshotDirs = readdirSync(snapshots).filter((n) => /^[a-f0-9]{64}$/.test(n));
    assert.equal(snapshotDirs.length, 2, 'busybox layer + node layer, the shared one once');
    // Disk grew by node's own layer only, not by another copy of busybox.
    assert.ok(
      afterNode - afterBusybox < nodeSize - busyboxSize * 0.5,
      `grew ${afterNode - afterBusybox} for a ${nodeSize - busyboxSize} byte layer`,
    );
    const blobs = readdirSync(path.join(d.dataRoot, 'content/blobs/sha256'));
    assert.equal(new Set(blobs).size, blobs.length);
  });

  test('save, rmi, load keep the ID and tags', async () => {
    const dir = tempDir(cleanup);
    const tar = path.join(dir, 'bb.tar');
    const id = ok('docker', ['inspect', '--format', '{{.Id}}', 'busybox'], { env: d.env }).trim();
    ok('docker', ['tag', 'busybox', 'mine/bb:keep'], { env: d.env });
    ok('docker', ['save', '-o', tar, 'busybox', 'mine/bb:keep'], { env: d.env });
    ok('docker', ['rmi', 'busybox', 'mine/bb:keep'], { env: d.env });
    assert.notEqual(docker(d, ['inspect', 'busybox']).code, 0);
    const loaded = ok('docker', ['load', '-i', tar], { env: d.env });
    assert.match(loaded, /Loaded image: busybox:latest/);
    assert.match(loaded, /Loaded image: mine\/bb:keep/);
    assert.equal(ok('docker', ['inspect', '--format', '{{.Id}}', 'mine/bb:keep'], { env: d.env }).trim(), id);
    // The archive is also an OCI layout skopeo can read.
    const layout = tempDir(cleanup);
    ok('tar', ['-xf', tar, '-C', layout]);
    const viaSkopeo = JSON.parse(ok('skopeo', ['inspect', '--config', `oci:${layout}:latest`])) as {
      rootfs: { diff_ids: string[] };
    };
    assert.equal(viaSkopeo.rootfs.diff_ids.length, 1);
  });

  test('import a rootfs tarball with --change and --message', async () => {
    const dir = tempDir(cleanup);
    await fs.mkdir(path.join(dir, 'root/bin'), { recursive: true });
    await fs.copyFile('/bin/busybox', path.join(dir, 'root/bin/busybox'));
    ok('tar', ['-C', path.join(dir, 'root'), '-czf', path.join(dir, 'rootfs.tgz'), '.']);
    const out = ok(
      'docker',
      [
        'import',
        '-c',
        'CMD ["/bin/busybox", "sh"]',
        '-c',
        'ENV GREETING=hi',
        '-m',
        'from a tarball',
        path.join(dir, 'rootfs.tgz'),
        'imported:v1',
      ],
      {
        env: d.env,
      },
    );
    assert.match(out, /^sha256:[a-f0-9]{64}$/m);
    const inspect = JSON.parse(ok('docker', ['image', 'inspect', 'imported:v1'], { env: d.env })) as Array<
      Record<string, unknown>
    >;
    const img = inspect[0]!;
    assert.deepEqual((img.Config as { Cmd: string[] }).Cmd, ['/bin/busybox', 'sh']);
    assert.deepEqual((img.Config as { Env: string[] }).Env, ['GREETING=hi']);
    assert.equal(img.Comment, 'from a tarball');
    assert.equal(img.Architecture, 'amd64');
    assert.equal((img.RootFS as { Layers: string[] }).Layers.length, 1);
    const hist = ok('docker', ['history', '--format', '{{.CreatedBy}}|{{.Comment}}', 'imported:v1'], { env: d.env })
      .trim()
      .split('\n');
    assert.deepEqual(hist, ['|from a tarball']);
    // Imported from stdin, as `cat x | docker import - name`.
    const fromStdin = run('docker', ['import', '-', 'imported:stdin'], {
      env: d.env,
      input: await fs.readFile(path.join(dir, 'rootfs.tgz')),
    });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
  });

  test('rmi: untag vs delete, conflicts, and prune', () => {
    ok('docker', ['tag', 'busybox', 'a/one:1'], { env: d.env });
    ok('docker', ['tag', 'busybox', 'b/two:1'], { env: d.env });
    const id = ok('docker', ['inspect', '--format', '{{.Id}}', 'busybox'], { env: d.env }).trim();
    const conflict = docker(d, ['rmi', id.slice(7, 19)]);
    assert.notEqual(conflict.code, 0);
    assert.match(
      conflict.stderr,
      /conflict: unable to delete [a-f0-9]{12} \(must be forced\) - image is referenced in multiple repositories/,
    );
    assert.match(ok('docker', ['rmi', 'a/one:1'], { env: d.env }), /^Untagged: a\/one:1$/m);
    const forced = ok('docker', ['rmi', '-f', id.slice(7, 19)], { env: d.env });
    assert.match(forced, /Deleted: sha256:/);
    assert.equal(docker(d, ['image', 'inspect', 'b/two:1']).code, 1);
    assert.match(docker(d, ['rmi', 'nothing:here']).stderr, /No such image: nothing:here/);
    const prune = ok('docker', ['image', 'prune', '-a', '-f'], { env: d.env });
    assert.match(prune, /Total reclaimed space/);
  });

  test('events report image actions', () => {
    ok('docker', ['pull', 'busybox'], { env: d.env });
    const since = String(Math.floor(Date.now() / 1000) - 1);
    ok('docker', ['tag', 'busybox', 'evt:1'], { env: d.env });
    const ev = ok(
      'docker',
      ['events', '--since', since, '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=image'],
      { env: d.env },
    );
    assert.match(ev, /image tag sha256:[a-f0-9]{64} \(name=evt:1\)/);
  });

  test(
    'docker-py images.pull works against the daemon',
    { skip: !hasPython('docker') && 'python3 docker module not installed' },
    () => {
      const script = `import docker\nc = docker.DockerClient(base_url='${d.host}')\ni = c.images.pull('${reg.addr}/library/busybox', tag='latest')\nprint(i.id)\nprint(len(c.images.list()))`;
      const out = ok('python3', ['-c', script]);
      assert.match(out, /^sha256:[a-f0-9]{64}$/m);
    },
  );

  test('system df and info answer', () => {
    assert.match(ok('docker', ['system', 'df'], { env: d.env }), /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/m);
    assert.match(ok('docker', ['info', '--format', '{{.Driver}}'], { env: d.env }), /overlay2/);
  });

  test(
    'docker-py get_registry_data: the digest and platforms of a remote image, without pulling it',
    { skip: !hasPython('docker') && 'python3 docker module not installed' },
    () => {
      const script = [
        'import docker',
        `c = docker.DockerClient(base_url='${d.host}')`,
        `r = c.images.get_registry_data('${reg.addr}/library/busybox:latest')`,
        'print(r.id)',
        "print(r.has_platform('linux/amd64'), r.has_platform('windows/arm64'))",
        'try:',
        `    c.images.get_registry_data('${reg.addr}/library/nothing-here:latest')`,
        'except docker.errors.APIError as e:',
        '    print(e.status_code)',
      ].join('\n');
      const [digest, platforms, missing] = ok('python3', ['-c', script]).trim().split('\n');
      assert.match(digest!, /^sha256:[a-f0-9]{64}$/);
      const head = run('curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%header{docker-content-digest}',
        '-H',
        'Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
        `http://${reg.addr}/v2/library/busybox/manifests/latest`,
      ]);
      assert.equal(digest, head.stdout);
      assert.equal(platforms, 'True False');
      assert.equal(missing, '404');
    },
  );

  test('swarm endpoints answer as an engine outside a swarm: 503 with Docker’s messages', () => {
    const leave = run('docker', ['swarm', 'leave'], { env: d.env });
    assert.notEqual(leave.code, 0);
    assert.match(leave.stderr, /Error response from daemon: This node is not part of a swarm/);
    for (const args of [
      ['service', 'ls'],
      ['node', 'ls'],
      ['secret', 'ls'],
      ['config', 'ls'],
    ]) {
      const r = run('docker', args, { env: d.env });
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(
        r.stderr,
        /This node is not a swarm manager\. Use "docker swarm init" or "docker swarm join"/,
        args.join(' '),
      );
    }
    if (hasPython('docker')) {
      const script = [
        'import docker',
        `c = docker.DockerClient(base_url='${d.host}')`,
        'for call in (c.swarm.leave, c.services.list, c.nodes.list):',
        '    try:',
        '        call()',
        '    except docker.errors.APIError as e:',
        '        print(e.status_code, e.explanation)',
      ].join('\n');
      const out = ok('python3', ['-c', script]).trim().split('\n');
      assert.equal(out[0], '503 This node is not part of a swarm');
      assert.match(out[1]!, /^503 This node is not a swarm manager/);
      assert.match(out[2]!, /^503 This node is not a swarm manager/);
    }
  });
});

describe('corrupted blobs', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  test('a flipped byte fails the pull, names the digest, and leaves nothing behind', async () => {
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    // A proxy that flips one byte in the middle of every blob body.
    const proxy = http.createServer((req, res) => {
      const up = http.request(
        {
          host: '127.0.0.1',
          port: Number(reg.addr.split(':')[1]),
          path: req.url,
          method: req.method,
          headers: req.headers,
        },
        (ur) => {
          res.writeHead(ur.statusCode ?? 500, ur.headers);
          const isBlob = /\/blobs\/sha256:/.test(req.url ?? '') && req.method === 'GET';
          let seen = 0;
          ur.on('data', (c: Buffer) => {
            if (isBlob && seen <= 1000 && seen + c.length > 1000) {
              c = Buffer.from(c);
              c[1000 - seen] = c[1000 - seen]! ^ 0xff;
            }
            seen += c.length;
            res.write(c);
          });
          ur.on('end', () => res.end());
        },
      );
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    cleanup.add(() => new Promise<void>((r) => proxy.close(() => r())));
    const port = (proxy.address() as { port: number }).port;
    const d = await startDaemon(cleanup);
    const layer = JSON.parse(
      ok('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.addr}/library/busybox:latest`]),
    ) as {
      layers: Array<{ digest: string }>;
    };
    // Asynchronously: the proxy lives in this process and must keep serving while docker runs.
    const out = await runAsync('docker', ['pull', `127.0.0.1:${port}/library/busybox`], { env: d.env });
    assert.notEqual(out.code, 0);
    assert.match(out.stderr + out.stdout, new RegExp(layer.layers[0]!.digest.slice(7)));
    const blobs = readdirSync(path.join(d.dataRoot, 'content/blobs/sha256'));
    assert.ok(!blobs.includes(layer.layers[0]!.digest.slice(7)), 'corrupted blob must not be stored');
    assert.deepEqual(readdirSync(path.join(d.dataRoot, 'content/ingest')), []);
    assert.deepEqual(
      readdirSync(path.join(d.dataRoot, 'snapshots')).filter((n) => n !== '.staging'),
      [],
    );
    assert.deepEqual(readdirSync(path.join(d.dataRoot, 'snapshots/.staging')), []);
    // The same pull through the honest registry then succeeds.
    assert.equal(docker(d, ['pull', `${reg.addr}/library/busybox`]).code, 0);
  });
});
