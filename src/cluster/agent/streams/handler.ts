/**
 * The agent's streaming endpoints, at the kubelet's paths: `/exec/<ns>/<pod>/<container>`,
 * `/attach/<ns>/<pod>/<container>` and `/portForward/<ns>/<pod>`, each upgraded to SPDY/3.1 (with
 * `X-Stream-Protocol-Version` negotiated) or to a WebSocket of Kubernetes' channel protocols.
 */
import type { IncomingMessage } from 'node:http';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ApiClient as EngineClient } from '../../../api/docker/client.js';
import type { Logger } from '../../../common/log.js';
import { native } from '../../../native/index.js';
import { commandOptions, runAttach, runExec, type CommandTransport } from './remotecommand.js';
import { SpdyConnection, type SpdyStream } from './spdy.js';
import { spdyCommandTransport, spdyPortForward } from './spdysessions.js';
import { forwardedPorts, STREAM_PROTOCOLS, websocketPortForward, websocketTransport } from './websocket.js';

const REMOTE_COMMAND_SPDY = 'v4.channel.k8s.io';
const PORT_FORWARD = 'portforward.k8s.io';
const PORT_FORWARD_WEBSOCKET = ['v4.channel.k8s.io', PORT_FORWARD];

export interface StreamContext {
  engine: EngineClient;
  logger: Logger;
  containerOf: (ns: string, pod: string, container: string) => Promise<string | undefined>;
  /** The network namespace of a pod of this node (`/proc/<pid>/ns/net` of its sandbox) and its uid. */
  podNetwork: (ns: string, pod: string) => Promise<{ netns: string; uid: string } | undefined>;
}

export function refuseUpgrade(socket: Duplex, code: number, text: string): void {
  socket.end(
    `HTTP/1.1 ${code} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

/** The values of a header the client may repeat (`X-Stream-Protocol-Version`). */
const headerValues = (req: IncomingMessage, name: string): string[] =>
  String(req.headers[name] ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

/** A TCP connection to `port` on the pod's loopback (what the kubelet's port-forward reaches). */
export function podPortConnector(netns: string): (port: number) => Socket {
  return (port) => new net.Socket({ fd: native.connectInNetns(netns, port), readable: true, writable: true });
}

const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => [...offered][0] ?? false });

export async function handleStream(
  ctx: StreamContext,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://agent');
  const m = /^\/(exec|attach|portForward)\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
  if (!m) return refuseUpgrade(socket, 404, 'Not Found');
  const [kind, ns, pod, container] = [m[1]!, ...m.slice(2).map((p) => (p ? decodeURIComponent(p) : ''))] as [
    string,
    string,
    string,
    string,
  ];
  const spdy = String(req.headers.upgrade ?? '').toLowerCase() === 'spdy/3.1';
  const offered = spdy ? headerValues(req, 'x-stream-protocol-version') : headerValues(req, 'sec-websocket-protocol');

  if (kind === 'portForward') {
    const target = await ctx.podNetwork(ns, pod);
    if (!target) return refuseUpgrade(socket, 404, `pod ${pod} is not running on this node`);
    const connect = podPortConnector(target.netns);
    const label = `${pod}, uid ${target.uid}`;
    if (spdy) {
      if (!offered.includes(PORT_FORWARD)) return refuseUpgrade(socket, 403, 'no supported port-forward protocol');
      return void upgradeSpdy(socket, head, PORT_FORWARD, (_conn, register) =>
        spdyPortForward(register, connect, label),
      );
    }
    const ports = forwardedPorts(url.searchParams);
    if (!ports) return refuseUpgrade(socket, 400, 'query parameter "ports" is required: ports 1-65535');
    const protocol = PORT_FORWARD_WEBSOCKET.find((p) => offered.includes(p));
    if (!protocol) return refuseUpgrade(socket, 400, 'no supported port-forward protocol');
    return upgradeWebSocket(req, socket, head, protocol, (ws) => websocketPortForward(ws, ports, connect));
  }

  const id = await ctx.containerOf(ns, pod, container);
  if (!id) return refuseUpgrade(socket, 404, `container ${container} in pod ${pod} is not running on this node`);
  const o = commandOptions(url.searchParams);
  const run = (t: CommandTransport): Promise<void> =>
    kind === 'exec' ? runExec(t, ctx.engine, id, o) : runAttach(t, ctx.engine, id, o);
  const failed = (t: CommandTransport) => (err: unknown) =>
    t.finish({ status: 'Failure', message: (err as Error).message, reason: 'InternalError', code: 500 });
  if (spdy) {
    if (!offered.includes(REMOTE_COMMAND_SPDY)) return refuseUpgrade(socket, 403, 'no supported stream protocol');
    const flag = (k: string): boolean => ['true', '1'].includes(url.searchParams.get(k) ?? '');
    return void upgradeSpdy(socket, head, REMOTE_COMMAND_SPDY, (conn, register) => {
      void spdyCommandTransport(conn, register, { ...o, stdout: flag('stdout'), stderr: flag('stderr') }).then(
        (t) => run(t).catch(failed(t)),
        (err: unknown) => ctx.logger.warn({ err: String(err) }, 'exec session not started'),
      );
    });
  }
  const protocol = STREAM_PROTOCOLS.find((p) => offered.includes(p));
  if (!protocol) return refuseUpgrade(socket, 400, 'no supported stream protocol');
  upgradeWebSocket(req, socket, head, protocol, (ws) => {
    const t = websocketTransport(ws);
    void run(t).catch(failed(t));
  });
}

function upgradeWebSocket(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  protocol: string,
  fn: (ws: WebSocket) => void,
): void {
  req.headers['sec-websocket-protocol'] = protocol;
  wss.handleUpgrade(req, socket, head, fn);
}

/** Answer 101 with the chosen protocol and speak SPDY; streams opened early wait for `register`. */
function upgradeSpdy(
  socket: Socket,
  head: Buffer,
  protocol: string,
  fn: (conn: SpdyConnection, register: (handler: (s: SpdyStream) => void) => void) => void,
): void {
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`,
  );
  const early: SpdyStream[] = [];
  let handler = (s: SpdyStream): void => void early.push(s);
  if (head.length) socket.unshift(head);
  const conn = new SpdyConnection(socket, (s) => handler(s));
  fn(conn, (h) => {
    handler = h;
    for (const s of early.splice(0)) h(s);
  });
}
