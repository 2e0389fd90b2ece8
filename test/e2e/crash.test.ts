/**
 * Issue 19: the engine killed with SIGKILL at each step of run, rm and network connect, during a
 * build's RUN and after a pulled layer is stored (crash points `GANTRY_CRASH_AT` stops it at), started
 * again, and every container removed: nothing of the engine's remains — no runtime state, conmon,
 * bundle, mount, namespace pin, veth, address lease, active snapshot, container directory, build
 * container or context, or content of an image that was never made.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  Cleanup,
  docker,
  ok,
  restartDaemon,
  run,
  runAsync,
  seedRegistry,
  startDaemon,
  startRegistry,
  waitFor,
  type Daemon,
} from './helpers.js';

const entries = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

describe('crash consistency of the engine', () => {
  const cleanup = new Cleanup();
  let d: Daemon;

  /** What the engine holds beyond its empty stores; [] when nothing. */
  function leftovers(): string[] {
    const found: string[] = [];
    for (const rt of ['runc', 'crun'])
      for (const e of entries(path.join(d.execRoot, rt))) found.push(`runtime state ${rt}/${e}`);
    for (const e of entries(path.join(d.execRoot, 'bundles'))) found.push(`bundle ${e}`);
    for (const e of entries(path.join(d.execRoot, 'netns'))) found.push(`netns pin ${e}`);
    for (const e of entries(path.join(d.dataRoot, 'snapshots', 'active'))) found.push(`active snapshot ${e}`);
    for (const e of entries(path.join(d.dataRoot, 'containers'))) found.push(`container dir ${e}`);
    const ipam = path.join(d.dataRoot, 'network', 'ipam');
    for (const net of entries(ipam))
      for (const e of entries(path.join(ipam, net)))
        if (/^\d+\.\d+\.\d+\.\d+$/.test(e)) found.push(`lease ${net}/${e}`);
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const at = line.split(' ')[4];
      if (at && (at.startsWith(d.dataRoot) || at.startsWith(d.execRoot))) found.push(`mount ${at}`);
    }
    const veths = run('ip', ['-o', 'link', 'show', 'master', d.bridge]).stdout.trim();
    if (veths) found.push(`veths on ${d.bridge}: ${veths}`);
    for (const line of run('ps', ['-eo', 'args']).stdout.split('\n'))
      if (line.includes('conmon') && line.includes(d.execRoot)) found.push(`conmon ${line.slice(0, 80)}`);
    return found;
  }

  /** Stop the running daemon and start it again with a crash point set; answers once it serves. */
  async function withCrashAt(point: string): Promise<void> {
    d.proc.kill('SIGTERM');
    await waitFor(() => d.proc.exitCode !== null || d.proc.signalCode !== null, 'the daemon to stop');
    d = await restartDaemon(cleanup, d, { GANTRY_CRASH_AT: point });
  }

  /** After the operation: the daemon died at the point, comes back, and `rm -f` of everything leaves nothing. */
  async function recoverAndClean(point: string): Promise<void> {
    await waitFor(() => d.proc.signalCode === 'SIGKILL', `the daemon to die at ${point}`, 30_000);
    d = await restartDaemon(cleanup, d);
    const ids = docker(d, ['ps', '-aq']).stdout.split('\n').filter(Boolean);
    if (ids.length) {
      const rm = docker(d, ['rm', '-f', ...ids]);
      assert.equal(rm.code, 0, `${point}: rm -f: ${rm.stderr}`);
    }
    docker(d, ['network', 'rm', 'second']);
    assert.deepEqual(leftovers(), [], `after a crash at ${point}`);
  }

  before(async () => {
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    d = await startDaemon(cleanup, { mirror: `http://${reg.addr}` });
    ok('docker', ['pull', '-q', 'busybox'], { env: d.env });
    assert.deepEqual(leftovers(), [], 'a fresh engine holds nothing');
  });
  after(() => cleanup.run());

  for (const point of [
    'create:prepared',
    'create:saved',
    'start:mounted',
    'start:conmon',
    'start:network',
    'start:saved',
  ])
    test(`docker run cut off at ${point}`, async () => {
      await withCrashAt(point);
      const r = docker(d, ['run', '-d', '--name', 'victim', 'busybox', 'sleep', '300']);
      assert.notEqual(r.code, 0, `${point} was not reached: ${r.stdout}`);
      await recoverAndClean(point);
    });

  for (const point of ['rm:killed', 'rm:runtime-deleted', 'rm:network'])
    test(`docker rm -f cut off at ${point}`, async () => {
      ok('docker', ['run', '-d', '--name', 'victim', 'busybox', 'sleep', '300'], { env: d.env });
      await withCrashAt(point);
      assert.notEqual(docker(d, ['rm', '-f', 'victim']).code, 0, `${point} was not reached`);
      await recoverAndClean(point);
    });

  test('docker network connect cut off after the interface is made', async () => {
    ok('docker', ['network', 'create', 'second'], { env: d.env });
    ok('docker', ['run', '-d', '--name', 'victim', 'busybox', 'sleep', '300'], { env: d.env });
    await withCrashAt('connect:attached');
    assert.notEqual(docker(d, ['network', 'connect', 'second', 'victim']).code, 0, 'connect:attached was not reached');
    await recoverAndClean('connect:attached');
  });

  for (const point of ['build:context', 'build:run'])
    test(`docker build cut off at ${point}`, async () => {
      const context = path.join(path.dirname(d.dataRoot), 'crash-build');
      mkdirSync(context, { recursive: true });
      writeFileSync(path.join(context, 'Dockerfile'), 'FROM busybox\nRUN sleep 30 && echo never > /done\n');
      await withCrashAt(point);
      assert.notEqual(docker(d, ['build', '-t', 'crashed', context]).code, 0, `${point} was not reached`);
      await recoverAndClean(point);
      assert.equal(docker(d, ['images', '-q', 'crashed']).stdout, '');
      assert.deepEqual(entries(path.join(d.dataRoot, 'build', 'contexts')), []);
    });

  for (const point of ['pull:config', 'pull:layer'])
    test(`docker pull cut off at ${point}: what it stored is collected`, async () => {
      ok('docker', ['rmi', 'busybox'], { env: d.env });
      const stored = (): string[] => [
        ...entries(path.join(d.dataRoot, 'content', 'blobs', 'sha256')),
        ...entries(path.join(d.dataRoot, 'snapshots')).filter((e) => /^[0-9a-f]{64}$/.test(e)),
      ];
      assert.deepEqual(stored(), [], 'no image is left to hold content');
      await withCrashAt(point);
      assert.notEqual(docker(d, ['pull', 'busybox']).code, 0, `${point} was not reached`);
      await recoverAndClean(point);
      assert.deepEqual(stored(), [], 'what the cut-off pull stored is collected');
      ok('docker', ['pull', '-q', 'busybox'], { env: d.env });
    });

  test('docker run --rm under load: a process that ran is never reported as failing to start', async () => {
    const runs = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        runAsync('docker', ['run', '--rm', 'busybox', 'sh', '-c', `exit ${i % 3}`], { env: d.env }),
      ),
    );
    runs.forEach((r, i) => assert.equal(r.code, i % 3, `run ${i}: ${r.stderr}`));
    assert.equal(docker(d, ['ps', '-aq']).stdout, '', '--rm removed every container');
  });

  test('after the crashes the engine runs containers as before', () => {
    assert.equal(ok('docker', ['run', '--rm', 'busybox', 'echo', 'alive'], { env: d.env }).trim(), 'alive');
    assert.deepEqual(leftovers(), []);
  });
});
