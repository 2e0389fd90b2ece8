/**
 * A small client of the Kubernetes API for Gantry's own cluster components (controllers, scheduler):
 * they reach cluster state through the API server, as every other client does, over HTTPS with a
 * client certificate or a bearer token. JSON only; watches are read line by line.
 */
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { urlToHttpOptions } from 'node:url';
import { StatusError as ApiStatusError } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import { readAll } from '../../common/streams.js';

/** The server, its CA, and either a client certificate or a bearer token. */
export interface ClientOptions {
  /** The API server's URL; several, comma-separated, for a cluster of servers (tried in turn when one is down). */
  server: string;
  ca: string;
  cert?: string;
  key?: string;
  token?: string;
  /** Connections kept to the server at most (each watch holds one); 16 when not given. */
  maxSockets?: number;
}

/** A failed request: the server's Status as a `StatusError` (see `cluster/api/errors` for its predicates). */
export { StatusError as ApiStatusError } from '../api/errors.js';

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KObject;
}

export interface ObjectList {
  metadata: { resourceVersion: string; continue?: string };
  items: KObject[];
}

/** The collection path of a resource: `/apis/apps/v1/namespaces/ns/deployments` or `/api/v1/nodes`. */
export function collectionPath(apiVersion: string, plural: string, namespace?: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`;
}

/** What controllers, informers and recorders need of a client: a fake one stands in for it in unit tests. */
export interface KubeClient {
  request<T = KObject>(method: string, path: string, body?: unknown, contentType?: string): Promise<T>;
  list(path: string, query?: Record<string, string>, opts?: ReadOptions): Promise<ObjectList>;
  create(path: string, obj: KObject): Promise<KObject>;
  update(path: string, obj: KObject): Promise<KObject>;
  mergePatch(path: string, patch: unknown): Promise<KObject>;
  delete(path: string, options?: Record<string, unknown>): Promise<KObject>;
  watch(
    path: string,
    resourceVersion: string,
    selectors: Record<string, string>,
    onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
    opts?: ReadOptions,
  ): Promise<void>;
}

/** Lists and watches of metadata only (`PartialObjectMetadata`): what the garbage collector needs. */
export interface ReadOptions {
  metadataOnly?: boolean;
}

const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json';
const METADATA_LIST_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json';

/** Errors that say the server was not reached at all, so the request can go to another unchanged. */
const UNREACHED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN']);
/** Errors of a connection that broke: the next requests go to another server. */
const BROKEN = new Set([...UNREACHED, 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

export class ApiClient implements KubeClient {
  private agent: https.Agent;
  private readonly servers: string[];
  /** Each server's URL parsed once into request options (host, port, path prefix), not on every request. */
  private readonly targets: Array<https.RequestOptions & { prefix: string }>;
  /** The server requests go to, until it fails. */
  private current = 0;

  constructor(private o: ClientOptions) {
    this.servers = o.server
      .split(',')
      .map((s) => s.trim().replace(/\/+$/, ''))
      .filter(Boolean);
    if (!this.servers.length) throw new Error('no API server given');
    this.targets = this.servers.map((s) => {
      const url = new URL(s);
      return { ...urlToHttpOptions(url), prefix: url.pathname.replace(/\/+$/, '') };
    });
    this.agent = this.makeAgent();
  }

  private makeAgent(): https.Agent {
    return new https.Agent({
      keepAlive: true,
      maxSockets: this.o.maxSockets ?? 16,
      ca: this.o.ca,
      cert: this.o.cert,
      key: this.o.key,
    });
  }

  /**
   * A renewed client certificate: requests from now on use it; connections made with the old one are
   * closed a minute later (watches on them open again with the new one).
   */
  setCertificate(cert: string, key: string): void {
    this.o = { ...this.o, cert, key };
    const old = this.agent;
    this.agent = this.makeAgent();
    setTimeout(() => old.destroy(), 60_000).unref();
  }

  get options(): ClientOptions {
    return this.o;
  }

  close(): void {
    this.agent.destroy();
  }

  private open(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
    accept = 'application/json',
  ): Promise<IncomingMessage> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const attempt = (index: number): Promise<IncomingMessage> =>
      new Promise((resolve, reject) => {
        const { prefix, ...target } = this.targets[index]!;
        const req = https.request(
          {
            ...target,
            path: prefix + path,
            method,
            agent: this.agent,
            headers: {
              Accept: accept,
              ...(this.o.token ? { Authorization: `Bearer ${this.o.token}` } : {}),
              ...(data ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data) } : {}),
            },
          },
          resolve,
        );
        req.on('error', reject);
        req.end(data);
      });
    // Failing over as client-go does with several servers behind it: a server not reached is skipped
    // at once (nothing was sent); after a broken connection the next requests go to the next server.
    const tryFrom = async (tried: number): Promise<IncomingMessage> => {
      const index = this.current;
      try {
        return await attempt(index);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (this.servers.length > 1 && BROKEN.has(code) && this.current === index)
          this.current = (index + 1) % this.servers.length;
        if (UNREACHED.has(code) && tried + 1 < this.servers.length) return tryFrom(tried + 1);
        throw err;
      }
    };
    return tryFrom(0);
  }

  async request<T = KObject>(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
    accept?: string,
  ): Promise<T> {
    const res = await this.open(method, path, body, contentType, accept);
    const text = (await readAll(res)).toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if ((res.statusCode ?? 500) >= 400) {
      const status = (json ?? {}) as { reason?: string; message?: string };
      throw new ApiStatusError(res.statusCode ?? 500, status.reason ?? 'Unknown', status.message ?? text);
    }
    return json as T;
  }

  list(path: string, query: Record<string, string> = {}, opts: ReadOptions = {}): Promise<ObjectList> {
    const qs = new URLSearchParams(query).toString();
    return this.request<ObjectList>(
      'GET',
      qs ? `${path}?${qs}` : path,
      undefined,
      undefined,
      opts.metadataOnly ? METADATA_LIST_ONLY : undefined,
    );
  }

  create(path: string, obj: KObject): Promise<KObject> {
    return this.request('POST', path, obj);
  }

  update(path: string, obj: KObject): Promise<KObject> {
    return this.request('PUT', path, obj);
  }

  mergePatch(path: string, patch: unknown): Promise<KObject> {
    return this.request('PATCH', path, patch, 'application/merge-patch+json');
  }

  delete(path: string, options: Record<string, unknown> = {}): Promise<KObject> {
    return this.request('DELETE', path, { kind: 'DeleteOptions', apiVersion: 'v1', ...options });
  }

  /**
   * Watch from `resourceVersion`, calling `onEvent` for each event until the server ends the stream,
   * the connection fails, or `signal` aborts. Resolves when the stream ends (the caller watches again).
   */
  async watch(
    path: string,
    resourceVersion: string,
    selectors: Record<string, string>,
    onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
    opts: ReadOptions = {},
  ): Promise<void> {
    const qs = new URLSearchParams({
      ...selectors,
      watch: '1',
      resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(240 + Math.floor(Math.random() * 120)),
    });
    const res = await this.open(
      'GET',
      `${path}?${qs.toString()}`,
      undefined,
      undefined,
      opts.metadataOnly ? METADATA_ONLY : undefined,
    );
    if ((res.statusCode ?? 500) >= 400) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      const status = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { reason?: string; message?: string };
      throw new ApiStatusError(res.statusCode ?? 500, status.reason ?? 'Unknown', status.message ?? '');
    }
    const abort = (): void => void res.destroy();
    signal.addEventListener('abort', abort, { once: true });
    // Decoded as a stream: a character may be split between two chunks.
    res.setEncoding('utf8');
    let pending = '';
    try {
      for await (const chunk of res) {
        pending += chunk as string;
        let start = 0;
        let nl: number;
        while ((nl = pending.indexOf('\n', start)) >= 0) {
          const line = pending.slice(start, nl);
          start = nl + 1;
          if (line.trim()) onEvent(JSON.parse(line) as WatchEvent);
        }
        pending = pending.slice(start);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }
}
