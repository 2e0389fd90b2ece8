/**
 * Kubernetes' subprotocols over SPDY (what kubectl before 1.30 speaks for exec and attach, and every
 * kubectl for port-forward, tunneled in a WebSocket since 1.31):
 * - RemoteCommand `v4.channel.k8s.io`: the client opens one stream per channel it asked for
 *   (`streamType` error, stdin, stdout, stderr, and resize with a terminal); once all are there the
 *   command runs; the Status ends the error stream;
 * - `portforward.k8s.io`: per connection the client opens an error and a data stream sharing a
 *   `requestID` and naming the `port`; the pair is joined to the pod's port, errors reported on the
 *   error stream in the kubelet's words.
 */
import type { Socket } from 'node:net';
import { terminalSize, type CommandOptions, type CommandTransport } from './remotecommand.js';
import type { SpdyConnection, SpdyStream } from './spdy.js';

/** How long a client has to open the streams it asked for (the kubelet's 30 s). */
const STREAMS_TIMEOUT_MS = 30_000;

/** The streams of a RemoteCommand session, once the client has opened them all. */
export function spdyCommandTransport(
  conn: SpdyConnection,
  register: (fn: (s: SpdyStream) => void) => void,
  o: CommandOptions & { stdout: boolean; stderr: boolean },
): Promise<CommandTransport> {
  const want = new Set(['error']);
  if (o.stdin) want.add('stdin');
  if (o.stdout) want.add('stdout');
  if (o.stderr) want.add('stderr');
  if (o.tty) want.add('resize');
  const got = new Map<string, SpdyStream>();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.close();
      reject(new Error(`timed out waiting for the client's streams (${[...want].join(', ')})`));
    }, STREAMS_TIMEOUT_MS);
    timer.unref();
    const add = (s: SpdyStream): void => {
      const type = s.headers.streamtype ?? '';
      if (!want.has(type) || got.has(type)) return void s.destroy();
      got.set(type, s);
      // Streams the server only writes: what the client sends on them is read and dropped.
      if (type !== 'stdin' && type !== 'resize') s.resume();
      if (got.size < want.size) return;
      clearTimeout(timer);
      resolve(transport(conn, got));
    };
    register(add);
  });
}

function transport(conn: SpdyConnection, s: Map<string, SpdyStream>): CommandTransport {
  const error = s.get('error')!;
  const stdout = s.get('stdout');
  const stderr = s.get('stderr') ?? stdout;
  return {
    stdout: (d) => void stdout?.write(d),
    stderr: (d) => void stderr?.write(d),
    finish: (status) => {
      stdout?.end();
      if (stderr !== stdout) stderr?.end();
      error.end(JSON.stringify({ metadata: {}, ...status }), () => setTimeout(() => conn.close(), 100).unref());
    },
    listen: (h) => {
      const stdin = s.get('stdin');
      stdin?.on('data', (d: Buffer) => h.stdin(d));
      stdin?.on('end', () => h.stdinEnd());
      // Sizes come as JSON objects one after another (Go's json.Encoder: one per line).
      let pending = '';
      s.get('resize')?.on('data', (d: Buffer) => {
        pending += d.toString('utf8');
        if (pending.length > 4096) pending = '';
        let end: number;
        while ((end = pending.indexOf('}')) >= 0) {
          const size = terminalSize(Buffer.from(pending.slice(0, end + 1)));
          pending = pending.slice(end + 1);
          if (size) h.resize(size.width, size.height);
        }
      });
    },
    onClose: (fn) => conn.onClose(fn),
  };
}

/** Port-forward over SPDY: each request's stream pair joined to a connection to the pod's port. */
export function spdyPortForward(
  register: (fn: (s: SpdyStream) => void) => void,
  connect: (port: number) => Socket,
  podLabel: string,
): void {
  const pairs = new Map<string, { error?: SpdyStream; data?: SpdyStream }>();
  register((s) => {
    const id = s.headers.requestid ?? '';
    const type = s.headers.streamtype;
    const port = Number(s.headers.port);
    if ((type !== 'error' && type !== 'data') || !Number.isInteger(port) || port < 1 || port > 65535)
      return void s.destroy();
    const pair = pairs.get(id) ?? {};
    if (pair[type]) return void s.destroy();
    pair[type] = s;
    pairs.set(id, pair);
    if (!pair.error || !pair.data) return;
    pairs.delete(id);
    forward(pair.error, pair.data, port, connect, podLabel);
  });
}

function forward(
  error: SpdyStream,
  data: SpdyStream,
  port: number,
  connect: (port: number) => Socket,
  podLabel: string,
): void {
  error.resume();
  const fail = (err: Error): void => {
    if (!error.writableEnded) error.end(`error forwarding port ${port} to pod ${podLabel}: ${connectError(port, err)}`);
    data.destroy();
  };
  let sock: Socket;
  try {
    sock = connect(port);
  } catch (err) {
    return fail(err as Error);
  }
  sock.on('error', fail);
  data.pipe(sock);
  sock.pipe(data);
  sock.on('close', () => {
    if (!error.writableEnded) error.end();
  });
  data.on('close', () => sock.destroy());
}

/** Why a connection to the pod's port failed, as containerd words a refused one. */
export function connectError(port: number, err: Error): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const errno = (err as { errno?: number }).errno;
  if (code === 'ECONNREFUSED' || errno === 111 || errno === -111)
    return `failed to connect to localhost:${port} inside namespace of the pod: connect: connection refused`;
  return err.message;
}
