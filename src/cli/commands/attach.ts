/**
 * A container's streams wired to this terminal, for run, start -a, attach and exec: output demultiplexed
 * (or raw with a TTY), stdin forwarded with the detach keys watched, the terminal in raw mode and resized
 * with the window, and the exit code handed back as the docker CLI does.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Command } from 'commander';
import { ApiError, frameReader, type ApiClient } from '../../api/docker/client.js';
import { clientOf } from './common.js';
import { pullImage } from './images.js';
import { createBody, type RunOpts } from './runflags.js';
import { DEFAULT_DETACH_KEYS, DetachDetector, parseDetachKeys } from '../../api/docker/detach.js';

export async function createContainer(client: ApiClient, image: string, args: string[], o: RunOpts): Promise<string> {
  const body = createBody(image, args, o);
  try {
    return (await client.json<{ Id: string }>('POST', '/containers/create', { query: { name: o.name }, body })).Id;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404 || !/No such image/.test(err.message)) throw err;
    process.stderr.write(
      `Unable to find image '${image.includes(':') || image.includes('@') ? image : `${image}:latest`}' locally\n`,
    );
    await pullImage(client, image, false, undefined, process.stderr);
    return (await client.json<{ Id: string }>('POST', '/containers/create', { query: { name: o.name }, body })).Id;
  }
}

/** Copy a hijacked stream to stdout/stderr: raw with a TTY, else demultiplexed 8-byte frames. */
export function demux(stream: Socket | IncomingMessage, tty: boolean): Promise<void> {
  return new Promise((resolve) => {
    const read = frameReader((s, payload) => (s === 2 ? process.stderr : process.stdout).write(payload));
    stream.on('data', (c: Buffer) => (tty ? process.stdout.write(c) : read(c)));
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
  });
}

/**
 * Wire the local terminal to a hijacked stream: stdin forwarded, raw mode and size for a TTY. With a
 * TTY, typing the detach keys ends the session and leaves the container running, as Docker's CLI does.
 */
function wireStdin(
  stream: Socket | IncomingMessage,
  tty: boolean,
  detachKeys: string | undefined,
  resize?: (h: number, w: number) => void,
): { unwire: () => void; detached: () => boolean } {
  const sock = stream as Socket;
  if (tty && process.stdin.isTTY) process.stdin.setRawMode(true);
  const detector = tty ? new DetachDetector(parseDetachKeys(detachKeys || DEFAULT_DETACH_KEYS)) : undefined;
  let detached = false;
  const onData = (d: Buffer): void => {
    if (!detector) {
      sock.write(d);
      return;
    }
    const r = detector.feed(d);
    if (r.data.length) sock.write(r.data);
    if (r.detached) {
      detached = true;
      sock.destroy();
    }
  };
  process.stdin.on('data', onData);
  process.stdin.on('end', () => sock.end());
  const onResize = (): void => resize?.(process.stdout.rows ?? 24, process.stdout.columns ?? 80);
  if (tty && process.stdout.isTTY) {
    onResize();
    process.stdout.on('resize', onResize);
  }
  const unwire = (): void => {
    process.stdin.off('data', onData);
    process.stdin.pause();
    if (tty && process.stdin.isTTY) process.stdin.setRawMode(false);
    process.stdout.off('resize', onResize);
  };
  return { unwire, detached: () => detached };
}

const NOT_WIRED = { unwire: (): void => undefined, detached: (): boolean => false };

/**
 * Attach to a container (starting it first when asked) until its output ends or the detach keys are
 * typed; the exit code is the container's, or 0 after a detach.
 */
export async function attachSession(
  client: ApiClient,
  ref: string,
  o: { interactive: boolean; detachKeys?: string; start: boolean; noStdin?: boolean },
): Promise<void> {
  const info = await client.json<{ Id: string; Config: { Tty: boolean; OpenStdin: boolean } }>(
    'GET',
    `/containers/${encodeURIComponent(ref)}/json`,
  );
  const tty = info.Config.Tty;
  const withStdin = o.interactive && !o.noStdin;
  const stream = await client.hijack('POST', `/containers/${info.Id}/attach`, {
    query: {
      stream: 1,
      stdin: withStdin ? 1 : 0,
      stdout: 1,
      stderr: 1,
      ...(o.detachKeys ? { detachKeys: o.detachKeys } : {}),
    },
  });
  const waitRes = client.json<{ StatusCode: number }>('POST', `/containers/${info.Id}/wait`, {
    query: { condition: 'next-exit' },
  });
  const { unwire, detached } = withStdin
    ? wireStdin(
        stream,
        tty,
        o.detachKeys,
        (h, w) => void client.call('POST', `/containers/${info.Id}/resize`, { query: { h, w } }).catch(() => undefined),
      )
    : NOT_WIRED;
  const out = demux(stream, tty);
  if (o.start) await client.call('POST', `/containers/${info.Id}/start`);
  await out;
  unwire();
  if (detached()) {
    waitRes.catch(() => undefined);
    process.exit(0);
  }
  process.exitCode = (await waitRes).StatusCode;
}

export async function runContainer(cmd: Command, image: string, args: string[], o: RunOpts): Promise<void> {
  const client = clientOf(cmd);
  if (o.detach && o.rm && o.restart) throw new Error('Conflicting options: --restart and --rm');
  const id = await createContainer(client, image, args, o);
  if (o.detach) {
    await client.call('POST', `/containers/${id}/start`);
    process.stdout.write(`${id}\n`);
    return;
  }
  const tty = !!o.tty;
  const stream = await client.hijack('POST', `/containers/${id}/attach`, {
    query: {
      stream: 1,
      stdin: o.interactive ? 1 : 0,
      stdout: 1,
      stderr: 1,
      ...(o.detachKeys ? { detachKeys: o.detachKeys } : {}),
    },
  });
  const waitRes = client.json<{ StatusCode: number; Error?: { Message: string } | null }>(
    'POST',
    `/containers/${id}/wait`,
    { query: { condition: o.rm ? 'removed' : 'next-exit' } },
  );
  const { unwire, detached } = o.interactive
    ? wireStdin(
        stream,
        tty,
        o.detachKeys,
        (h, w) => void client.call('POST', `/containers/${id}/resize`, { query: { h, w } }).catch(() => undefined),
      )
    : NOT_WIRED;
  const output = demux(stream, tty);
  try {
    await client.call('POST', `/containers/${id}/start`);
  } catch (err) {
    unwire();
    (stream as Socket).destroy();
    const msg = (err as Error).message;
    process.stderr.write(`gantry: Error response from daemon: ${msg}\n`);
    process.exitCode = /executable file not found|no such file or directory/.test(msg)
      ? 127
      : /permission denied/.test(msg)
        ? 126
        : 125;
    return;
  }
  await output;
  unwire();
  if (detached()) {
    waitRes.catch(() => undefined);
    process.exit(0);
  }
  const result = await waitRes;
  process.exitCode = result.StatusCode;
}

export async function execCommand(
  cmd: Command,
  container: string,
  args: string[],
  o: {
    interactive?: boolean;
    tty?: boolean;
    detach?: boolean;
    detachKeys?: string;
    user?: string;
    workdir?: string;
    env: string[];
    privileged?: boolean;
  },
): Promise<void> {
  const client = clientOf(cmd);
  const { Id } = await client.json<{ Id: string }>('POST', `/containers/${encodeURIComponent(container)}/exec`, {
    body: {
      Cmd: args,
      AttachStdin: !!o.interactive && !o.detach,
      AttachStdout: !o.detach,
      AttachStderr: !o.detach,
      Tty: !!o.tty,
      User: o.user,
      WorkingDir: o.workdir,
      Env: o.env,
      Privileged: !!o.privileged,
      DetachKeys: o.detachKeys,
    },
  });
  if (o.detach) {
    await client.call('POST', `/exec/${Id}/start`, { body: { Detach: true, Tty: !!o.tty } });
    return;
  }
  const stream = await client.hijack('POST', `/exec/${Id}/start`, { body: { Detach: false, Tty: !!o.tty } });
  const { unwire, detached } = o.interactive
    ? wireStdin(
        stream,
        !!o.tty,
        o.detachKeys,
        (h, w) => void client.call('POST', `/exec/${Id}/resize`, { query: { h, w } }).catch(() => undefined),
      )
    : NOT_WIRED;
  await demux(stream, !!o.tty);
  unwire();
  if (detached()) return;
  const info = await client.json<{ ExitCode: number | null }>('GET', `/exec/${Id}/json`);
  process.exitCode = info.ExitCode ?? 0;
}
