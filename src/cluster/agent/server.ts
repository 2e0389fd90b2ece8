/**
 * The agent's HTTPS endpoint (the kubelet's port): the API server fetches container logs here for
 * `kubectl logs`. Only clients with a certificate of the cluster CA in `system:masters` (the API
 * server) are served. The agent's own certificate is self-signed, made with openssl on first start;
 * the API server does not verify it, as Kubernetes does not by default.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { ApiClient as EngineClient } from '../../api/docker/client.js';
import type { Logger } from '../../common/log.js';

/** Engine log streams without a TTY are frames: 8-byte header (stream, 0, 0, 0, length) then the payload. */
export class Demultiplexer extends Transform {
  private pending: Buffer = Buffer.alloc(0);

  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      this.push(this.pending.subarray(8, 8 + size));
      this.pending = this.pending.subarray(8 + size);
    }
    done();
  }
}

function ensureCert(dir: string, nodeName: string): { key: string; cert: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = path.join(dir, 'agent.key');
  const cert = path.join(dir, 'agent.crt');
  if (!existsSync(cert)) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '3650', '-subj', `/CN=${nodeName}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

export function startAgentServer(o: { dataDir: string; nodeName: string; port: number; ca: string; engine: EngineClient; logger: Logger; containerOf: (ns: string, pod: string, container: string) => Promise<string | undefined> }): Promise<https.Server> {
  const { key, cert } = ensureCert(path.join(o.dataDir, 'tls'), o.nodeName);
  const server = https.createServer({ key, cert, ca: o.ca, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const fail = (code: number, message: string): void => {
      res.writeHead(code, { 'Content-Type': 'text/plain' });
      res.end(message);
    };
    const sock = req.socket as TLSSocket;
    const orgs = ([] as string[]).concat((sock.getPeerCertificate()?.subject as { O?: string | string[] } | undefined)?.O ?? []);
    if (!sock.authorized || !orgs.includes('system:masters')) return fail(401, 'Unauthorized');
    const url = new URL(req.url ?? '/', 'https://agent');
    const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) return fail(404, 'not found');
    const [ns, pod, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
    void (async () => {
      const id = await o.containerOf(ns, pod, container);
      if (!id) return fail(404, `container "${container}" in pod "${pod}" is not running on this node`);
      const q = url.searchParams;
      const logs = await o.engine.stream('GET', `/containers/${id}/logs`, { query: { stdout: 1, stderr: 1, follow: q.get('follow') === 'true' ? 1 : 0, tail: q.get('tailLines') ?? 'all', timestamps: q.get('timestamps') === 'true' ? 1 : 0 } });
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      // Without a TTY the engine frames stdout and stderr; kubectl wants the text.
      const framed = logs.headers['content-type'] === 'application/vnd.docker.multiplexed-stream';
      (framed ? logs.pipe(new Demultiplexer()) : logs).pipe(res);
      res.on('close', () => logs.destroy());
    })().catch((err: unknown) => (res.headersSent ? res.destroy() : fail(500, (err as Error).message)));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, () => {
      o.logger.info({ port: o.port }, 'agent endpoint listening');
      resolve(server);
    });
  });
}
