/**
 * Container start latency: `run --rm busybox true` through the Engine API (the docker CLI's sequence:
 * create, attach, wait, start, then removal), side by side with the bare OCI runtime running an
 * equivalent prepared bundle on a fresh overlay mount, and with podman (its own CLI, and the docker CLI
 * against `podman system service`) when podman is installed. Also `run -d` + `rm -f`, and 100
 * containers started concurrently.
 *
 *   node --import tsx bench/run.ts [--runs 20]
 */
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs, existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Cleanup, seedRegistry, startDaemon, startRegistry } from '../test/e2e/helpers.js';
import { median, row, sh, shAsync, time, engineApi } from './lib.js';

async function bareRuntime(runtime: string, rootfs: string, runs: number): Promise<number[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-bare-'));
  const times: number[] = [];
  try {
    const bundle = path.join(dir, 'bundle');
    await fs.mkdir(bundle);
    sh(runtime, ['spec', '--bundle', bundle]);
    const spec = JSON.parse(await fs.readFile(path.join(bundle, 'config.json'), 'utf8')) as {
      root: { path: string };
      process: { args: string[]; terminal: boolean };
      linux: { cgroupsPath?: string };
    };
    spec.process.args = ['/bin/true'];
    spec.process.terminal = false;
    for (let i = 0; i < runs; i++) {
      const work = path.join(dir, `w${i}`);
      for (const d of ['upper', 'work', 'merged']) await fs.mkdir(path.join(work, d), { recursive: true });
      spec.root.path = path.join(work, 'merged');
      spec.linux.cgroupsPath = `/gantry-bench/${i}`;
      await fs.writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec));
      times.push(
        await time(() => {
          // The same work the engine does per run: a fresh overlay mount, then the runtime.
          sh('mount', [
            '-t',
            'overlay',
            'overlay',
            '-o',
            `lowerdir=${rootfs},upperdir=${work}/upper,workdir=${work}/work`,
            `${work}/merged`,
          ]);
          sh(runtime, ['--root', path.join(dir, 'state'), 'run', '--bundle', bundle, `bench${i}`]);
          sh('umount', [`${work}/merged`]);
        }),
      );
    }
  } finally {
    spawnSync('sh', ['-c', `umount ${dir}/w*/merged 2>/dev/null; true`]);
    await fs.rm(dir, { recursive: true, force: true });
  }
  return times;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
  const runs = Number(values.runs);
  const cleanup = new Cleanup();
  try {
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    const d = await startDaemon(cleanup, { mirror: `http://${reg.addr}` });
    sh('docker', ['pull', '-q', 'busybox'], d.env);
    const lower = sh('docker', ['image', 'inspect', '-f', '{{.GraphDriver.Data.LowerDir}}', 'busybox'], d.env).trim();
    const runtime = sh('docker', ['info', '-f', '{{.DefaultRuntime}}'], d.env).trim() || 'runc';

    const api = (method: string, p: string, body?: unknown): Promise<unknown> => engineApi(d.sock, method, p, body);
    const apiOnly: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const t = await time(async () => {
        const json = await api('POST', '/containers/create', {
          Image: 'busybox',
          Cmd: ['true'],
          HostConfig: { AutoRemove: true, NetworkMode: 'none' },
        });
        const id = (json as { Id: string }).Id;
        const waited = api('POST', `/containers/${id}/wait?condition=removed`);
        await api('POST', `/containers/${id}/start`);
        await waited;
      });
      if (i > 0) apiOnly.push(t);
    }

    // Warm up both paths once.
    sh('docker', ['run', '--rm', '--network', 'none', 'busybox', 'true'], d.env);
    const apiRun: number[] = [];
    for (let i = 0; i < runs; i++)
      apiRun.push(await time(() => shAsync('docker', ['run', '--rm', '--network', 'none', 'busybox', 'true'], d.env)));
    const bare = await bareRuntime(runtime, lower, runs);
    process.stdout.write(`runtime: ${runtime}; ${runs} runs each, medians\n`);
    row(`run --rm true (Engine API)`, median(apiOnly), `bare ${runtime} run`, median(bare));
    row(`run --rm true (docker CLI)`, median(apiRun), `bare ${runtime} run`, median(bare));

    const detached: number[] = [];
    for (let i = 0; i < Math.min(runs, 10); i++) {
      detached.push(
        await time(async () => {
          const id = sh('docker', ['run', '-d', '--network', 'none', 'busybox', 'sleep', '60'], d.env).trim();
          sh('docker', ['rm', '-f', id], d.env);
        }),
      );
    }
    process.stdout.write(
      `run -d + rm -f (docker CLI)            gantry ${median(detached).toFixed(0).padStart(6)} ms\n`,
    );

    const many = await time(() =>
      Promise.all(
        Array.from({ length: 100 }, (_x, i) =>
          shAsync('docker', ['run', '-d', '--name', `many${i}`, 'busybox', 'sleep', '60'], d.env),
        ),
      ),
    );
    process.stdout.write(
      `100 containers started concurrently      gantry ${many.toFixed(0).padStart(6)} ms (${(many / 100).toFixed(1)} ms each)\n`,
    );
    sh('docker', ['rm', '-f', ...Array.from({ length: 100 }, (_x, i) => `many${i}`)], d.env);

    if (existsSync('/usr/bin/podman')) {
      try {
        const store = mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-podman-'));
        cleanup.add(() => fs.rm(store, { recursive: true, force: true }));
        // runc, since crun refuses this host's hybrid cgroups; nofile within the host's hard limit.
        const podman = [
          '--root',
          path.join(store, 'root'),
          '--runroot',
          path.join(store, 'run'),
          '--cgroup-manager',
          'cgroupfs',
          '--events-backend',
          'file',
          '--runtime',
          'runc',
        ];
        sh('podman', [...podman, 'pull', '--tls-verify=false', `${reg.addr}/library/busybox`]);
        const podRun = [
          ...podman,
          'run',
          '--rm',
          '--ulimit',
          'nofile=20000:20000',
          '--ulimit',
          'nproc=65535:65535',
          '--network',
          'none',
          `${reg.addr}/library/busybox`,
          'true',
        ];
        sh('podman', podRun);
        const pod: number[] = [];
        for (let i = 0; i < runs; i++) pod.push(await time(() => shAsync('podman', podRun)));
        row('run --rm true (gantry vs podman CLI)', median(apiRun), 'podman run', median(pod));
        // The docker CLI against podman's Docker-compatible API service.
        const podSock = path.join(store, 'podman.sock');
        const svc = spawn('podman', [...podman, 'system', 'service', '--time', '0', `unix://${podSock}`], {
          stdio: 'ignore',
        });
        cleanup.add(() => void svc.kill());
        for (let i = 0; i < 100 && !existsSync(podSock); i++) await new Promise((r) => setTimeout(r, 100));
        const podEnv = { DOCKER_HOST: `unix://${podSock}` };
        sh(
          'docker',
          [
            'run',
            '--rm',
            '--ulimit',
            'nofile=20000:20000',
            '--ulimit',
            'nproc=65535:65535',
            '--network',
            'none',
            `${reg.addr}/library/busybox`,
            'true',
          ],
          podEnv,
        );
        const podApi: number[] = [];
        for (let i = 0; i < runs; i++) {
          podApi.push(
            await time(() =>
              shAsync(
                'docker',
                [
                  'run',
                  '--rm',
                  '--ulimit',
                  'nofile=20000:20000',
                  '--ulimit',
                  'nproc=65535:65535',
                  '--network',
                  'none',
                  `${reg.addr}/library/busybox`,
                  'true',
                ],
                podEnv,
              ),
            ),
          );
        }
        row('docker CLI: gantry vs podman service', median(apiRun), 'podman API', median(podApi));
      } catch (err) {
        process.stdout.write(
          `podman could not run a container on this host: ${(err as Error).message.split('\n')[0]}\n`,
        );
      }
    } else {
      process.stdout.write('podman is not installed: apt-get install podman to compare with it\n');
    }
  } finally {
    await cleanup.run();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
