/**
 * Issue 5 acceptance: Dockerfile builds through the classic builder API with the real docker CLI
 * (no buildx) and docker-py: the kubia seed, a static server pushed and run by a second engine,
 * multi-stage with ARG/--target/.dockerignore, the cache, and failures that leave no trace.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  Cleanup,
  curl,
  freePort,
  GANTRY,
  hasPython,
  ok,
  run,
  runAsync,
  seedRegistry,
  startDaemon,
  startRegistry,
  tempDir,
  waitFor,
  type Daemon,
  type Registry,
} from './helpers.js';

const d_ = (d: Daemon, args: string[], cwd?: string): string => ok('docker', args, { env: d.env, cwd });

const KUBIA_APP = `const http = require('http');
const os = require('os');
console.log("Kubia server starting...");
var handler = function(request, response) {
  console.log("Received request from " + request.connection.remoteAddress);
  response.writeHead(200);
  response.end("You've hit " + os.hostname() + "\\n");
};
var www = http.createServer(handler);
www.listen(8080);
`;

const STATIC_SERVER_C = `#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080) };
  bind(s, (struct sockaddr *)&a, sizeof(a));
  listen(s, 16);
  const char *reply = "HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nHello from k8s-for-beginners\\n";
  for (;;) {
    int c = accept(s, 0, 0);
    char buf[1024];
    if (read(c, buf, sizeof(buf)) > 0) write(c, reply, strlen(reply));
    close(c);
  }
}
`;

describe('docker build (classic builder)', () => {
  const cleanup = new Cleanup();
  let d: Daemon;
  let reg: Registry;
  before(async () => {
    reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    seedRegistry(reg, 'node:20', 'library/node:20');
    d = await startDaemon(cleanup, { mirror: `http://${reg.addr}`, insecure: [reg.addr] });
  });
  after(() => cleanup.run());

  test('kubia: build, run with -p, curl answers with the hostname; logs; rebuild uses the cache; a change rebuilds from ADD on', async () => {
    const ctx = tempDir(cleanup);
    writeFileSync(path.join(ctx, 'app.js'), KUBIA_APP);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM node:20\nADD app.js /app.js\nENTRYPOINT ["node", "app.js"]\n');
    const first = d_(d, ['build', '-t', 'kubia', '.'], ctx);
    assert.match(first, /Step 1\/3 : FROM node:20/);
    assert.match(first, /Step 3\/3 : ENTRYPOINT \["node", "app.js"\]/);
    assert.match(first, /Successfully tagged kubia:latest/);
    const port = await freePort();
    const id = d_(d, ['run', '--name', 'kubia-container', '-p', `${port}:8080`, '-d', 'kubia']).trim();
    await waitFor(
      async () => (await curl(`http://localhost:${port}`)).startsWith("You've hit"),
      'kubia answers',
      15000,
    );
    assert.equal(await curl(`http://localhost:${port}`), `You've hit ${id.slice(0, 12)}\n`);
    assert.match(d_(d, ['logs', 'kubia-container']), /^Kubia server starting\.\.\.$/m);
    d_(d, ['rm', '-f', 'kubia-container']);

    const history = d_(d, ['history', '--format', '{{.CreatedBy}}', '--no-trunc', 'kubia']).split('\n');
    assert.equal(history[0], '/bin/sh -c #(nop)  ENTRYPOINT ["node" "app.js"]');
    assert.match(history[1]!, /ADD file:[0-9a-f]+ in \/app.js/);

    const imageId = d_(d, ['inspect', '-f', '{{.Id}}', 'kubia']).trim();
    const again = d_(d, ['build', '-t', 'kubia', '.'], ctx);
    assert.equal((again.match(/---> Using cache/g) ?? []).length, 2, again);
    assert.equal(
      d_(d, ['inspect', '-f', '{{.Id}}', 'kubia']).trim(),
      imageId,
      'a full-cache rebuild gives the same image',
    );

    writeFileSync(path.join(ctx, 'app.js'), KUBIA_APP.replace('starting', 'starting again'));
    const changed = d_(d, ['build', '-t', 'kubia', '.'], ctx);
    assert.equal((changed.match(/---> Using cache/g) ?? []).length, 0, changed);
    assert.notEqual(d_(d, ['inspect', '-f', '{{.Id}}', 'kubia']).trim(), imageId);
    // The replaced kubia is dangling (<none>), as in Docker; the build's step images show only with -a.
    assert.equal((d_(d, ['images', '--format', '{{.Repository}}']).match(/<none>/g) ?? []).length, 1);
    assert.ok((d_(d, ['images', '-a', '--format', '{{.Repository}}']).match(/<none>/g) ?? []).length > 1);
  });

  test('seed 1.01: a static server FROM busybox, pushed, pulled and run by a second engine', async () => {
    const ctx = tempDir(cleanup);
    writeFileSync(path.join(ctx, 'server.c'), STATIC_SERVER_C);
    ok('gcc', ['-static', '-O2', '-o', path.join(ctx, 'k8s-server'), path.join(ctx, 'server.c')]);
    writeFileSync(
      path.join(ctx, 'Dockerfile'),
      'FROM busybox\nCOPY k8s-server /k8s-server\nEXPOSE 8080\nCMD ["/k8s-server"]\n',
    );
    d_(d, ['build', '-t', 'k8s-for-beginners:v0.0.1', '.'], ctx);
    const port = await freePort();
    d_(d, ['run', '-d', '--name', 'k8s', '-p', `${port}:8080`, 'k8s-for-beginners:v0.0.1']);
    await waitFor(
      async () => (await curl(`http://127.0.0.1:${port}/`)) === 'Hello from k8s-for-beginners\n',
      'the static server answers',
      10000,
    );
    d_(d, ['rm', '-f', 'k8s']);
    const remote = `${reg.addr}/you/k8s-for-beginners:v0.0.1`;
    d_(d, ['tag', 'k8s-for-beginners:v0.0.1', remote]);
    d_(d, ['push', remote]);

    const other = await startDaemon(cleanup, { insecure: [reg.addr] });
    const port2 = await freePort();
    ok('docker', ['run', '-d', '--name', 'k8s2', '-p', `${port2}:8080`, remote], { env: other.env });
    await waitFor(
      async () => (await curl(`http://127.0.0.1:${port2}/`)) === 'Hello from k8s-for-beginners\n',
      'the second engine runs it',
      15000,
    );
    assert.equal(
      ok('docker', ['inspect', '-f', '{{.Id}}', remote], { env: other.env }).trim(),
      d_(d, ['inspect', '-f', '{{.Id}}', 'k8s-for-beginners:v0.0.1']).trim(),
    );
    ok('docker', ['rm', '-f', 'k8s2'], { env: other.env });
  });

  test('multi-stage: ARG before FROM, --build-arg, ENV, WORKDIR, RUN, COPY --from, --target; .dockerignore keeps a 50 MB file out', () => {
    const ctx = tempDir(cleanup);
    mkdirSync(path.join(ctx, 'src'));
    writeFileSync(path.join(ctx, 'src', 'a.txt'), 'from the context\n');
    writeFileSync(path.join(ctx, 'big.bin'), Buffer.alloc(50 << 20, 1));
    writeFileSync(path.join(ctx, '.dockerignore'), 'big.bin\n*.log\n!keep.log\n');
    writeFileSync(path.join(ctx, 'noise.log'), 'ignored\n');
    writeFileSync(path.join(ctx, 'keep.log'), 'kept\n');
    writeFileSync(
      path.join(ctx, 'Dockerfile'),
      [
        'ARG BASE=busybox',
        'FROM ${BASE} AS builder',
        'ARG GREETING=hello',
        'ENV OUT=/out',
        'WORKDIR /work',
        'RUN mkdir -p $OUT && echo "$GREETING from builder in $(pwd)" > $OUT/greeting.txt',
        'COPY src/ ./src/',
        'COPY *.log ./',
        'RUN cat src/a.txt >> $OUT/greeting.txt && ls *.log >> $OUT/greeting.txt && ls /work >> $OUT/greeting.txt',
        'FROM busybox AS unused',
        'RUN exit 9',
        'FROM ${BASE} AS final',
        'COPY --from=builder /out/ /app/',
        'CMD ["cat", "/app/greeting.txt"]',
        'FROM final AS after',
        'RUN exit 8',
      ].join('\n') + '\n',
    );
    const out = d_(d, ['build', '--build-arg', 'GREETING=hi', '--target', 'final', '-t', 'multi', '.'], ctx);
    const sent = /Sending build context to Docker daemon\s+([\d.]+)([kMG]?B)/.exec(out);
    assert.ok(sent, out);
    assert.ok(sent[2] === 'kB' || sent[2] === 'B', `the context sent is small: ${sent[0]}`);
    assert.doesNotMatch(out, /exit 9|exit 8/, 'stages the target does not need are skipped');
    assert.equal(
      d_(d, ['run', '--rm', 'multi']),
      'hi from builder in /work\nfrom the context\nkeep.log\nkeep.log\nsrc\n',
    );
    // The gantry CLI sends the same context the same way.
    const g = ok(GANTRY, ['build', '--build-arg', 'GREETING=hi', '--target', 'final', '-t', 'multi-g', ctx], {
      env: d.env,
    });
    assert.match(g, /Sending build context to Gantry daemon\s+[\d.]+k?B\n/);
    assert.equal(
      d_(d, ['run', '--rm', 'multi-g']),
      'hi from builder in /work\nfrom the context\nkeep.log\nkeep.log\nsrc\n',
    );
  });

  test('failures: a failing RUN reports its code and leaves no trace; a bad instruction names its line', () => {
    const ctx = tempDir(cleanup);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo before\nRUN exit 3\n');
    d_(d, ['tag', 'busybox', 'precious:latest']);
    const before = d_(d, ['inspect', '-f', '{{.Id}}', 'precious']).trim();
    const containersBefore = d_(d, ['ps', '-aq']).trim();
    const mountsBefore = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(d.dataRoot)).length;
    const failedCwd = run('docker', ['build', '-t', 'precious', '.'], { env: d.env, cwd: ctx });
    assert.notEqual(failedCwd.code, 0);
    assert.match(failedCwd.stderr + failedCwd.stdout, /The command '\/bin\/sh -c exit 3' returned a non-zero code: 3/);
    assert.equal(d_(d, ['inspect', '-f', '{{.Id}}', 'precious']).trim(), before, 'the old tag is untouched');
    assert.equal(d_(d, ['ps', '-aq']).trim(), containersBefore, 'no container left');
    assert.equal(
      readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => l.includes(d.dataRoot)).length,
      mountsBefore,
      'no mount left',
    );

    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo should-not-run\nBOGUS thing\n');
    const bad = run('docker', ['build', '.'], { env: d.env, cwd: ctx });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr + bad.stdout, /Dockerfile parse error line 3: unknown instruction: BOGUS/);
    assert.doesNotMatch(bad.stdout, /should-not-run/);
  });

  test('every instruction: config they record, COPY/ADD options, heredocs, escape directive, ONBUILD triggers', async () => {
    const ctx = tempDir(cleanup);
    mkdirSync(path.join(ctx, 'tree', 'sub'), { recursive: true });
    writeFileSync(path.join(ctx, 'tree', 'sub', 'f.txt'), 'in a tree\n');
    writeFileSync(path.join(ctx, 'one.txt'), 'one\n');
    const tarDir = tempDir(cleanup);
    writeFileSync(path.join(tarDir, 'inside.txt'), 'from the archive\n');
    ok('tar', ['-czf', path.join(ctx, 'bundle.tar.gz'), '-C', tarDir, 'inside.txt']);
    const www = tempDir(cleanup);
    writeFileSync(path.join(www, 'remote.txt'), 'fetched\n');
    const port = await freePort();
    const server = (await import('node:http')).createServer((req, res) =>
      res.end(readFileSync(path.join(www, path.basename(req.url ?? '')))),
    );
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    cleanup.add(() => new Promise<void>((r) => server.close(() => r())));
    writeFileSync(
      path.join(ctx, 'Dockerfile'),
      [
        '# escape=`',
        'FROM busybox',
        'LABEL org.example.name="two words" other=x',
        'ENV APP_HOME=/srv/app `',
        '    MODE=test',
        'WORKDIR $APP_HOME',
        'COPY --chown=nobody:nogroup --chmod=640 one.txt ${APP_HOME}/copied/',
        'COPY tree /tree/',
        'ADD bundle.tar.gz /extracted/',
        `ADD http://127.0.0.1:${port}/remote.txt /remote/`,
        'COPY <<EOF /etc/greeting',
        'hello from a heredoc',
        'EOF',
        'RUN <<EOF',
        'echo "${MODE:+mode is $MODE}" > /srv/mode',
        'EOF',
        'EXPOSE 8080 53/udp',
        'VOLUME ["/data"]',
        'USER nobody',
        'STOPSIGNAL SIGTERM',
        'HEALTHCHECK --interval=5s --retries=2 CMD wget -qO- localhost:8080 || exit 1',
        'SHELL ["/bin/sh", "-ec"]',
        'ONBUILD RUN echo triggered > /tmp/onbuild',
        'CMD ["sh", "-c", "cat /etc/greeting /srv/mode"]',
      ].join('\n') + '\n',
    );
    // Asynchronously: the test's own HTTP server answers ADD's download meanwhile.
    const built = await runAsync('sh', ['-c', `cd ${ctx} && docker build -t everything .`], { env: d.env });
    assert.equal(built.code, 0, built.stdout + built.stderr);
    const cfg = JSON.parse(d_(d, ['inspect', '-f', '{{json .Config}}', 'everything'])) as Record<string, unknown>;
    assert.deepEqual(cfg.Labels, { 'org.example.name': 'two words', other: 'x' });
    assert.ok((cfg.Env as string[]).includes('APP_HOME=/srv/app') && (cfg.Env as string[]).includes('MODE=test'));
    assert.equal(cfg.WorkingDir, '/srv/app');
    assert.deepEqual(cfg.ExposedPorts, { '8080/tcp': {}, '53/udp': {} });
    assert.deepEqual(cfg.Volumes, { '/data': {} });
    assert.equal(cfg.User, 'nobody');
    assert.equal(cfg.StopSignal, 'SIGTERM');
    assert.deepEqual((cfg.Healthcheck as { Test: string[] }).Test, ['CMD-SHELL', 'wget -qO- localhost:8080 || exit 1']);
    assert.deepEqual(cfg.Shell, ['/bin/sh', '-ec']);
    assert.deepEqual(cfg.OnBuild, ['RUN echo triggered > /tmp/onbuild']);
    assert.equal(d_(d, ['run', '--rm', 'everything']), 'hello from a heredoc\nmode is test\n');
    const check = (cmd: string): string => d_(d, ['run', '--rm', '-u', 'root', 'everything', 'sh', '-c', cmd]);
    assert.match(check('ls -ln /srv/app/copied/one.txt'), /^-rw-r-----\s+1 65534\s+65534 /);
    assert.equal(
      check('cat /tree/sub/f.txt /extracted/inside.txt /remote/remote.txt'),
      'in a tree\nfrom the archive\nfetched\n',
    );
    // ONBUILD runs in the child build.
    const child = tempDir(cleanup);
    writeFileSync(path.join(child, 'Dockerfile'), 'FROM everything\nUSER root\nCMD ["cat", "/tmp/onbuild"]\n');
    const out = d_(d, ['build', '-t', 'child', '.'], child);
    assert.match(out, /Executing 1 build trigger/);
    assert.equal(d_(d, ['run', '--rm', 'child']), 'triggered\n');
  });

  test('the cache survives a daemon restart; builder prune empties it; -q prints only the ID', async () => {
    const ctx = tempDir(cleanup);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo cached > /c\n');
    d_(d, ['build', '-t', 'cachy', '.'], ctx);
    d.proc.kill('SIGTERM');
    await new Promise((r) => d.proc.once('exit', r));
    const { restartDaemon } = await import('./helpers.js');
    d = await restartDaemon(cleanup, d);
    assert.match(d_(d, ['build', '-t', 'cachy', '.'], ctx), /Using cache/);
    assert.match(d_(d, ['builder', 'prune', '-f']), /Total reclaimed space/);
    assert.doesNotMatch(d_(d, ['build', '-t', 'cachy', '.'], ctx), /Using cache/);
    assert.match(d_(d, ['build', '-q', '.'], ctx).trim(), /^sha256:[0-9a-f]{64}$/);
  });

  test('RUN stderr in the stream, --add-host for RUN, --cache-from stands in for RUN and COPY, .dockerignore exceptions inside an excluded directory', () => {
    const ctx = tempDir(cleanup);
    mkdirSync(path.join(ctx, 'secret/public'), { recursive: true });
    writeFileSync(path.join(ctx, 'secret/key'), 'never\n');
    writeFileSync(path.join(ctx, 'secret/public/readme'), 'shown\n');
    writeFileSync(path.join(ctx, 'app.txt'), 'app\n');
    writeFileSync(path.join(ctx, '.dockerignore'), '# keep secrets out\nsecret\n!secret/public/readme\n');
    writeFileSync(
      path.join(ctx, 'Dockerfile'),
      [
        'FROM busybox',
        'RUN echo to-stderr >&2',
        'RUN grep registry.example /etc/hosts > /hosts-line',
        'COPY . /ctx',
        'RUN ls -R /ctx > /listing',
      ].join('\n') + '\n',
    );
    const out = d_(d, ['build', '--add-host', 'registry.example:10.1.2.3', '-t', 'cachesrc', '.'], ctx);
    assert.match(out, /^to-stderr$/m, "RUN's stderr reaches the build output");
    assert.match(d_(d, ['run', '--rm', 'cachesrc', 'cat', '/hosts-line']), /^10\.1\.2\.3\s+registry\.example$/m);
    assert.equal(d_(d, ['run', '--rm', 'cachesrc', 'cat', '/ctx/secret/public/readme']), 'shown\n');
    assert.notEqual(run('docker', ['run', '--rm', 'cachesrc', 'cat', '/ctx/secret/key'], { env: d.env }).code, 0);
    const bad = run('docker', ['build', '--add-host', 'bad host:1.2.3.4', '.'], { env: d.env, cwd: ctx });
    assert.notEqual(bad.code, 0);
    const layers = (ref: string): string => d_(d, ['inspect', '-f', '{{json .RootFS.Layers}}', ref]).trim();
    // The local cache is emptied; the image stands in for every step.
    d_(d, ['builder', 'prune', '-f']);
    const again = d_(
      d,
      ['build', '--add-host', 'registry.example:10.1.2.3', '--cache-from', 'cachesrc', '-t', 'fromcache', '.'],
      ctx,
    );
    assert.equal(again.match(/Using cache/g)?.length, 4, again);
    assert.doesNotMatch(again, /^to-stderr$/m, 'nothing ran');
    assert.equal(layers('fromcache'), layers('cachesrc'));
    // A changed file breaks the chain from its COPY on.
    writeFileSync(path.join(ctx, 'app.txt'), 'changed\n');
    d_(d, ['builder', 'prune', '-f']);
    const changed = d_(d, ['build', '--add-host', 'registry.example:10.1.2.3', '--cache-from', 'cachesrc', '.'], ctx);
    assert.equal(changed.match(/Using cache/g)?.length, 2, changed);
  });

  test('images shows untagged images as <none>; image prune with the dangling, label, label! and until filters', () => {
    const ctx = tempDir(cleanup);
    const build = (label: string, content: string): string => {
      writeFileSync(path.join(ctx, 'Dockerfile'), `FROM busybox\nLABEL team=${label}\nRUN echo ${content} > /f\n`);
      return d_(d, ['build', '-q', '-t', `prunable-${label}`, '.'], ctx).trim();
    };
    const red1 = build('red', 'one');
    build('red', 'two');
    const blue1 = build('blue', 'one');
    build('blue', 'two');
    const listed = d_(d, ['images', '--filter', 'dangling=true', '--format', '{{.ID}} {{.Repository}} {{.Tag}}']);
    for (const id of [red1, blue1]) assert.match(listed, new RegExp(`^${id.slice(7, 19)} <none> <none>$`, 'm'));
    assert.match(
      run('docker', ['image', 'prune', '-f', '--filter', 'dangling=maybe'], { env: d.env }).stderr,
      /invalid filter 'dangling=maybe'/,
    );
    assert.doesNotMatch(d_(d, ['image', 'prune', '-f', '--filter', 'until=2000-01-01T00:00:00Z']), /deleted:/i);
    const red = d_(d, ['image', 'prune', '-f', '--filter', 'label=team=red']);
    assert.match(red, new RegExp(red1.slice(7)));
    assert.doesNotMatch(red, new RegExp(blue1.slice(7)));
    const notRed = d_(d, ['image', 'prune', '-f', '--filter', 'label!=team=red']);
    assert.match(notRed, new RegExp(blue1.slice(7)));
    assert.equal(d_(d, ['images', '-q', '--filter', 'dangling=true']).trim(), '');
    assert.match(
      d_(d, ['images', '--format', '{{.Repository}}:{{.Tag}}']),
      /^prunable-red:latest$/m,
      'tagged images stay',
    );
    // The build cache stays for the next build.
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nLABEL team=blue\nRUN echo two > /f\n');
    assert.match(d_(d, ['build', '.'], ctx), /Using cache/);
  });

  test(
    'docker-py: images.build(path=..., tag=...)',
    { skip: !hasPython('docker') && 'python3 docker module not installed' },
    () => {
      const ctx = tempDir(cleanup);
      writeFileSync(
        path.join(ctx, 'Dockerfile'),
        'FROM busybox\nLABEL made.by=docker-py\nRUN echo built > /built\nCMD ["cat", "/built"]\n',
      );
      const script = `
import docker
c = docker.DockerClient(base_url='${d.host}')
image, logs = c.images.build(path='${ctx}', tag='pybuilt:1')
print(image.tags[0], image.labels['made.by'])
print(c.containers.run('pybuilt:1', remove=True).decode().strip())
`;
      const out = run('python3', ['-c', script]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout, 'pybuilt:1 docker-py\nbuilt\n');
    },
  );
});
