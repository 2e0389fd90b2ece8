/**
 * Kubernetes' WebSocket channel protocols on the agent: RemoteCommand over `v4`/`v5.channel.k8s.io`
 * (one byte of channel before each message: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize, and in v5
 * 255 to close one, stdin's end) and port-forward over `v4.channel.k8s.io` (the Python client's: for
 * the i-th port, channel 2i carries data and 2i+1 errors, the first message of each starting with the
 * port, little-endian).
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { terminalSize, type CommandTransport } from './remotecommand.js';
import { connectError } from './spdysessions.js';

export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;
export const STREAM_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

const send = (ws: WebSocket, channel: number, data: Buffer | string): void => {
  if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
};

/** What a client sends, as Buffers; a frame that cannot be read is dropped, never thrown. */
function onFrames(ws: WebSocket, fn: (channel: number, payload: Buffer) => void): void {
  ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[]) => {
    const b = Buffer.isBuffer(raw) ? raw : Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw);
    if (b.length) fn(b[0]!, b.subarray(1));
  });
  ws.on('error', () => ws.terminate());
}

/** RemoteCommand over a WebSocket; what arrives before the session listens is held for it. */
export function websocketTransport(ws: WebSocket): CommandTransport {
  const early: Array<[number, Buffer]> = [];
  let deliver = (channel: number, payload: Buffer): void => void early.push([channel, payload]);
  onFrames(ws, (c, p) => deliver(c, p));
  return {
    stdout: (d) => send(ws, Channel.stdout, d),
    stderr: (d) => send(ws, Channel.stderr, d),
    finish: (status) => {
      send(ws, Channel.error, JSON.stringify({ metadata: {}, ...status }));
      ws.close(1000);
    },
    listen: (h) => {
      deliver = (channel, payload) => {
        if (channel === Channel.stdin) h.stdin(payload);
        else if (channel === Channel.resize) {
          const size = terminalSize(payload);
          if (size) h.resize(size.width, size.height);
        } else if (channel === Channel.close && payload[0] === Channel.stdin) h.stdinEnd();
      };
      for (const [c, p] of early.splice(0)) deliver(c, p);
    },
    onClose: (fn) => ws.on('close', fn),
  };
}

/** The ports of a port-forward request (`ports=80,443` or repeated), each 1-65535; undefined when bad. */
export function forwardedPorts(q: URLSearchParams): number[] | undefined {
  const ports = q
    .getAll('ports')
    .flatMap((p) => p.split(','))
    .map((p) => p.trim())
    .filter(Boolean)
    .map(Number);
  return ports.length && ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535) ? ports : undefined;
}

/** Port-forward over a WebSocket: one connection per requested port for the socket's life. */
export function websocketPortForward(ws: WebSocket, ports: number[], connect: (port: number) => Socket): void {
  const conns: Array<Socket | undefined> = [];
  ports.forEach((port, i) => {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port, 0);
    send(ws, 2 * i, prefix);
    send(ws, 2 * i + 1, prefix);
    let conn: Socket;
    try {
      conn = connect(port);
    } catch (err) {
      send(ws, 2 * i + 1, `error forwarding port ${port}: ${connectError(port, err as Error)}`);
      return;
    }
    conns[i] = conn;
    conn.on('data', (d: Buffer) => send(ws, 2 * i, d));
    conn.on('error', (err) => send(ws, 2 * i + 1, `error forwarding port ${port}: ${connectError(port, err)}`));
    conn.on('close', () => {
      if (conns.every((c) => !c || c.destroyed)) ws.close(1000);
    });
  });
  onFrames(ws, (channel, payload) => {
    if (channel % 2 === 0) conns[channel / 2]?.write(payload);
  });
  ws.on('close', () => conns.forEach((c) => c?.destroy()));
}
