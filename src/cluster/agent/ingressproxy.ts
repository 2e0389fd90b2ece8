/**
 * The ingress proxy every node's agent runs for the `gantry` IngressClass (what Traefik is to k3s):
 * HTTP and HTTPS on the node's ports (80 and 443 unless told otherwise), each request routed by
 * `ingressroutes` to a ready endpoint of the backend Service (round robin), WebSocket upgrades passed
 * through, TLS certificates chosen by SNI from the Ingresses' Secrets (the agent's own certificate
 * otherwise). A Service that does not exist or has no ready endpoint answers 503; no matching rule 404.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from '../../common/log.js';
import { isNotFound } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { Informer } from '../client/informer.js';
import { routeFor, tlsSecretFor, type Backend } from './ingressroutes.js';

/** A Secret's certificate is used this long before it is read again. */
const SECRET_TTL_MS = 30_000;

type Subset = { addresses?: Array<{ ip?: string }>; ports?: Array<{ name?: string; port?: number }> };
type ServicePort = { name?: string; port?: number; targetPort?: number | string };

export class IngressProxy {
  private readonly servers: net.Server[] = [];
  private readonly contexts = new Map<string, { at: number; ctx: Promise<tls.SecureContext | undefined> }>();
  private next = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly ingresses: Informer,
    private readonly services: Informer,
    private readonly endpoints: Informer,
    private readonly ports: { http: number; https: number },
    private readonly fallbackCert: { cert: string; key: string },
    private readonly logger: Logger,
  ) {}

  /** Listen; a port that cannot be had is logged and left (the node goes on without it). */
  async start(): Promise<void> {
    const plain = http.createServer((req, res) => this.handle(req, res, 'http'));
    const secure = https.createServer(
      {
        ...this.fallbackCert,
        SNICallback: (name, cb) =>
          void this.contextFor(name).then(
            (ctx) => cb(null, ctx),
            () => cb(null, undefined),
          ),
      },
      (req, res) => this.handle(req, res, 'https'),
    );
    for (const s of [plain, secure])
      s.on('upgrade', (req, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    for (const [server, port] of [
      [plain, this.ports.http],
      [secure, this.ports.https],
    ] as const) {
      if (!port) continue;
      await new Promise<void>((resolve) => {
        server.once('error', (err) => {
          this.logger.error({ port, err: String(err) }, 'ingress port not listened on');
          resolve();
        });
        server.listen(port, () => {
          this.servers.push(server);
          resolve();
        });
      });
    }
  }

  stop(): void {
    for (const s of this.servers) s.close();
  }

  /** A ready endpoint of the backend: its address and the target port, or why there is none. */
  private endpointFor(b: Backend): { ip: string; port: number } | { status: number; text: string } {
    const svc = this.services.get(`${b.namespace}/${b.service}`);
    if (!svc) return { status: 503, text: `Service "${b.namespace}/${b.service}" not found\n` };
    const ports = ((svc.spec as { ports?: ServicePort[] } | undefined)?.ports ?? []) as ServicePort[];
    const sp = ports.find((p) => (b.port.number ? p.port === b.port.number : p.name === b.port.name));
    if (!sp) return { status: 503, text: `Service "${b.namespace}/${b.service}" has no such port\n` };
    const candidates: Array<{ ip: string; port: number }> = [];
    const subsets = ((this.endpoints.get(`${b.namespace}/${b.service}`)?.subsets as Subset[] | undefined) ??
      []) as Subset[];
    for (const s of subsets) {
      const port = (s.ports ?? []).find((p) => (sp.name ? p.name === sp.name : true))?.port;
      if (!port) continue;
      for (const a of s.addresses ?? []) if (a.ip) candidates.push({ ip: a.ip, port });
    }
    if (!candidates.length) return { status: 503, text: 'Service Unavailable\n' };
    return candidates[this.next++ % candidates.length]!;
  }

  private target(req: http.IncomingMessage): { ip: string; port: number } | { status: number; text: string } {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    const backend = routeFor(this.ingresses.list(), host, req.url ?? '/');
    if (!backend) return { status: 404, text: '404 page not found\n' };
    return this.endpointFor(backend);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, scheme: 'http' | 'https'): void {
    const t = this.target(req);
    if ('status' in t) {
      res.writeHead(t.status, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(t.text);
      return;
    }
    const client = req.socket.remoteAddress ?? '';
    const upstream = http.request(
      {
        host: t.ip,
        port: t.port,
        method: req.method,
        path: req.url,
        headers: {
          ...req.headers,
          'x-forwarded-for': [req.headers['x-forwarded-for'], client].filter(Boolean).join(', '),
          'x-forwarded-host': req.headers.host ?? '',
          'x-forwarded-proto': scheme,
          'x-real-ip': client,
        },
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Bad Gateway\n');
    });
    req.pipe(upstream);
  }

  /** An upgrade (WebSocket) goes to the endpoint as it came; then bytes both ways. */
  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const t = this.target(req);
    if ('status' in t) {
      socket.end(
        `HTTP/1.1 ${t.status} ${http.STATUS_CODES[t.status]}\r\nContent-Length: ${Buffer.byteLength(t.text)}\r\n\r\n${t.text}`,
      );
      return;
    }
    const upstream = net.connect(t.port, t.ip, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
    socket.on('close', () => upstream.destroy());
  }

  /** The certificate for a server name from an Ingress's TLS Secret, undefined for the fallback. */
  private contextFor(serverName: string): Promise<tls.SecureContext | undefined> {
    const ref = tlsSecretFor(this.ingresses.list(), serverName.toLowerCase());
    if (!ref) return Promise.resolve(undefined);
    const key = `${ref.namespace}/${ref.name}`;
    const hit = this.contexts.get(key);
    if (hit && Date.now() - hit.at < SECRET_TTL_MS) return hit.ctx;
    const ctx = this.client
      .request<KObject>('GET', `${collectionPath('v1', 'secrets', ref.namespace)}/${ref.name}`)
      .then((secret) => {
        const data = (secret.data ?? {}) as Record<string, string>;
        const cert = Buffer.from(data['tls.crt'] ?? '', 'base64');
        const pem = Buffer.from(data['tls.key'] ?? '', 'base64');
        return cert.length && pem.length ? tls.createSecureContext({ cert, key: pem }) : undefined;
      })
      .catch((err: unknown) => {
        if (!isNotFound(err)) this.logger.warn({ secret: key, err: String(err) }, 'ingress TLS secret not read');
        return undefined;
      });
    this.contexts.set(key, { at: Date.now(), ctx });
    return ctx;
  }
}
