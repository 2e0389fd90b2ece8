/**
 * Kubernetes' RemoteCommand (`kubectl exec`, `attach`, `cp`) on this node, whatever carries it: a
 * WebSocket of channels (`v4`/`v5.channel.k8s.io`) or SPDY streams. The transport hands over what the
 * client sends (stdin, its end, terminal sizes) and takes what the container writes; the session joins
 * them to the engine (an exec, or an attach to the container's own process, each a hijacked
 * connection) and reports the end as the kubelet does: a v4 Status on the error channel, Success or
 * `NonZeroExitCode` with the code.
 */
import type { Duplex } from 'node:stream';
import { frameReader, type ApiClient as EngineClient } from '../../../api/docker/client.js';

/** What a transport gives a session. */
export interface CommandTransport {
  stdout(data: Buffer): void;
  stderr(data: Buffer): void;
  /** The end: a Status on the error channel, then the transport closes. */
  finish(status: Record<string, unknown>): void;
  /** Calls for what the client sends; messages that came before are replayed. */
  listen(handlers: { stdin(data: Buffer): void; stdinEnd(): void; resize(width: number, height: number): void }): void;
  /** Called when the client goes away. */
  onClose(fn: () => void): void;
}

export interface CommandOptions {
  stdin: boolean;
  tty: boolean;
}

/** The options of a request's query (`stdin=true&tty=1`). */
export function commandOptions(q: URLSearchParams): CommandOptions & { command: string[] } {
  const flag = (k: string): boolean => q.get(k) === 'true' || q.get(k) === '1';
  return { command: q.getAll('command'), stdin: flag('stdin'), tty: flag('tty') };
}

/** A resize message (`{"Width":80,"Height":24}`), or undefined when it is not one. */
export function terminalSize(payload: Buffer): { width: number; height: number } | undefined {
  let size: unknown;
  try {
    size = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const { Width, Height } = (size ?? {}) as { Width?: unknown; Height?: unknown };
  const ok = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0 && (n as number) <= 65535;
  return ok(Width) && ok(Height) ? { width: Width, height: Height } : undefined;
}

/** Join the transport to an engine connection until it ends. */
async function pump(
  t: CommandTransport,
  conn: Duplex,
  tty: boolean,
  resize: (w: number, h: number) => Promise<unknown>,
): Promise<void> {
  const read = frameReader((stream, payload) => (stream === 2 ? t.stderr(payload) : t.stdout(payload)));
  conn.on('data', (d: Buffer) => (tty ? t.stdout(d) : read(d)));
  t.listen({
    stdin: (data) => conn.write(data),
    stdinEnd: () => conn.end(),
    resize: (w, h) => void resize(w, h).catch(() => undefined),
  });
  t.onClose(() => conn.destroy());
  await new Promise<void>((resolve) => {
    conn.once('close', () => resolve());
    conn.once('error', () => resolve());
  });
}

/** `kubectl exec`: the command in the container, its exit code reported. */
export async function runExec(
  t: CommandTransport,
  engine: EngineClient,
  containerId: string,
  o: CommandOptions & { command: string[] },
): Promise<void> {
  if (!o.command.length)
    return t.finish({
      status: 'Failure',
      message: 'you must specify at least one command for the container',
      reason: 'BadRequest',
      code: 400,
    });
  const exec = await engine.json<{ Id: string }>('POST', `/containers/${containerId}/exec`, {
    body: { Cmd: o.command, AttachStdin: o.stdin, AttachStdout: true, AttachStderr: true, Tty: o.tty },
  });
  const conn = (await engine.hijack('POST', `/exec/${exec.Id}/start`, {
    body: { Detach: false, Tty: o.tty },
  })) as Duplex;
  await pump(t, conn, o.tty, (w, h) => engine.call('POST', `/exec/${exec.Id}/resize`, { query: { w, h } }));
  const info = await engine.json<{ ExitCode: number | null }>('GET', `/exec/${exec.Id}/json`);
  const code = info.ExitCode ?? 0;
  if (code === 0) return t.finish({ status: 'Success' });
  t.finish({
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${o.command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  });
}

/**
 * `kubectl attach`: the container's own process, its terminal when it has one. Ends when the client
 * leaves or the container stops; the container goes on running after a detach.
 */
export async function runAttach(
  t: CommandTransport,
  engine: EngineClient,
  containerId: string,
  o: CommandOptions,
): Promise<void> {
  const info = await engine.json<{ Config?: { Tty?: boolean; OpenStdin?: boolean } }>(
    'GET',
    `/containers/${containerId}/json`,
  );
  if (o.stdin && !info.Config?.OpenStdin)
    return t.finish({
      status: 'Failure',
      message: 'Unable to attach stdin: the container was not started with stdin (spec.containers[].stdin)',
      reason: 'BadRequest',
      code: 400,
    });
  const conn = (await engine.hijack('POST', `/containers/${containerId}/attach`, {
    query: { stream: 1, stdin: o.stdin ? 1 : 0, stdout: 1, stderr: 1 },
  })) as Duplex;
  await pump(t, conn, info.Config?.Tty === true, (w, h) =>
    engine.call('POST', `/containers/${containerId}/resize`, { query: { w, h } }),
  );
  t.finish({ status: 'Success' });
}
