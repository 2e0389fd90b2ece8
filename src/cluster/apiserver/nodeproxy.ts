/**
 * What the API server relays to a pod's node agent, over TLS that checks the agent's certificate was
 * issued to that node: `kubectl exec` (a WebSocket speaking Kubernetes' channel protocol, relayed
 * message for message) and `kubectl logs` (streamed through).
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import type { UserInfo } from './auth.js';
import { ApiError, badRequest, type KObject } from './objects.js';
import type { RequestAttributes } from './rbac.js';
import type { RegistryContext, Target } from './registry/strategy.js';

export interface NodeProxyContext extends RegistryContext {
  impersonate(req: IncomingMessage, user: UserInfo): Promise<UserInfo>;
  authorize(user: UserInfo, a: RequestAttributes): Promise<void>;
}

/**
 * `kubectl exec` (a WebSocket speaking Kubernetes' channel protocol): authorized as `create` on
 * `pods/exec`, then relayed message for message to the agent of the pod's node, which runs it.
 */
export async function relayExec(
  ctx: NodeProxyContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://localhost');
  const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach|portforward)$/.exec(url.pathname);
  if (!m) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  const [namespace, name, sub] = m.slice(1).map(decodeURIComponent) as [string, string, string];
  const authenticated = await ctx.authn.authenticate(req);
  if (!authenticated) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
  const user = await ctx.impersonate(req, authenticated);
  await ctx.authorize(user, {
    verb: 'create',
    resourceRequest: true,
    namespace,
    apiGroup: '',
    resource: 'pods',
    subresource: sub,
    name,
  });
  if (sub !== 'exec') throw new ApiError(405, 'MethodNotAllowed', `pods/${sub} is not served yet`);
  const { pod, nodeName, container } = await podContainer(ctx, namespace, name, url.searchParams.get('container'));
  if (!nodeName || (pod.status as { phase?: string } | undefined)?.phase !== 'Running')
    throw badRequest(`unable to upgrade connection: container not found ("${container}")`);
  const agentUrl = await agentEndpoint(ctx, nodeName);
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const agent = new WebSocket(
    `${agentUrl.replace(/^https/, 'wss')}/exec/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${encodeURIComponent(container)}?${url.searchParams.toString()}`,
    offered,
    agentTls(ctx, nodeName),
  );
  await new Promise<void>((resolve, reject) => {
    agent.once('open', resolve);
    agent.once('unexpected-response', (_r, res) =>
      reject(
        new ApiError(
          res.statusCode === 404 ? 404 : 502,
          res.statusCode === 404 ? 'NotFound' : 'BadGateway',
          `the agent refused the exec session (${res.statusCode})`,
        ),
      ),
    );
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

/** A pod and the container a request names (its first when none is named), refused when not one of its own. */
async function podContainer(
  ctx: RegistryContext,
  namespace: string,
  name: string,
  asked: string | null,
): Promise<{ pod: KObject; nodeName?: string; container: string }> {
  const pod = await ctx.store.read({ res: ctx.resource('pods'), namespace, name });
  const spec = (pod.spec ?? {}) as { nodeName?: string; containers?: Array<{ name: string }> };
  const container = asked || spec.containers?.[0]?.name || '';
  if (!spec.containers?.some((c) => c.name === container))
    throw badRequest(`container ${container} is not valid for pod ${name}`);
  return { pod, nodeName: spec.nodeName, container };
}

/** The HTTPS endpoint of a node's agent (its InternalIP and kubelet port), which serves logs and exec. */
async function agentEndpoint(ctx: RegistryContext, nodeName: string): Promise<string> {
  const node = await ctx.store.read({ res: ctx.resource('nodes'), name: nodeName });
  const status = (node.status ?? {}) as {
    addresses?: Array<{ type: string; address: string }>;
    daemonEndpoints?: { kubeletEndpoint?: { Port?: number } };
  };
  const address = status.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const port = status.daemonEndpoints?.kubeletEndpoint?.Port;
  if (!address || !port) throw new ApiError(503, 'ServiceUnavailable', `node "${nodeName}" reports no agent endpoint`);
  return `https://${address}:${port}`;
}

/**
 * TLS to a node's agent: the API server's client certificate, and the agent's serving certificate
 * verified against the cluster CA — for the address dialled, and issued to that very node.
 */
function agentTls(
  ctx: RegistryContext,
  nodeName: string,
): https.RequestOptions & { checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined } {
  return {
    cert: ctx.tls.adminCert,
    key: ctx.tls.adminKey,
    ca: ctx.tls.ca,
    rejectUnauthorized: true,
    checkServerIdentity: (host, cert) => {
      const err = checkServerIdentity(host, cert);
      if (err) return err;
      const cn = ([] as string[]).concat((cert.subject as { CN?: string | string[] } | undefined)?.CN ?? []);
      return cn.includes(`system:node:${nodeName}`)
        ? undefined
        : new Error(`the agent's certificate is not for node "${nodeName}"`);
    },
  };
}

/** `pods/<name>/log`: fetched from the agent of the pod's node (its kubelet endpoint), streamed through. */
export async function podLogs(ctx: RegistryContext, res: ServerResponse, t: Target, q: URLSearchParams): Promise<void> {
  const { nodeName, container } = await podContainer(ctx, t.namespace!, t.name!, q.get('container'));
  if (!nodeName) throw badRequest(`container "${container}" in pod "${t.name}" is waiting to start: ContainerCreating`);
  const agentUrl = await agentEndpoint(ctx, nodeName);
  const query = new URLSearchParams();
  for (const k of ['follow', 'tailLines', 'timestamps', 'previous']) if (q.get(k) !== null) query.set(k, q.get(k)!);
  const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
    const r = https.request(
      `${agentUrl}/containerLogs/${encodeURIComponent(t.namespace!)}/${encodeURIComponent(t.name!)}/${encodeURIComponent(container)}?${query.toString()}`,
      agentTls(ctx, nodeName),
      resolve,
    );
    r.on('error', (err) =>
      reject(
        new ApiError(503, 'ServiceUnavailable', `the agent of node "${nodeName}" cannot be reached: ${err.message}`),
      ),
    );
    r.end();
  });
  if (upstream.statusCode !== 200) {
    let text = '';
    for await (const c of upstream) text += (c as Buffer).toString();
    throw new ApiError(
      upstream.statusCode === 404 ? 400 : 500,
      upstream.statusCode === 404 ? 'BadRequest' : 'InternalError',
      text || `the agent answered ${upstream.statusCode}`,
    );
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  upstream.pipe(res);
  res.on('close', () => upstream.destroy());
}

/** A JSON GET from a node's agent (`/stats/summary`), over the same verified TLS. */
export async function agentJson<T>(ctx: RegistryContext, nodeName: string, path: string, timeoutMs = 5000): Promise<T> {
  const agentUrl = await agentEndpoint(ctx, nodeName);
  return new Promise<T>((resolve, reject) => {
    const r = https.request(`${agentUrl}${path}`, { ...agentTls(ctx, nodeName), timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200)
          return reject(new Error(`agent of ${nodeName} answered ${res.statusCode}: ${text}`));
        try {
          resolve(JSON.parse(text) as T);
        } catch (err) {
          reject(err as Error);
        }
      });
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error(`agent of ${nodeName} did not answer in ${timeoutMs} ms`)));
    r.on('error', reject);
    r.end();
  });
}
