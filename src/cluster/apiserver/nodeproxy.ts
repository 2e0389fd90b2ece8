/**
 * What the API server asks of a pod's node agent, over TLS that checks the agent's certificate was
 * issued to that node: `kubectl logs` (streamed through) and the Summary API; `streamproxy` relays the
 * streaming subresources the same way.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { ApiError, badRequest, type KObject } from './objects.js';
import type { RegistryContext, Target } from './registry/strategy.js';

/** A pod and the container a request names (its first when none is named), refused when not one of its own. */
export async function podContainer(
  ctx: RegistryContext,
  namespace: string,
  name: string,
  asked: string | null,
): Promise<{ pod: KObject; nodeName?: string; container: string }> {
  const pod = await ctx.store.read({ res: ctx.resource('pods'), namespace, name });
  const spec = (pod.spec ?? {}) as {
    nodeName?: string;
    containers?: Array<{ name: string }>;
    ephemeralContainers?: Array<{ name: string }>;
  };
  const container = asked || spec.containers?.[0]?.name || '';
  if (![...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])].some((c) => c.name === container))
    throw badRequest(`container ${container} is not valid for pod ${name}`);
  return { pod, nodeName: spec.nodeName, container };
}

/** The HTTPS endpoint of a node's agent (its InternalIP and kubelet port), which serves logs and exec. */
export async function agentEndpoint(ctx: RegistryContext, nodeName: string): Promise<string> {
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
export function agentTls(
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

/**
 * `nodes/<name>/proxy/<path>`: a GET relayed to the node's agent (its `/metrics`, `/metrics/cadvisor`,
 * `/stats/summary`, container logs), answered with the agent's status, type and body as they come.
 * As the kubelet API behind it, only reads: exec and the other streams have their own subresources.
 */
export async function proxyToNode(
  ctx: RegistryContext,
  res: ServerResponse,
  nodeName: string,
  subpath: string,
  query: URLSearchParams,
): Promise<void> {
  const agentUrl = await agentEndpoint(ctx, nodeName);
  const search = query.toString();
  const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
    const r = https.request(`${agentUrl}/${subpath}${search ? `?${search}` : ''}`, agentTls(ctx, nodeName), resolve);
    r.setTimeout(30_000, () => r.destroy(new Error('no answer in 30 s')));
    r.on('error', (err) =>
      reject(
        new ApiError(503, 'ServiceUnavailable', `the agent of node "${nodeName}" cannot be reached: ${err.message}`),
      ),
    );
    r.end();
  });
  const headers: Record<string, string> = { 'Content-Type': upstream.headers['content-type'] ?? 'text/plain' };
  if (upstream.headers['content-length']) headers['Content-Length'] = upstream.headers['content-length'];
  res.writeHead(upstream.statusCode ?? 502, headers);
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
