/**
 * Builds: a cold build (no cache) and a full-cache rebuild of a reference Dockerfile through the
 * Engine API, side by side with `buildah bud` (Debian's buildah, `--layers` for its cache) in the same
 * run. buildah runs RUN steps with `--isolation chroot`: its runc path cannot start a container on these
 * machines (no CAP_SYS_RESOURCE for its rlimits). Both have the base image locally before timing.
 *
 *   node --import tsx bench/build.ts [--runs 5]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Cleanup, seedRegistry, startDaemon, startRegistry, tempDir } from '../test/e2e/helpers.js';
import { median, row, sh, time } from './lib.js';

const DOCKERFILE = (base: string): string =>
  [
    `FROM ${base}`,
    'ENV APP=/app MODE=bench',
    'WORKDIR /app',
    'COPY src/ ./src/',
    'COPY config.json ./',
    'RUN mkdir -p /app/out && cat src/*.txt | wc -c > /app/out/size && echo built > /app/out/status',
    'EXPOSE 8080',
    'CMD ["cat", "/app/out/status"]',
  ].join('\n') + '\n';

function post(sock: string, p: string, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: sock,
        method: 'POST',
        path: p,
        headers: { 'Content-Type': 'application/x-tar', 'Content-Length': body.length },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => (text.includes('"error"') ? reject(new Error(text)) : resolve(text)));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
  const runs = Number(values.runs);
  const cleanup = new Cleanup();
  try {
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    const d = await startDaemon(cleanup, { mirror: `http://${reg.addr}`, insecure: [reg.addr] });
    sh('docker', ['pull', '-q', 'busybox'], d.env);

    const ctx = tempDir(cleanup);
    mkdirSync(path.join(ctx, 'src'));
    for (let i = 0; i < 200; i++) writeFileSync(path.join(ctx, 'src', `file${i}.txt`), `line ${i}\n`.repeat(200));
    writeFileSync(path.join(ctx, 'config.json'), JSON.stringify({ bench: true }));
    writeFileSync(path.join(ctx, 'Dockerfile'), DOCKERFILE('busybox'));
    const tarBuf = contextTar(ctx);

    const cold: number[] = [];
    const cached: number[] = [];
    await post(d.sock, '/v1.44/build?t=benchbuild&nocache=1', tarBuf);
    for (let i = 0; i < runs; i++)
      cold.push(await time(() => post(d.sock, '/v1.44/build?t=benchbuild&nocache=1', tarBuf)));
    await post(d.sock, '/v1.44/build?t=benchbuild', tarBuf);
    for (let i = 0; i < runs; i++) cached.push(await time(() => post(d.sock, '/v1.44/build?t=benchbuild', tarBuf)));

    if (!existsSync('/usr/bin/buildah')) {
      process.stdout.write(
        `gantry: cold build ${median(cold).toFixed(0)} ms, full-cache rebuild ${median(cached).toFixed(0)} ms (goal < 150 ms)\n`,
      );
      process.stdout.write('buildah is not installed: apt-get install buildah to compare with it\n');
      return;
    }
    const store = tempDir(cleanup);
    const buildah = [
      '--root',
      path.join(store, 'root'),
      '--runroot',
      path.join(store, 'run'),
      '--storage-driver',
      'overlay',
    ];
    cleanup.add(
      () =>
        void sh('sh', [
          '-c',
          `buildah ${buildah.join(' ')} rm --all >/dev/null 2>&1; buildah ${buildah.join(' ')} rmi --all --force >/dev/null 2>&1; umount -R ${store}/root/overlay/*/merged 2>/dev/null; true`,
        ]),
    );
    const bctx = tempDir(cleanup);
    sh('cp', ['-a', `${ctx}/.`, bctx]);
    writeFileSync(path.join(bctx, 'Dockerfile'), DOCKERFILE(`${reg.addr}/library/busybox`));
    sh('buildah', [...buildah, 'pull', '--tls-verify=false', `${reg.addr}/library/busybox`]);
    const bud = (noCache: boolean): string[] => [
      ...buildah,
      'bud',
      '--isolation',
      'chroot',
      '--tls-verify=false',
      '--layers',
      ...(noCache ? ['--no-cache'] : []),
      '-q',
      '-t',
      'benchbuild',
      bctx,
    ];
    sh('buildah', bud(true));
    const bCold: number[] = [];
    const bCached: number[] = [];
    for (let i = 0; i < runs; i++) bCold.push(await time(() => sh('buildah', bud(true))));
    sh('buildah', bud(false));
    for (let i = 0; i < runs; i++) bCached.push(await time(() => sh('buildah', bud(false))));
    process.stdout.write(
      `reference Dockerfile: busybox, ENV, WORKDIR, 2 COPY (201 files, 360 kB), RUN, EXPOSE, CMD; ${runs} runs each, medians\n`,
    );
    row('cold build (no cache)', median(cold), 'buildah bud', median(bCold));
    row('full-cache rebuild', median(cached), 'buildah bud', median(bCached));
    process.stdout.write(`full-cache rebuild through the API: ${median(cached).toFixed(0)} ms (goal < 150 ms)\n`);
  } finally {
    await cleanup.run();
  }
}

/** The context as a tar, made by GNU tar. */
function contextTar(dir: string): Buffer {
  const r = spawnSync('tar', ['-c', '-C', dir, '.'], { maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr.toString()}`);
  return r.stdout;
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
