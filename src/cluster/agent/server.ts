/**
 * The agent's HTTPS endpoint (the kubelet's port): the API server fetches container logs here for
 * `kubectl logs`, opens exec sessions for `kubectl exec` and reads `/stats/summary` for the metrics API. Only clients with a certificate of the
 * cluster CA in `system:masters` (the API server) are served. The endpoint's own certificate is the
 * node's serving certificate, signed by the cluster CA, which the API server verifies.
 */
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { Transform, type Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { frameReader, type ApiClient as EngineClient } from '../../api/docker/client.js';
import type { Logger } from '../../common/log.js';
import type { Summary } from './resourcestats.js';

/** The text of a multiplexed engine stream, stdout and stderr together (what kubectl logs prints). */
function demultiplexed(): Transform {
  const t = new Transform({
    transform(chunk: Buffer, _e, done) {
      read(chunk);
      done();
    },
  });
  const read = frameReader((_stream, payload) => t.push(payload));
  return t;
}

/** Only the API server is served: a client certificate of the cluster CA in `system:masters`. */
function fromApiServer(req: IncomingMessage): boolean {
  const sock = req.socket as TLSSocket;
  const orgs = ([] as string[]).concat(
    (sock.getPeerCertificate()?.subject as { O?: string | string[] } | undefined)?.O ?? [],
  );
  return sock.authorized && orgs.includes('system:masters');
}

export function startAgentServer(o: {
  port: number;
  ca: string;
  serving: { cert: string; key: string };
  engine: EngineClient;
  logger: Logger;
  containerOf: (ns: string, pod: string, container: string) => Promise<string | undefined>;
  /** The Summary API's answer (`/stats/summary`): node and pod CPU and memory. */
  summary: () => Promise<Summary>;
}): Promise<https.Server> {
  const server = https.createServer(
    { key: o.serving.key, cert: o.serving.cert, ca: o.ca, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const fail = (code: number, message: string): void => {
        res.writeHead(code, { 'Content-Type': 'text/plain' });
        res.end(message);
      };
      if (!fromApiServer(req)) return fail(401, 'Unauthorized');
      const url = new URL(req.url ?? '/', 'https://agent');
      if (req.method === 'GET' && url.pathname === '/stats/summary') {
        void o.summary().then(
          (summary) => {
            res.writeHead(200, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify(summary));
          },
          (err: unknown) => fail(500, String(err)),
        );
        return;
      }
      const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (req.method !== 'GET' || !m) return fail(404, 'not found');
      const [ns, pod, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
      void (async () => {
        const id = await o.containerOf(ns, pod, container);
        if (!id) return fail(404, `container "${container}" in pod "${pod}" is not running on this node`);
        const q = url.searchParams;
        const logs = await o.engine.stream('GET', `/containers/${id}/logs`, {
          query: {
            stdout: 1,
            stderr: 1,
            follow: q.get('follow') === 'true' ? 1 : 0,
            tail: q.get('tailLines') ?? 'all',
            timestamps: q.get('timestamps') === 'true' ? 1 : 0,
          },
        });
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        // Without a TTY the engine frames stdout and stderr; kubectl wants the text.
        const framed = logs.headers['content-type'] === 'application/vnd.docker.multiplexed-stream';
        (framed ? logs.pipe(demultiplexed()) : logs).pipe(res);
        res.on('close', () => logs.destroy());
      })().catch((err: unknown) => (res.headersSent ? res.destroy() : fail(500, (err as Error).message)));
    },
  );
  // `kubectl exec`: /exec/<namespace>/<pod>/<container>?command=...&stdin=&tty= over a WebSocket.
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => STREAM_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'https://agent');
    const m = /^\/exec\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    const refuse = (code: number, text: string): void => {
      socket.end(
        `HTTP/1.1 ${code} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
      );
    };
    if (!fromApiServer(req)) return refuse(401, 'Unauthorized');
    if (!m) return refuse(404, 'Not Found');
    const [ns, pod, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
    void o.containerOf(ns, pod, container).then(
      (id) => {
        if (!id) return refuse(404, `container ${container} in pod ${pod} is not running on this node`);
        wss.handleUpgrade(req, socket, head, (ws) => {
          runExec(ws, o.engine, id, url.searchParams).catch((err: unknown) => {
            if (ws.readyState === ws.OPEN)
              ws.send(
                Buffer.concat([
                  Buffer.from([Channel.error]),
                  Buffer.from(JSON.stringify({ metadata: {}, status: 'Failure', message: (err as Error).message })),
                ]),
              );
            ws.close(1000);
          });
        });
      },
      () => refuse(500, 'Internal Server Error'),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, () => {
      o.logger.info({ port: o.port }, 'agent endpoint listening');
      resolve(server);
    });
  });
}

/** The channels of Kubernetes' streaming protocol (v4/v5.channel.k8s.io): one byte before each message. */
export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;
export const STREAM_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

/**
 * `kubectl exec` on this node: a WebSocket speaking Kubernetes' channel protocol, joined to an exec
 * session of the engine (a hijacked connection). Output frames become stdout/stderr messages, stdin
 * and terminal resizes go the other way, and the command's end is reported on the error channel as a
 * Status (`NonZeroExitCode` with the code), as the kubelet does.
 */
export async function runExec(
  ws: WebSocket,
  engine: EngineClient,
  containerId: string,
  q: URLSearchParams,
): Promise<void> {
  const command = q.getAll('command');
  const tty = q.get('tty') === 'true' || q.get('tty') === '1';
  const stdin = q.get('stdin') === 'true' || q.get('stdin') === '1';
  const send = (channel: number, data: Buffer | string): void => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
  };
  const status = (s: Record<string, unknown>): void => {
    send(Channel.error, JSON.stringify({ metadata: {}, ...s }));
    ws.close(1000);
  };
  // The client may send stdin (and its end) at once: hold what comes until the session is open.
  const early: Buffer[] = [];
  let onMessage = (raw: Buffer): void => void early.push(raw);
  ws.on('message', (raw: Buffer) => {
    // A frame is the client's: one that cannot be read is dropped, never thrown where nobody catches it.
    try {
      onMessage(Buffer.isBuffer(raw) ? raw : Buffer.from(raw as ArrayBuffer));
    } catch {
      // Ignored.
    }
  });
  ws.on('error', () => ws.terminate());
  if (!command.length)
    return status({
      status: 'Failure',
      message: 'you must specify at least one command for the container',
      reason: 'BadRequest',
      code: 400,
    });
  const exec = await engine.json<{ Id: string }>('POST', `/containers/${containerId}/exec`, {
    body: { Cmd: command, AttachStdin: stdin, AttachStdout: true, AttachStderr: true, Tty: tty },
  });
  const conn = await engine.hijack('POST', `/exec/${exec.Id}/start`, { body: { Detach: false, Tty: tty } });
  const read = frameReader((stream, payload) => send(stream === 2 ? Channel.stderr : Channel.stdout, payload));
  conn.on('data', (d: Buffer) => (tty ? send(Channel.stdout, d) : read(d)));
  onMessage = (raw: Buffer): void => {
    const channel = raw[0];
    const payload = raw.subarray(1);
    if (channel === Channel.stdin && 'write' in conn) conn.write(payload);
    else if (channel === Channel.resize) {
      const size = terminalSize(payload);
      if (size)
        void engine
          .call('POST', `/exec/${exec.Id}/resize`, { query: { w: size.width, h: size.height } })
          .catch(() => undefined);
    } else if (channel === Channel.close && payload[0] === Channel.stdin && 'end' in conn) conn.end();
  };
  for (const raw of early.splice(0)) onMessage(raw);
  ws.on('close', () => conn.destroy());
  await new Promise<void>((resolve) => conn.once('close', () => resolve()));
  const info = await engine.json<{ ExitCode: number | null }>('GET', `/exec/${exec.Id}/json`);
  const code = info.ExitCode ?? 0;
  if (code === 0) status({ status: 'Success' });
  else
    status({
      status: 'Failure',
      message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
    });
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
