/**
 * A client of the Docker Engine API, used by the gantry CLI (a client like the docker CLI) and the node
 * agent (which runs pods through the engine). Host from
 * `-H`, `GANTRY_HOST`, then `DOCKER_HOST`, default the gantry daemon's socket.
 */
import http, { type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { readAll } from '../../common/streams.js';

export const DEFAULT_HOST = 'unix:///run/gantry/gantry.sock';
const API_PREFIX = '/v1.44';

export function resolveHost(flag?: string): string {
  return flag || process.env.GANTRY_HOST || process.env.DOCKER_HOST || DEFAULT_HOST;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface RequestOpts {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
}

export class ApiClient {
  constructor(readonly host: string) {}

  private target(): { socketPath?: string; hostname?: string; port?: number } {
    if (this.host.startsWith('unix://')) return { socketPath: this.host.slice('unix://'.length) };
    const m = /^(?:tcp|http):\/\/([^:/]+):(\d+)/.exec(this.host);
    if (!m) throw new Error(`unsupported host ${this.host}`);
    return { hostname: m[1], port: Number(m[2]) };
  }

  request(method: string, path: string, opts: RequestOpts = {}): Promise<IncomingMessage> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) qs.append(k, x);
      else qs.set(k, String(v));
    }
    const q = qs.toString();
    const headers: Record<string, string> = { ...opts.headers };
    let body: Buffer | Readable | undefined;
    if (opts.body instanceof Readable) body = opts.body;
    else if (Buffer.isBuffer(opts.body)) body = opts.body;
    else if (opts.body !== undefined) {
      body = Buffer.from(JSON.stringify(opts.body));
      headers['Content-Type'] = 'application/json';
    }
    if (Buffer.isBuffer(body)) headers['Content-Length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const req = http.request(
        { ...this.target(), method, path: `${API_PREFIX}${path}${q ? `?${q}` : ''}`, headers },
        resolve,
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
          reject(new ApiError(0, `Cannot connect to the Gantry daemon at ${this.host}. Is the gantry daemon running?`));
        } else reject(err);
      });
      if (body instanceof Readable) body.pipe(req);
      else req.end(body);
    });
  }

  /**
   * A hijacked connection (attach, exec): sends `Upgrade: tcp` and resolves with the raw socket once
   * the daemon answers 101 (or a plain 200 stream). Errors come back as ApiError.
   */
  hijack(method: string, path: string, opts: RequestOpts = {}): Promise<import('node:net').Socket | IncomingMessage> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const q = qs.toString();
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = {
      Connection: 'Upgrade',
      Upgrade: 'tcp',
      ...(body ? { 'Content-Type': 'application/json', 'Content-Length': String(body.length) } : {}),
    };
    return new Promise((resolve, reject) => {
      const req = http.request({ ...this.target(), method, path: `${API_PREFIX}${path}${q ? `?${q}` : ''}`, headers });
      req.on('upgrade', (_res, socket, head) => {
        if (head.length) socket.unshift(head);
        resolve(socket);
      });
      req.on('response', (res) => {
        if ((res.statusCode ?? 0) >= 400) {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () =>
            reject(new ApiError(res.statusCode ?? 0, errorText(Buffer.concat(parts), res.statusCode ?? 0))),
          );
        } else resolve(res);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')
          reject(new ApiError(0, `Cannot connect to the Gantry daemon at ${this.host}. Is the gantry daemon running?`));
        else reject(err);
      });
      req.end(body);
    });
  }

  /** Read a whole response; throw the daemon's error message on failure status. */
  async call(
    method: string,
    path: string,
    opts: RequestOpts = {},
  ): Promise<{ status: number; body: Buffer; res: IncomingMessage }> {
    const res = await this.request(method, path, opts);
    const body = await readAll(res);
    const status = res.statusCode ?? 0;
    if (status >= 400) throw new ApiError(status, errorText(body, status));
    return { status, body, res };
  }

  async json<T>(method: string, path: string, opts: RequestOpts = {}): Promise<T> {
    const { body } = await this.call(method, path, opts);
    return (body.length ? JSON.parse(body.toString('utf8')) : undefined) as T;
  }

  /** Open a streaming response, throwing on an error status. */
  async stream(method: string, path: string, opts: RequestOpts = {}): Promise<IncomingMessage> {
    const res = await this.request(method, path, opts);
    if ((res.statusCode ?? 0) >= 400) {
      throw new ApiError(res.statusCode ?? 0, errorText(await readAll(res), res.statusCode ?? 0));
    }
    return res;
  }
}

/**
 * A reader of the Engine API's multiplexed streams (attach, exec and logs without a TTY): frames of an
 * 8-byte header (stream: 1 stdout, 2 stderr; three zero bytes; big-endian length) and that many bytes.
 * Feed it chunks as they arrive; it calls `onFrame` for each complete frame.
 */
export function frameReader(onFrame: (stream: number, payload: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 8 && pending.length >= 8 + pending.readUInt32BE(4)) {
      const size = pending.readUInt32BE(4);
      onFrame(pending[0]!, pending.subarray(8, 8 + size));
      pending = pending.subarray(8 + size);
    }
  };
}

function errorText(body: Buffer, status: number): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { message?: string };
    if (parsed.message) return parsed.message;
  } catch {
    // Not JSON.
  }
  return body.toString('utf8').trim() || `status ${status}`;
}
