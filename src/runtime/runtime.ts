/**
 * The OCI runtime (runc or crun) and conmon, its per-container monitor.
 *
 * conmon runs `<runtime> create` for a container (or `<runtime> exec` for an exec session), keeps the
 * container's stdio, writes its output to a log file (k8s-file format), serves an attach socket
 * (SOCK_SEQPACKET) for live I/O, and writes the exit code to `exit-dir/<id>` when the process ends.
 * It daemonizes, so containers keep running, logging and reporting their exit while the engine is down.
 * The engine then starts the container (see `OciRuntime.start`).
 */
import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants, existsSync, openSync, promises as fs, readFileSync, readSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { GantryError } from '../common/errors.js';
import type { Logger } from '../common/log.js';

const execFileP = promisify(execFile);

export interface RuntimeState {
  status: 'creating' | 'created' | 'running' | 'stopped' | 'paused';
  pid: number;
}

/** Find a binary on the usual paths. */
export function findBinary(name: string): string | undefined {
  for (const dir of ['/usr/local/bin', '/usr/bin', '/usr/sbin', '/bin', '/sbin']) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

/**
 * crun 1.8 refuses a hybrid cgroup layout where a v2 hierarchy is mounted (at /sys/fs/cgroup/unified)
 * with controllers while the rest is v1. runc handles it, so such hosts use runc.
 */
export function crunUsable(): { ok: boolean; reason?: string } {
  if (!findBinary('crun')) return { ok: false, reason: 'crun is not installed' };
  try {
    const controllers = readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim();
    if (controllers)
      return { ok: false, reason: `hybrid cgroup layout: v2 controllers (${controllers}) beside v1; crun refuses it` };
  } catch {
    // No unified hierarchy beside v1: pure v1 or pure v2, both fine for crun.
  }
  return { ok: true };
}

/**
 * Whether a process exists and has not exited (a zombie has); with `startTime` (clock ticks since boot,
 * as runc records it), also that the pid was not reused by another process.
 */
function processAlive(pid: number, startTime?: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name: state is the first, starttime the 20th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return false;
    return startTime === undefined || Number(fields[19]) === startTime;
  } catch {
    return false;
  }
}

export class OciRuntime {
  constructor(
    readonly name: string,
    readonly binary: string,
    /** State directory of the runtime (`--root`), private to this engine. */
    readonly root: string,
    private readonly logger: Logger,
  ) {}

  private async run(args: string[], opts: { input?: string } = {}): Promise<string> {
    try {
      const child = execFileP(this.binary, ['--root', this.root, ...args], { maxBuffer: 16 << 20 });
      if (opts.input !== undefined) child.child.stdin?.end(opts.input);
      const { stdout } = await child;
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new GantryError('internal', runtimeMessage(e.stderr || e.message));
    }
  }

  /**
   * Start a created container. runc and crun both hold a created container's init on a FIFO
   * (`exec.fifo` in its state directory) and their `start` only reads it and removes it; doing that
   * here saves a runtime process on every start. Without the FIFO the runtime's own `start` runs.
   */
  async start(id: string, initPid: number): Promise<void> {
    const fifo = `${this.root}/${id}/exec.fifo`;
    let fd: number;
    try {
      // Read-write, so the open neither blocks nor sees end-of-file before the init has opened its end.
      fd = openSync(fifo, fsConstants.O_RDWR | fsConstants.O_NONBLOCK);
    } catch {
      await this.run(['start', id]);
      return;
    }
    const pipe = new Socket({ fd, readable: true, writable: false });
    try {
      await new Promise<void>((resolve, reject) => {
        const alive = setInterval(() => {
          if (processAlive(initPid)) return;
          // A process that ran and exited at once (`true`) wrote the FIFO before it exec'd: timers run
          // before the poll that would deliver that byte, so read it here before calling it dead.
          try {
            if (readSync(fd, Buffer.alloc(8)) > 0) return resolve();
          } catch {
            // EAGAIN: nothing more to read here.
          }
          // The byte may already be in the socket's hands, its 'data' not yet delivered.
          if (pipe.bytesRead > 0) return resolve();
          reject(new GantryError('internal', 'container process is already dead'));
        }, 100);
        pipe.once('data', () => resolve());
        pipe.once('error', reject);
        pipe.once('close', () => clearInterval(alive));
      }).finally(() => pipe.destroy());
    } finally {
      await fs.rm(fifo, { force: true });
    }
  }

  kill(id: string, signal: string | number, all = false): Promise<string> {
    return this.run(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  /** Whether the runtime holds state for this container (skips a process spawn when it does not). */
  hasState(id: string): boolean {
    return existsSync(`${this.root}/${id}`);
  }

  async delete(id: string, force = false): Promise<void> {
    if (!this.hasState(id)) return;
    if (await this.deleteExited(id)) return;
    try {
      await this.run(['delete', ...(force ? ['--force'] : []), id]);
    } catch (err) {
      if (!/does not exist|not found/i.test((err as Error).message)) throw err;
    }
  }

  /**
   * What `runc delete` does for a container whose init has exited (remove its now empty cgroups, then
   * its state directory), done here to save a runtime process per container. Anything else (a live
   * init, processes left in a cgroup, crun's state format) answers false and goes to the runtime.
   */
  private async deleteExited(id: string): Promise<boolean> {
    let state: { init_process_pid: number; init_process_start: number; cgroup_paths?: Record<string, string> };
    try {
      state = JSON.parse(await fs.readFile(`${this.root}/${id}/state.json`, 'utf8')) as typeof state;
    } catch {
      return false;
    }
    if (processAlive(state.init_process_pid, state.init_process_start)) return false;
    for (const dir of new Set(Object.values(state.cgroup_paths ?? {}))) {
      try {
        await fs.rmdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return false;
      }
    }
    await fs.rm(`${this.root}/${id}`, { recursive: true, force: true });
    return true;
  }

  async state(id: string): Promise<RuntimeState | undefined> {
    try {
      const out = JSON.parse(await this.run(['state', id])) as { status: RuntimeState['status']; pid: number };
      return { status: out.status, pid: out.pid };
    } catch {
      return undefined;
    }
  }

  pause(id: string): Promise<string> {
    return this.run(['pause', id]);
  }

  resume(id: string): Promise<string> {
    return this.run(['resume', id]);
  }

  /** Change cgroup resources of a running container (`update`). */
  update(id: string, resources: object): Promise<string> {
    return this.run(['update', '--resources', '-', id], { input: JSON.stringify(resources) });
  }

  async pids(id: string): Promise<number[]> {
    const out = await this.run(['ps', '--format', 'json', id]);
    return (JSON.parse(out) as number[] | null) ?? [];
  }

  /** `exec` without a terminal: the process's stdio are pipes of this child process. */
  execPiped(
    id: string,
    processSpecPath: string,
    detach: boolean,
  ): { stdin: Writable; stdout: Readable; stderr: Readable; exited: Promise<number>; pid: () => number | undefined } {
    const child = spawn(
      this.binary,
      ['--root', this.root, 'exec', ...(detach ? ['--detach'] : []), '--process', processSpecPath, id],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number>((resolve) => {
      child.on('error', () => resolve(126));
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 9) : 1)));
    });
    return { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, exited, pid: () => child.pid };
  }

  logDebug(msg: string, data: object): void {
    this.logger.debug(data, msg);
  }
}

/** Docker-style wording for runtime failures: `OCI runtime create failed: ...`. */
export function runtimeMessage(stderr: string): string {
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(stderr);
  const msg = m ? m[1]!.replace(/\\"/g, '"').replace(/\\\\/g, '\\') : stderr.trim();
  return msg;
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** Parse `TERM`, `SIGTERM`, `15` into a signal number; undefined when unknown. */
export function signalNumber(s: string | number): number | undefined {
  if (typeof s === 'number') return s;
  if (/^\d+$/.test(s)) return Number(s);
  const u = s.toUpperCase();
  const rt = /^SIGRTMIN(\+(\d+))?$/.exec(u.startsWith('SIG') ? u : `SIG${u}`);
  if (rt) return 34 + Number(rt[2] ?? 0);
  return SIGNALS[u.startsWith('SIG') ? u : `SIG${u}`];
}

export interface ConmonOptions {
  conmon: string;
  runtime: OciRuntime;
  containerId: string;
  /** conmon's session id: the container ID, or an exec ID; names the attach socket directory. */
  sessionId: string;
  bundle: string;
  pidFile: string;
  conmonPidFile: string;
  exitDir: string;
  persistDir?: string;
  logPath?: string;
  socketDir: string;
  name: string;
  tty: boolean;
  stdin: boolean;
  leaveStdinOpen?: boolean;
  /** Exec mode: run this process spec in the existing container. */
  execSpec?: string;
  /** Called once the attach socket exists and before the process runs (exec with attach). */
  onAttachReady?: () => Promise<void>;
}

/**
 * Start conmon and wait until the runtime has created the container (or started the exec process).
 * Resolves with the process pid; rejects with the runtime's own error message.
 */
export function launchConmon(o: ConmonOptions): Promise<number> {
  const args = [
    '--api-version',
    '1',
    '-c',
    o.containerId,
    '-u',
    o.sessionId,
    '-r',
    o.runtime.binary,
    '-b',
    o.bundle,
    '-p',
    o.pidFile,
    '-n',
    o.name,
    '--exit-dir',
    o.exitDir,
    '-P',
    o.conmonPidFile,
    '--socket-dir-path',
    o.socketDir,
    '--log-level',
    'error',
    '--runtime-arg',
    `--root=${o.runtime.root}`,
  ];
  if (o.persistDir) args.push('--persist-dir', o.persistDir);
  args.push('-l', o.logPath ? `k8s-file:${o.logPath}` : 'none');
  if (o.tty) args.push('-t');
  if (o.stdin) args.push('-i');
  if (o.leaveStdinOpen) args.push('--leave-stdin-open');
  if (o.execSpec) args.push('-e', '--exec-process-spec', o.execSpec);
  if (o.execSpec && o.onAttachReady) args.push('--exec-attach');
  const env: Record<string, string> = { ...process.env, _OCI_SYNCPIPE: '3' } as Record<string, string>;
  const stdio: Array<'ignore' | 'pipe'> = ['ignore', 'ignore', 'pipe', 'pipe'];
  if (o.execSpec && o.onAttachReady) {
    env._OCI_STARTPIPE = '4';
    env._OCI_ATTACHPIPE = '5';
    stdio.push('pipe', 'pipe');
  }
  return new Promise<number>((resolve, reject) => {
    const child = spawn(o.conmon, args, { stdio, env, detached: true });
    child.unref();
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const sync = child.stdio[3] as Readable;
    let buf = '';
    let settled = false;
    const finish = (err: Error | undefined, pid?: number): void => {
      if (settled) return;
      settled = true;
      sync.destroy();
      (child.stdio[4] as Writable | null)?.destroy();
      (child.stdio as unknown as Array<Readable | null>)[5]?.destroy();
      child.stderr!.destroy();
      if (err) reject(err);
      else resolve(pid!);
    };
    sync.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        let msg: { data?: number; message?: string };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          continue;
        }
        if (typeof msg.data === 'number' && msg.data > 0 && !msg.message) finish(undefined, msg.data);
        else finish(new GantryError('internal', runtimeMessage(msg.message ?? `conmon reported ${line}`)));
      }
    });
    sync.on('error', () => undefined);
    sync.on('end', () =>
      finish(
        new GantryError('internal', `conmon exited before reporting the container: ${stderr.trim() || 'no output'}`),
      ),
    );
    if (o.execSpec && o.onAttachReady) {
      // conmon reads the start pipe twice: once before doing anything, and again (after announcing
      // its attach socket on the attach pipe) before it runs the process.
      (child.stdio[4] as Writable).write('0');
      const attachPipe = (child.stdio as unknown as Readable[])[5]!;
      attachPipe.once('data', () => {
        o.onAttachReady!().then(
          () => (child.stdio[4] as Writable).end('0'),
          (err: Error) => finish(err),
        );
      });
    }
    child.on('error', (err) => finish(err));
  });
}
