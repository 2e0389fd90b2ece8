/**
 * Distribution API v2 client: pull and push of manifests and blobs with anonymous, basic and bearer
 * token auth, mirrors for docker.io, plain HTTP only for loopback and insecure registries, and retries
 * with backoff for transient failures.
 */
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { sha256 } from '../common/digest.js';
import { GantryError, errorMessage } from '../common/errors.js';
import { MANIFEST_ACCEPT } from '../images/oci.js';
import { DEFAULT_DOMAIN } from '../images/reference.js';
import { credentials, parseChallenges, type AuthConfig } from './auth.js';
import { readBody, request, type Response } from './http.js';
import { rawGet, type RawBody } from './rawbody.js';

export interface RegistryOptions {
  /** Hosts (`host:port`), hostnames or CIDRs allowed over plain HTTP or unverified TLS. */
  insecureRegistries?: string[];
  /** Mirror URLs tried first for docker.io repositories. */
  mirrors?: string[];
  /** Upload blobs larger than this in chunks of this size (0: one request). */
  chunkSize?: number;
}

interface Endpoint {
  /** Base URL, e.g. `https://registry-1.docker.io`. */
  base: URL;
  insecureTls: boolean;
  mirror: boolean;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, bitsStr] = cidr.split('/');
  if (!net || !bitsStr || isIP(ip) !== 4 || isIP(net) !== 4) return false;
  const bits = Number(bitsStr);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (ipv4ToInt(ip) & mask) === (ipv4ToInt(net) & mask);
}

export function hostOf(domain: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(domain);
  if (m) return m[1]!;
  return domain.replace(/:\d+$/, '');
}

export function isLoopback(domain: string): boolean {
  const host = hostOf(domain);
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && inCidr(host, '127.0.0.0/8'));
}

export class RegistryError extends GantryError {
  constructor(
    kind: GantryError['kind'],
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(kind, message);
  }
}

/** Parse a distribution error body: `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}`. */
function describeErrors(body: Buffer): { code?: string; text: string } {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> };
    const e = parsed.errors?.[0];
    if (e)
      return { code: e.code, text: `${(e.code ?? '').toLowerCase().replace(/_/g, ' ')}: ${e.message ?? ''}`.trim() };
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return { text: body.toString('utf8').trim().slice(0, 200) };
}

const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

export function isTransient(err: unknown): boolean {
  if (err instanceof RegistryError) return err.status !== undefined && TRANSIENT_STATUS.has(err.status);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (
    (code !== undefined && TRANSIENT_CODES.has(code)) ||
    /socket hang up|aborted|premature close/i.test(errorMessage(err))
  );
}

/** Run `fn` again after transient failures, waiting 250 ms, 500 ms, 1 s, ... between tries. */
export async function withRetry<T>(
  fn: () => Promise<T>,
  attempts = 4,
  onRetry?: (err: unknown, wait: number) => void,
): Promise<T> {
  let delay = 250;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !isTransient(err)) throw err;
      onRetry?.(err, delay);
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}

export interface ManifestResult {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

interface TokenEntry {
  token: string;
  expires: number;
}

export class RegistryClient {
  private readonly schemeCache = new Map<string, 'https' | 'http'>();

  constructor(readonly opts: RegistryOptions = {}) {}

  isInsecure(domain: string): boolean {
    if (isLoopback(domain)) return true;
    const host = hostOf(domain);
    for (const entry of this.opts.insecureRegistries ?? []) {
      if (entry === domain || entry === host) return true;
      if (entry.includes('/') && inCidr(host, entry)) return true;
    }
    return false;
  }

  endpoints(domain: string, useMirrors: boolean): Endpoint[] {
    const out: Endpoint[] = [];
    if (domain === DEFAULT_DOMAIN) {
      if (useMirrors) {
        for (const m of this.opts.mirrors ?? []) {
          const base = new URL(m.includes('://') ? m : `https://${m}`);
          out.push({ base, insecureTls: this.isInsecure(base.host), mirror: true });
        }
      }
      out.push({ base: new URL('https://registry-1.docker.io'), insecureTls: false, mirror: false });
      return out;
    }
    const host = domain;
    if (this.isInsecure(domain)) {
      const known = this.schemeCache.get(host);
      if (known === 'http') out.push({ base: new URL(`http://${host}`), insecureTls: true, mirror: false });
      else {
        out.push({ base: new URL(`https://${host}`), insecureTls: true, mirror: false });
        out.push({ base: new URL(`http://${host}`), insecureTls: true, mirror: false });
      }
    } else out.push({ base: new URL(`https://${host}`), insecureTls: false, mirror: false });
    return out;
  }

  /**
   * Open a session on one repository, finding an endpoint that answers `/v2/`. Mirrors (tried first
   * for docker.io pulls unless `mirrors` is false) that fail are skipped; the first working endpoint is
   * used for the whole session.
   */
  async session(
    domain: string,
    path: string,
    auth: AuthConfig | undefined,
    actions: 'pull' | 'pull,push',
    opts: { mirrors?: boolean } = {},
  ): Promise<RepositorySession> {
    const errors: string[] = [];
    const eps = this.endpoints(domain, actions === 'pull' && opts.mirrors !== false);
    for (const ep of eps) {
      const s = new RepositorySession(this, ep, domain, path, auth, actions);
      try {
        await s.ping();
        if (ep.base.protocol === 'http:') this.schemeCache.set(domain, 'http');
        return s;
      } catch (err) {
        if (err instanceof RegistryError && (err.kind === 'unauthorized' || err.kind === 'forbidden') && !ep.mirror)
          throw err;
        errors.push(`${ep.base.origin}: ${errorMessage(err)}`);
      }
    }
    throw new RegistryError(
      'unavailable',
      `Get "${eps[eps.length - 1]!.base.origin}/v2/": ${errors[errors.length - 1] ?? 'unreachable'}`,
    );
  }
}

export class RepositorySession {
  private authHeader: string | undefined;
  private readonly tokens = new Map<string, TokenEntry>();
  private challenge: { scheme: string; params: Record<string, string> } | undefined;

  constructor(
    private readonly client: RegistryClient,
    readonly endpoint: Endpoint,
    readonly domain: string,
    readonly path: string,
    private readonly auth: AuthConfig | undefined,
    private readonly actions: string,
  ) {}

  get isMirror(): boolean {
    return this.endpoint.mirror;
  }

  private url(p: string): URL {
    return new URL(p, this.endpoint.base);
  }

  /** Check `/v2/` answers, learning the auth scheme (a 401 there is expected and fine). */
  async ping(): Promise<void> {
    const res = await request(this.url('/v2/'), { insecureTls: this.endpoint.insecureTls, timeoutMs: 15000 });
    res.body.resume();
    if (res.status === 401) {
      this.challenge = parseChallenges(res.headers['www-authenticate'])[0];
      await this.authorize(this.challenge);
      return;
    }
    if (res.status >= 400)
      throw new RegistryError('unavailable', `registry answered ${res.status} on /v2/`, res.status);
    if (this.auth && credentials(this.auth)) {
      const c = credentials(this.auth)!;
      this.authHeader = 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64');
    }
  }

  /** Verify the credentials are accepted (login). */
  async checkLogin(): Promise<void> {
    const res = await this.call('GET', '/v2/');
    res.body.resume();
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(
        'unauthorized',
        `${res.status} ${res.status === 401 ? 'Unauthorized' : 'Forbidden'}`,
        res.status,
      );
    }
  }

  private scope(): string {
    return `repository:${this.path}:${this.actions}`;
  }

  private async authorize(
    ch: { scheme: string; params: Record<string, string> } | undefined,
    scope = this.scope(),
  ): Promise<void> {
    if (!ch) return;
    const cred = credentials(this.auth);
    if (ch.scheme === 'basic') {
      if (!cred) throw new RegistryError('unauthorized', 'no basic auth credentials', 401);
      this.authHeader = 'Basic ' + Buffer.from(`${cred.username}:${cred.password}`).toString('base64');
      return;
    }
    if (ch.scheme !== 'bearer') throw new RegistryError('unauthorized', `unsupported auth scheme ${ch.scheme}`, 401);
    if (this.auth?.registrytoken) {
      this.authHeader = `Bearer ${this.auth.registrytoken}`;
      return;
    }
    const realm = ch.params.realm;
    if (!realm) throw new RegistryError('unauthorized', 'bearer challenge without realm', 401);
    const key = `${realm}|${ch.params.service ?? ''}|${scope}`;
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) {
      this.authHeader = `Bearer ${cached.token}`;
      return;
    }
    const u = new URL(realm);
    if (ch.params.service) u.searchParams.set('service', ch.params.service);
    for (const s of scope.split(' ')) u.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    let res: Response;
    if (this.auth?.identitytoken) {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: this.auth.identitytoken,
        service: ch.params.service ?? '',
        scope,
        client_id: 'gantry',
      });
      res = await request(new URL(realm), {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        insecureTls: this.endpoint.insecureTls,
      });
    } else {
      if (cred) headers.Authorization = 'Basic ' + Buffer.from(`${cred.username}:${cred.password}`).toString('base64');
      res = await request(u, { headers, insecureTls: this.endpoint.insecureTls });
    }
    const body = await readBody(res);
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(
        'unauthorized',
        `unauthorized: ${describeErrors(body).text || 'incorrect username or password'}`,
        res.status,
      );
    }
    if (res.status >= 400) throw new RegistryError('unavailable', `token endpoint answered ${res.status}`, res.status);
    const parsed = JSON.parse(body.toString('utf8')) as { token?: string; access_token?: string; expires_in?: number };
    const token = parsed.token ?? parsed.access_token;
    if (!token) throw new RegistryError('unauthorized', 'token endpoint returned no token', 401);
    const ttl = Math.max(60, parsed.expires_in ?? 60) * 1000;
    this.tokens.set(key, { token, expires: Date.now() + ttl - 10000 });
    this.authHeader = `Bearer ${token}`;
  }

  /** One request with auth; a 401 triggers one re-authorization and retry. */
  async call(
    method: string,
    p: string | URL,
    opts: { headers?: Record<string, string>; body?: Buffer | string | (() => Readable); scope?: string } = {},
  ): Promise<Response> {
    const target = typeof p === 'string' ? this.url(p) : p;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...opts.headers };
      if (this.authHeader && target.host === this.endpoint.base.host) headers.Authorization = this.authHeader;
      const res = await request(target, {
        method,
        headers,
        body: opts.body,
        insecureTls: this.endpoint.insecureTls,
        timeoutMs: 120000,
      });
      if (res.status === 401 && attempt === 0) {
        res.body.resume();
        const ch = parseChallenges(res.headers['www-authenticate'])[0];
        if (!ch) return res;
        this.challenge = ch;
        await this.authorize(ch, opts.scope ?? ch.params.scope ?? this.scope());
        continue;
      }
      return res;
    }
  }

  private async fail(res: Response, what: string): Promise<never> {
    const body = await readBody(res).catch(() => Buffer.alloc(0));
    const { code, text } = describeErrors(body);
    const kind =
      res.status === 404
        ? 'notFound'
        : res.status === 401
          ? 'unauthorized'
          : res.status === 403
            ? 'forbidden'
            : res.status >= 500
              ? 'unavailable'
              : 'invalid';
    throw new RegistryError(kind, `${what}: ${text || `status ${res.status}`}`, res.status, code);
  }

  async getManifest(reference: string): Promise<ManifestResult> {
    return withRetry(async () => {
      const res = await this.call('GET', `/v2/${this.path}/manifests/${reference}`, {
        headers: { Accept: MANIFEST_ACCEPT.join(', ') },
      });
      if (res.status !== 200) return this.fail(res, `manifest ${reference}`);
      const bytes = await readBody(res, 4 << 20);
      const digest = sha256(bytes);
      const ct = String(res.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim();
      let mediaType = ct;
      try {
        const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
        if (parsed.mediaType) mediaType = parsed.mediaType;
        else if (!MANIFEST_ACCEPT.includes(ct as never))
          mediaType = parsed.manifests ? MANIFEST_ACCEPT[2]! : MANIFEST_ACCEPT[0]!;
      } catch {
        throw new RegistryError('invalid', `manifest ${reference}: not valid JSON`);
      }
      if (reference.startsWith('sha256:') && digest !== reference) {
        throw new RegistryError('invalid', `manifest verification failed for digest ${reference}: got ${digest}`);
      }
      const headerDigest = res.headers['docker-content-digest'];
      if (typeof headerDigest === 'string' && headerDigest.startsWith('sha256:') && headerDigest !== digest) {
        throw new RegistryError('invalid', `manifest verification failed for digest ${headerDigest}: got ${digest}`);
      }
      return { bytes, mediaType, digest };
    });
  }

  /** Open a blob for reading. The caller verifies the digest as it streams. */
  async getBlob(digest: string): Promise<{ stream: Readable; size: number }> {
    const res = await this.call('GET', `/v2/${this.path}/blobs/${digest}`);
    if (res.status !== 200) return this.fail(res, `blob ${digest}`);
    return { stream: res.body, size: Number(res.headers['content-length'] ?? -1) };
  }

  /**
   * Open a blob to be read into memory the caller gives (rawbody.ts), or undefined when the registry's
   * answer is not a plain 200 with a length (an error, a new token needed, a transfer coding): the
   * caller then asks with getBlob, which handles all of those.
   */
  async getBlobBody(digest: string): Promise<RawBody | undefined> {
    const headers: Record<string, string> = {};
    if (this.authHeader) headers.Authorization = this.authHeader;
    const answer = await rawGet(this.url(`/v2/${this.path}/blobs/${digest}`), {
      headers,
      insecureTls: this.endpoint.insecureTls,
      timeoutMs: 120000,
    });
    return answer.body;
  }

  async hasBlob(digest: string): Promise<boolean> {
    const res = await withRetry(() => this.call('HEAD', `/v2/${this.path}/blobs/${digest}`));
    res.body.resume();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    return this.fail(res, `blob ${digest}`);
  }

  /** Try a cross-repository mount; true when the registry mounted it. */
  async mountBlob(digest: string, fromPath: string): Promise<boolean> {
    const q = new URLSearchParams({ mount: digest, from: fromPath });
    const res = await this.call('POST', `/v2/${this.path}/blobs/uploads/?${q}`, {
      headers: { 'Content-Length': '0' },
      scope: `${this.scope()} repository:${fromPath}:pull`,
    });
    res.body.resume();
    if (res.status === 201) return true;
    if (res.status === 202) {
      // The registry started a normal upload instead; cancel it.
      const loc = res.headers.location;
      if (loc) (await this.call('DELETE', new URL(loc, this.endpoint.base))).body.resume();
      return false;
    }
    return false;
  }

  /**
   * Upload a blob: POST to start, then the content in one PATCH (or in chunks of `chunkSize`), then
   * PUT with the digest. `open(start)` returns the content from byte `start`.
   */
  async uploadBlob(
    digest: string,
    size: number,
    open: (start: number, end?: number) => Promise<Readable>,
    onProgress?: (n: number) => void,
  ): Promise<void> {
    const start = await this.call('POST', `/v2/${this.path}/blobs/uploads/`, { headers: { 'Content-Length': '0' } });
    start.body.resume();
    if (start.status !== 202) return this.fail(start, `starting upload of ${digest}`);
    let location = new URL(String(start.headers.location), this.endpoint.base);
    const chunk = this.client.opts.chunkSize ?? 0;
    const ranges: Array<[number, number]> = [];
    if (chunk > 0 && size > chunk)
      for (let off = 0; off < size; off += chunk) ranges.push([off, Math.min(off + chunk, size) - 1]);
    else ranges.push([0, size - 1]);
    for (const [from, to] of ranges) {
      if (size === 0) break;
      const stream = await open(from, to);
      let sent = 0;
      stream.on('data', (c: Buffer) => {
        sent += c.length;
        onProgress?.(from + sent);
      });
      const headers: Record<string, string> = {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(to - from + 1),
      };
      if (ranges.length > 1) headers['Content-Range'] = `${from}-${to}`;
      const res = await this.call('PATCH', location, { headers, body: () => stream });
      res.body.resume();
      if (res.status !== 202 && res.status !== 204) return this.fail(res, `uploading ${digest}`);
      if (res.headers.location) location = new URL(String(res.headers.location), this.endpoint.base);
    }
    location.searchParams.set('digest', digest);
    const done = await this.call('PUT', location, {
      headers: { 'Content-Length': '0', 'Content-Type': 'application/octet-stream' },
      body: Buffer.alloc(0),
    });
    done.body.resume();
    if (done.status !== 201 && done.status !== 204) return this.fail(done, `completing upload of ${digest}`);
  }

  async putManifest(reference: string, mediaType: string, bytes: Buffer): Promise<string> {
    const res = await withRetry(() =>
      this.call('PUT', `/v2/${this.path}/manifests/${reference}`, {
        headers: { 'Content-Type': mediaType },
        body: bytes,
      }),
    );
    res.body.resume();
    if (res.status !== 201 && res.status !== 200) return this.fail(res, `manifest ${reference}`);
    const d = res.headers['docker-content-digest'];
    return typeof d === 'string' ? d : sha256(bytes);
  }

  async listTags(): Promise<string[]> {
    const res = await this.call('GET', `/v2/${this.path}/tags/list`);
    if (res.status !== 200) return this.fail(res, 'tags');
    return (JSON.parse((await readBody(res)).toString('utf8')) as { tags?: string[] }).tags ?? [];
  }
}
