/**
 * The agent's HTTPS endpoint (the kubelet's port): the API server fetches container logs here for
 * `kubectl logs`, opens exec, attach and port-forward sessions (`streams/`), reads `/stats/summary`
 * for the metrics API, and relays scrapes of `/metrics` and `/metrics/cadvisor` (the node proxy). Only clients with a certificate of the
 * cluster CA in `system:masters` (the API server) are served. The endpoint's own certificate is the
 * node's serving certificate, signed by the cluster CA, which the API server verifies.
 */
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Transform, type Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { frameReader } from '../../api/docker/client.js';
import type { Registry } from 'prom-client';
import { writeMetrics } from '../../common/metrics.js';
import type { Summary } from './resourcestats.js';
import { handleStream, refuseUpgrade, type StreamContext } from './streams/handler.js';

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

export interface AgentServerOptions extends StreamContext {
  port: number;
  ca: string;
  serving: { cert: string; key: string };
  /** The Summary API's answer (`/stats/summary`): node and pod CPU and memory. */
  summary: () => Promise<Summary>;
  /** The kubelet's `/metrics` and cAdvisor's `/metrics/cadvisor`. */
  metrics: { registry: Registry; cadvisor: () => Promise<{ contentType: string; body: string }> };
}

export function startAgentServer(o: AgentServerOptions): Promise<https.Server> {
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
      if (req.method === 'GET' && url.pathname === '/metrics') {
        void writeMetrics(o.metrics.registry, res).catch((err: unknown) => fail(500, String(err)));
        return;
      }
      // What the dashboard shows of a node's engine: its containers and images, read only.
      const engineList = { '/engine/containers': '/containers/json?all=1', '/engine/images': '/images/json' }[
        url.pathname
      ];
      if (req.method === 'GET' && engineList) {
        void o.engine.json<unknown>('GET', engineList).then(
          (list) => {
            res.writeHead(200, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify(list));
          },
          (err: unknown) => fail(502, `the engine did not answer: ${String(err)}`),
        );
        return;
      }
      if (req.method === 'GET' && url.pathname === '/metrics/cadvisor') {
        void o.metrics.cadvisor().then(
          ({ contentType, body }) => {
            res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
            res.end(body);
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
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!fromApiServer(req)) return refuseUpgrade(socket, 401, 'Unauthorized');
    void handleStream(o, req, socket as Socket, head).catch((err: unknown) => {
      o.logger.warn({ err: String(err), url: req.url }, 'stream session failed');
      refuseUpgrade(socket, 500, 'Internal Server Error');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, () => {
      o.logger.info({ port: o.port }, 'agent endpoint listening');
      resolve(server);
    });
  });
}
