/**
 * The processes of a local cluster's nodes: Gantry itself (engine, API server, agent) started in a
 * node's network namespace with `nsenter --net` (the host's mounts and cgroups stay in view, so runc
 * and the engine work as on the host), detached so they outlive `gantry cluster up`. A process is
 * recorded with its start time, so a recycled pid is never taken for it and never signalled.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export interface NodeProcess {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: with the pid, who the process is. */
  started: string;
}

function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one,
    // from the state (field 3; a zombie has exited).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

export function isRunning(p: NodeProcess | undefined): boolean {
  return !!p && startTime(p.pid) === p.started;
}

/** Run `gantry <args>` in network namespace `netns` (the host's when undefined), its output appended to `logFile`. */
export function startInNetns(netns: string | undefined, args: string[], logFile: string): NodeProcess {
  const gantry = [process.execPath, '--enable-source-maps', process.argv[1]!, ...args];
  return startCommandInNetns(netns, gantry, logFile, `gantry ${args[0]}`);
}

/** Run a program (argv, no shell) in network namespace `netns` (the host's when undefined), detached. */
export function startCommandInNetns(
  netns: string | undefined,
  command: string[],
  logFile: string,
  what = command[0]!,
): NodeProcess {
  const out = openSync(logFile, 'a');
  try {
    const [cmd, ...argv] = netns ? ['nsenter', `--net=/run/netns/${netns}`, '--', ...command] : command;
    const child = spawn(cmd!, argv, { detached: true, stdio: ['ignore', out, out] });
    child.unref();
    const where = netns ?? 'the host';
    if (!child.pid) throw new Error(`cannot start ${what} in ${where}`);
    const started = startTime(child.pid);
    if (!started) throw new Error(`${what} in ${where} exited at once: see ${logFile}`);
    return { pid: child.pid, started };
  } finally {
    closeSync(out);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(p: NodeProcess | undefined, graceMs = 10_000): Promise<void> {
  if (!p || !isRunning(p)) return;
  process.kill(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isRunning(p)) {
    if (Date.now() > deadline) {
      process.kill(p.pid, 'SIGKILL');
      while (isRunning(p)) await new Promise((r) => setTimeout(r, 50));
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
