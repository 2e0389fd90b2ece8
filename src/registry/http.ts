/**
 * A small HTTP(S) client on node:http for the registry protocols: keep-alive agents, streaming bodies
 * both ways, redirects, and no buffering of blobs. Used instead of fetch because blobs are large and
 * Node streams avoid a web-stream conversion on the hot path.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { readAll } from '../common/streams.js';

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16 });
const httpsInsecureAgent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string | (() => Readable);
  /** Accept any TLS certificate (insecure registries). */
  insecureTls?: boolean;
  followRedirects?: number;
  timeoutMs?: number;
}

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  url: URL;
  body: IncomingMessage;
}

export function request(url: URL | string, opts: RequestOptions = {}): Promise<Response> {
  const u = typeof url === 'string' ? new URL(url) : url;
  return new Promise<Response>((resolve, reject) => {
    const isHttps = u.protocol === 'https:';
    const mod = isHttps ? https : http;
    const agent = isHttps ? (opts.insecureTls ? httpsInsecureAgent : httpsAgent) : httpAgent;
    const headers: Record<string, string> = { 'User-Agent': 'gantry/0.1', ...opts.headers };
    let bodyBuf: Buffer | undefined;
    if (typeof opts.body === 'string') bodyBuf = Buffer.from(opts.body);
    else if (Buffer.isBuffer(opts.body)) bodyBuf = opts.body;
    if (bodyBuf) headers['Content-Length'] = String(bodyBuf.length);
    const req = mod.request(u, { method: opts.method ?? 'GET', headers, agent }, (res) => {
      const status = res.statusCode ?? 0;
      const loc = res.headers.location;
      const left = opts.followRedirects ?? 5;
      const method = opts.method ?? 'GET';
      if ([301, 302, 303, 307, 308].includes(status) && loc && left > 0 && (method === 'GET' || method === 'HEAD')) {
        res.resume();
        const next = new URL(loc, u);
        const nextHeaders = { ...opts.headers };
        // Never forward registry credentials to another host (blob storage redirects).
        if (next.host !== u.host) delete nextHeaders.Authorization;
        request(next, { ...opts, headers: nextHeaders, followRedirects: left - 1 }).then(resolve, reject);
        return;
      }
      resolve({ status, headers: res.headers, url: u, body: res });
    });
    req.on('error', reject);
    if (opts.timeoutMs) {
      req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`request to ${u.host} timed out`)));
    }
    if (bodyBuf) req.end(bodyBuf);
    else if (typeof opts.body === 'function') {
      const src = opts.body();
      src.on('error', (err) => req.destroy(err));
      src.pipe(req);
    } else req.end();
  });
}

/** The whole body of a response (or any stream), refusing more than `limit` bytes. */
export function readBody(res: Response | AsyncIterable<unknown>, limit = 64 << 20): Promise<Buffer> {
  return readAll('body' in res ? res.body : res, limit, () => new Error(`response body larger than ${limit} bytes`));
}
