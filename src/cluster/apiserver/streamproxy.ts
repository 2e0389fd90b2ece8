/**
 * The streaming subresources `pods/exec`, `pods/attach` and `pods/portforward`, authorized as `create`
 * on them (also for a WebSocket's GET, as Kubernetes does), then relayed to the agent of the pod's node
 * over TLS checked to be that node's:
 * - SPDY/3.1 upgrades (kubectl before 1.30 for exec and attach, every kubectl's port-forward fallback)
 *   are proxied byte for byte once the agent has agreed (Kubernetes' UpgradeAwareProxy);
 * - a WebSocket asking `SPDY/3.1+portforward.k8s.io` (kubectl 1.31+ port-forward) is tunnelled: its
 *   binary messages are the bytes of a SPDY connection to the agent;
 * - WebSockets of the channel protocols (`v5`/`v4.channel.k8s.io`, the Python client's port-forward)
 *   are relayed message for message to the agent's own WebSocket.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import type { UserInfo } from './auth.js';
import { agentEndpoint, agentTls, podContainer } from './nodeproxy.js';
import { ApiError, badRequest } from './objects.js';
import type { RequestAttributes } from './rbac.js';
import type { RegistryContext } from './registry/strategy.js';

export interface NodeProxyContext extends RegistryContext {
  impersonate(req: IncomingMessage, user: UserInfo): Promise<UserInfo>;
  authorize(user: UserInfo, a: RequestAttributes): Promise<void>;
}

const TUNNEL_PREFIX = 'SPDY/3.1+';
/** The agent's answer to an upgrade may not exceed this before its blank line. */
const MAX_RESPONSE_HEAD = 16 * 1024;

const offeredProtocols = (req: IncomingMessage, header: string): string[] =>
  String(req.headers[header] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);

export async function relayStream(
  ctx: NodeProxyContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  /** The user, when the caller authenticated the request (a dashboard session); else its own credentials. */
  sessionUser?: UserInfo,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://localhost');
  const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach|portforward)$/.exec(url.pathname);
  if (!m) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  const [namespace, name, sub] = m.slice(1).map(decodeURIComponent) as [string, string, string];
  let user = sessionUser;
  if (!user) {
    const authenticated = await ctx.authn.authenticate(req);
    if (!authenticated) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    user = await ctx.impersonate(req, authenticated);
  }
  await ctx.authorize(user, {
    verb: 'create',
    resourceRequest: true,
    namespace,
    apiGroup: '',
    resource: 'pods',
    subresource: sub,
    name,
  });
  const forward = sub === 'portforward';
  const { pod, nodeName, container } = await podContainer(
    ctx,
    namespace,
    name,
    forward ? null : url.searchParams.get('container'),
  );
  if (!nodeName || (pod.status as { phase?: string } | undefined)?.phase !== 'Running')
    throw badRequest(
      forward
        ? `unable to upgrade connection: pod ${name} is not running`
        : `unable to upgrade connection: container not found ("${container}")`,
    );
  const agentUrl = new URL(await agentEndpoint(ctx, nodeName));
  const path = forward
    ? `/portForward/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`
    : `/${sub}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${encodeURIComponent(container)}`;
  const target = { host: agentUrl.hostname, port: Number(agentUrl.port), path: `${path}?${url.searchParams}` };
  const tlsOptions = agentTls(ctx, nodeName);

  if (String(req.headers.upgrade ?? '').toLowerCase() === 'spdy/3.1') {
    const agent = await spdyUpgrade(target, tlsOptions, offeredProtocols(req, 'x-stream-protocol-version'));
    socket.write(agent.head);
    if (head.length) agent.socket.write(head);
    join(socket, agent.socket);
    return;
  }
  const offered = offeredProtocols(req, 'sec-websocket-protocol');
  const tunneled = offered.filter((p) => p.startsWith(TUNNEL_PREFIX)).map((p) => p.slice(TUNNEL_PREFIX.length));
  if (forward && tunneled.length) {
    const agent = await spdyUpgrade(target, tlsOptions, tunneled);
    const chosen = TUNNEL_PREFIX + agent.protocol;
    const server = new WebSocketServer({ noServer: true, handleProtocols: () => chosen });
    server.handleUpgrade(req, socket, head, (client) => {
      client.on('message', (data: Buffer) => agent.socket.write(data));
      agent.socket.on('data', (d: Buffer) => client.send(d, { binary: true }));
      client.on('close', () => agent.socket.destroy());
      agent.socket.on('close', () => client.close(1000));
      client.on('error', () => agent.socket.destroy());
      agent.socket.on('error', () => client.terminate());
    });
    return;
  }
  await relayWebSocket(req, socket, head, target, tlsOptions, offered, nodeName);
}

interface AgentTarget {
  host: string;
  port: number;
  path: string;
}

/** Upgrade a connection to the agent to SPDY; answers the raw 101 head to pass on and the socket. */
function spdyUpgrade(
  target: AgentTarget,
  tlsOptions: ReturnType<typeof agentTls>,
  protocols: string[],
): Promise<{ socket: tls.TLSSocket; head: Buffer; protocol: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      cert: tlsOptions.cert,
      key: tlsOptions.key,
      ca: tlsOptions.ca,
      rejectUnauthorized: true,
      checkServerIdentity: tlsOptions.checkServerIdentity,
      host: target.host,
      port: target.port,
    });
    const unreachable = (err: Error): void =>
      reject(new ApiError(503, 'ServiceUnavailable', `the agent cannot be reached: ${err.message}`));
    socket.once('error', unreachable);
    socket.once('secureConnect', () => {
      socket.write(
        [
          `POST ${target.path} HTTP/1.1`,
          `Host: ${target.host}:${target.port}`,
          'Connection: Upgrade',
          'Upgrade: SPDY/3.1',
          ...protocols.map((p) => `X-Stream-Protocol-Version: ${p.replace(/[\r\n]/g, '')}`),
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      );
    });
    let got = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) {
        if (got.length > MAX_RESPONSE_HEAD) {
          socket.destroy();
          reject(new ApiError(502, 'BadGateway', 'the agent answered the upgrade with an oversized head'));
        }
        return;
      }
      socket.off('data', onData);
      socket.off('error', unreachable);
      const headText = got.subarray(0, end).toString('latin1');
      const rest = got.subarray(end + 4);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headText)?.[1]);
      if (status !== 101) {
        socket.destroy();
        const message = rest.toString('utf8').trim() || headText.split('\r\n')[0]!;
        return reject(new ApiError(status === 404 ? 404 : 400, status === 404 ? 'NotFound' : 'BadRequest', message));
      }
      const protocol = /^x-stream-protocol-version:\s*(.+)$/im.exec(headText)?.[1]?.trim() ?? '';
      socket.pause();
      if (rest.length) socket.unshift(rest);
      resolve({ socket, head: got.subarray(0, end + 4), protocol });
    };
    socket.on('data', onData);
  });
}

/** Bytes both ways until either side ends. */
function join(a: Duplex, b: Duplex): void {
  a.pipe(b);
  b.pipe(a);
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
}

/** A WebSocket of the channel protocols, relayed message for message to the agent's own. */
async function relayWebSocket(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  target: AgentTarget,
  tlsOptions: ReturnType<typeof agentTls>,
  offered: string[],
  nodeName: string,
): Promise<void> {
  const agent = new WebSocket(`wss://${target.host}:${target.port}${target.path}`, offered, tlsOptions);
  await new Promise<void>((resolve, reject) => {
    agent.once('open', resolve);
    agent.once('unexpected-response', (_r, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () =>
        reject(
          new ApiError(
            res.statusCode === 404 ? 404 : 400,
            res.statusCode === 404 ? 'NotFound' : 'BadRequest',
            text || `the agent refused the session (${res.statusCode})`,
          ),
        ),
      );
    });
    agent.once('error', (err) =>
      reject(
        new ApiError(503, 'ServiceUnavailable', `the agent of node "${nodeName}" cannot be reached: ${err.message}`),
      ),
    );
  });
  const relay = new WebSocketServer({ noServer: true, handleProtocols: () => agent.protocol || false });
  relay.handleUpgrade(req, socket, head, (client) => {
    client.on('message', (data, binary) => agent.send(data, { binary }));
    agent.on('message', (data, binary) => client.send(data, { binary }));
    // Close codes pass through; 1005/1006 (none given, abnormal) cannot be sent, so they end as 1000.
    const code = (c: number): number => (c >= 1000 && c < 5000 && c !== 1005 && c !== 1006 ? c : 1000);
    client.on('close', (c, reason) => agent.close(code(c), reason));
    agent.on('close', (c, reason) => client.close(code(c), reason));
    client.on('error', () => agent.terminate());
    agent.on('error', () => client.terminate());
  });
}
