/** Exec sessions: created, started through the runtime under conmon, inspected, resized. */
import { randomBytes } from 'node:crypto';
import { promises as fs, watch } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { conflict, GantryError, invalid, notFound } from '../../common/errors.js';
import { connectAttach, type AttachConnection } from '../../runtime/attach.js';
import { computeCaps } from '../../runtime/spec.js';
import { launchConmon } from '../../runtime/runtime.js';
import { resolveUser } from '../../runtime/user.js';
import type { ContainerService } from './service.js';
import type { OutputChunk, Attachment, ExecSession } from './types.js';
import { mergeEnv, processEnv, sleep, writeCtl, exitCodeFor, translateStartError } from './util.js';

export const execMethods = {
  execCreate(this: ContainerService, ref: string, config: ExecSession['config']): string {
    const rec = this.d.store.resolve(ref);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    if (rec.State.Paused) throw conflict(`Container ${rec.Id} is paused, unpause the container before exec`);
    if (!config.Cmd?.length) throw invalid('No exec command specified');
    const id = randomBytes(32).toString('hex');
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    let resolveStarted!: () => void;
    const started = new Promise<void>((r) => (resolveStarted = r));
    this.execs.set(id, {
      id,
      containerId: rec.Id,
      config,
      running: false,
      exitCode: null,
      pid: 0,
      done,
      resolveDone,
      started,
      resolveStarted,
    });
    this.d.events.publish(
      'container',
      `exec_create: ${config.Cmd.join(' ')}`,
      rec.Id,
      this.eventAttrs(rec, { execID: id }),
    );
    return id;
  },

  execInspect(this: ContainerService, id: string): Record<string, unknown> {
    const e = this.execs.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`);
    return {
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: {
        tty: !!e.config.Tty,
        entrypoint: e.config.Cmd[0],
        arguments: e.config.Cmd.slice(1),
        privileged: !!e.config.Privileged,
        user: e.config.User ?? '',
      },
      OpenStdin: !!e.config.AttachStdin,
      OpenStderr: !!e.config.AttachStderr,
      OpenStdout: !!e.config.AttachStdout,
      CanRemove: false,
      ContainerID: e.containerId,
      DetachKeys: e.config.DetachKeys ?? '',
      Pid: e.pid,
    };
  },

  /**
   * Run an exec session. Without a TTY the runtime's exec runs as a child with pipes; with a TTY,
   * conmon allocates the terminal and the session is reached through its attach socket.
   */
  async execStart(this: ContainerService, id: string, detach: boolean): Promise<Attachment & { done: Promise<void> }> {
    const e = this.execs.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`);
    if (e.running || e.exitCode !== null) throw conflict(`Error: Exec command ${id} is already running`);
    const rec = this.d.store.resolve(e.containerId);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    const rt = this.runtimeOf(rec);
    const rootfs = this.d.snapshots.activeDirs(rec.Id).merged;
    const user = await resolveUser(rootfs, e.config.User ?? rec.Config.User, rec.HostConfig.GroupAdd ?? []);
    // moby's exec environment: hostname, TERM and the links' variables, then the container's, then the exec's.
    const daemonEnv = [
      `HOSTNAME=${rec.Config.Hostname ?? ''}`,
      ...(e.config.Tty ? ['TERM=xterm'] : []),
      ...this.linkEnvironment(rec),
    ];
    const env = processEnv(mergeEnv(mergeEnv(daemonEnv, rec.Config.Env ?? []), e.config.Env ?? []));
    if (!env.some((x) => x.startsWith('HOME='))) env.push(`HOME=${user.home}`);
    const bundleSpec = JSON.parse(await fs.readFile(path.join(this.bundleDir(rec.Id), 'config.json'), 'utf8')) as {
      process: Record<string, unknown>;
    };
    const proc: Record<string, unknown> = {
      ...bundleSpec.process,
      terminal: !!e.config.Tty,
      args: e.config.Cmd,
      env,
      cwd: e.config.WorkingDir || rec.Config.WorkingDir || '/',
      user: {
        uid: user.uid,
        gid: user.gid,
        additionalGids: user.additionalGids.length ? user.additionalGids : undefined,
      },
    };
    if (e.config.Privileged) {
      const caps = computeCaps(true);
      proc.capabilities = { bounding: caps, effective: caps, permitted: caps };
    }
    const specPath = path.join(this.bundleDir(rec.Id), `exec-${id.slice(0, 16)}.json`);
    await fs.writeFile(specPath, JSON.stringify(proc));
    e.running = true;
    this.d.events.publish(
      'container',
      `exec_start: ${e.config.Cmd.join(' ')}`,
      rec.Id,
      this.eventAttrs(rec, { execID: id }),
    );
    const finish = (code: number): void => {
      e.exitCode = code;
      e.running = false;
      e.resolveDone();
      void fs.rm(specPath, { force: true });
      this.d.events.publish(
        'container',
        'exec_die',
        rec.Id,
        this.eventAttrs(rec, { execID: id, exitCode: String(code) }),
      );
    };
    const output = new PassThrough({ objectMode: true });
    if (!e.config.Tty) {
      const child = rt.execPiped(rec.Id, specPath, false);
      e.pid = child.pid() ?? 0;
      e.resolveStarted();
      let open = 2;
      const endOne = (): void => {
        if (--open === 0) output.end();
      };
      child.stdout.on('data', (c: Buffer) => {
        if (e.config.AttachStdout !== false) output.write({ stream: 'stdout', data: c } satisfies OutputChunk);
      });
      child.stderr.on('data', (c: Buffer) => {
        if (e.config.AttachStderr !== false) output.write({ stream: 'stderr', data: c } satisfies OutputChunk);
      });
      child.stdout.on('end', endOne);
      child.stderr.on('end', endOne);
      let stdin: PassThrough | undefined;
      if (e.config.AttachStdin && !detach) {
        stdin = new PassThrough();
        stdin.pipe(child.stdin);
        child.stdin.on('error', () => undefined);
      } else child.stdin.end();
      void child.exited.then((code) => {
        // runc reports exec failures (command not found) with its own status; map them as Docker does.
        finish(code === 255 ? 126 : code);
      });
      return { output, stdin, done: e.done, close: () => output.end() };
    }
    // TTY: conmon owns the terminal; connect to its attach socket before the process starts.
    const session = id.slice(0, 16);
    // conmon names exit files after the container, so each exec session gets its own exit directory.
    const execExitDir = path.join(this.d.paths.execRoot, 'exec-exits', session);
    await fs.mkdir(execExitDir, { recursive: true });
    const exitWatch = watch(execExitDir, () => {
      void fs.readFile(path.join(execExitDir, rec.Id), 'utf8').then(
        (v) => {
          if (v.trim() === '' || e.exitCode !== null) return;
          exitWatch.close();
          void fs.rm(execExitDir, { recursive: true, force: true });
          finish(Number(v.trim()));
        },
        () => undefined,
      );
    });
    let conn: AttachConnection | undefined;
    const stdin = e.config.AttachStdin && !detach ? new PassThrough() : undefined;
    const pidPromise = launchConmon({
      conmon: this.d.paths.conmon,
      runtime: rt,
      containerId: rec.Id,
      sessionId: session,
      bundle: this.bundleDir(rec.Id),
      pidFile: path.join(this.bundleDir(rec.Id), `exec-${session}.pid`),
      conmonPidFile: path.join(this.bundleDir(rec.Id), `exec-${session}.conmon.pid`),
      exitDir: execExitDir,
      socketDir: this.socketDir(),
      name: rec.Name.slice(1),
      tty: true,
      stdin: !!e.config.AttachStdin,
      execSpec: specPath,
      onAttachReady: async () => {
        conn = connectAttach(path.join(this.socketDir(), session, 'attach'));
        conn.onOutput((_stream, data) => output.write({ stream: 'stdout', data } satisfies OutputChunk));
        conn.onClose(() => output.end());
        stdin?.on('data', (c: Buffer) => conn?.write(c));
        stdin?.on('end', () => conn?.endInput());
      },
    });
    e.ctl = path.join(this.socketDir(), session, 'ctl');
    try {
      e.pid = await pidPromise;
    } catch (err) {
      e.resolveStarted();
      exitWatch.close();
      finish(exitCodeFor(err));
      output.end();
      throw translateStartError(err);
    }
    e.resolveStarted();
    return { output, stdin, done: e.done, close: () => conn?.destroy() };
  },

  async execResize(this: ContainerService, id: string, height: number, width: number): Promise<void> {
    const e = this.execs.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`);
    // A client resizes as soon as it has the stream, which may be before the process runs.
    const timedOut = await Promise.race([e.started.then(() => false), sleep(10000).then(() => true)]);
    if (timedOut) throw new GantryError('internal', 'timeout waiting for exec session ready');
    if (e.ctl) await writeCtl(e.ctl, height, width);
  },
};
