/**
 * `gantry registry serve`: an OCI distribution registry (pull, push, chunked uploads, cross-repository
 * mounts, tag lists and catalog with pagination, deletes, Range reads) over the same content store
 * code the engine uses. Optional htpasswd (bcrypt) basic auth.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Htpasswd } from './htpasswd.js';
import { isDigest, sha256 } from '../common/digest.js';
import { errorMessage } from '../common/errors.js';
import { readAll } from '../common/streams.js';
import type { Logger } from '../common/log.js';
import { isIndexType, MediaType, type ImageIndex, type ImageManifest } from '../images/oci.js';
import { isValidRepositoryPath, isValidTag } from '../images/reference.js';
import { RegistryStorage } from './storage.js';
import { searchRepositories } from './search.js';

export interface RegistryServerOptions {
  dataRoot: string;
  /** htpasswd file with bcrypt entries; when set, every request needs basic auth. */
  htpasswd?: string;
  logger?: Logger;
}

type Code =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'TAG_INVALID'
  | 'UNAUTHORIZED'
  | 'UNSUPPORTED'
  | 'RANGE_INVALID';

const MESSAGES: Record<Code, string> = {
  BLOB_UNKNOWN: 'blob unknown to registry',
  BLOB_UPLOAD_INVALID: 'blob upload invalid',
  BLOB_UPLOAD_UNKNOWN: 'blob upload unknown to registry',
  DIGEST_INVALID: 'provided digest did not match uploaded content',
  MANIFEST_BLOB_UNKNOWN: 'blob unknown to registry',
  MANIFEST_INVALID: 'manifest invalid',
  MANIFEST_UNKNOWN: 'manifest unknown',
  NAME_INVALID: 'invalid repository name',
  NAME_UNKNOWN: 'repository name not known to registry',
  SIZE_INVALID: 'provided length did not match content length',
  TAG_INVALID: 'manifest tag did not match URI',
  UNAUTHORIZED: 'authentication required',
  UNSUPPORTED: 'The operation is unsupported.',
  RANGE_INVALID: 'invalid content range',
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: Code,
    readonly detail?: unknown,
    message?: string,
  ) {
    super(message ?? MESSAGES[code]);
  }
}

const MAX_MANIFEST = 4 << 20;

function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | number> = {},
  body?: string | Buffer,
): void {
  res.writeHead(status, { 'Docker-Distribution-API-Version': 'registry/2.0', ...headers });
  res.end(body);
}

function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string | number> = {},
): void {
  const body = JSON.stringify(value);
  send(
    res,
    status,
    { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers },
    body,
  );
}

function readLimited(req: IncomingMessage, limit: number): Promise<Buffer> {
  return readAll(req, limit, () => new HttpError(413, 'SIZE_INVALID', undefined, 'payload too large'));
}

/** Paginate a sorted list per the spec: `n` entries after `last`, with a Link header when more remain. */
function paginate(items: string[], url: URL): { page: string[]; link?: string } {
  const last = url.searchParams.get('last');
  const nStr = url.searchParams.get('n');
  let start = 0;
  if (last) {
    start = items.findIndex((t) => t > last);
    if (start < 0) start = items.length;
  }
  if (nStr === null) return { page: items.slice(start) };
  const n = Number(nStr);
  if (!Number.isInteger(n) || n < 0) return { page: items.slice(start) };
  const page = items.slice(start, start + n);
  if (start + n < items.length && page.length > 0) {
    const next = new URL(url.pathname, 'http://x');
    next.searchParams.set('n', String(n));
    next.searchParams.set('last', page[page.length - 1]!);
    return { page, link: `<${next.pathname}${next.search}>; rel="next"` };
  }
  return { page };
}

export class RegistryServer {
  private htpasswd: Htpasswd | undefined;
  /** Upload sessions a request is writing to: one writer per session. */
  private readonly writing = new Set<string>();
  readonly server: http.Server;

  private constructor(
    readonly storage: RegistryStorage,
    private readonly opts: RegistryServerOptions,
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, err));
    });
    this.server.keepAliveTimeout = 30000;
  }

  static async create(opts: RegistryServerOptions): Promise<RegistryServer> {
    const s = new RegistryServer(await RegistryStorage.open(opts.dataRoot), opts);
    if (opts.htpasswd) s.htpasswd = await Htpasswd.load(opts.htpasswd);
    return s;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await this.htpasswd?.close();
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof HttpError) {
      const headers: Record<string, string> = {};
      if (err.status === 401) headers['WWW-Authenticate'] = 'Basic realm="gantry-registry"';
      sendJson(
        res,
        err.status,
        { errors: [{ code: err.code, message: err.message, detail: err.detail ?? null }] },
        headers,
      );
      return;
    }
    this.opts.logger?.error({ err: errorMessage(err) }, 'registry request failed');
    sendJson(res, 500, { errors: [{ code: 'UNKNOWN', message: errorMessage(err), detail: null }] });
  }

  /**
   * Run `fn` as the only writer of an upload session: a second request writing the same session at
   * the same time is refused, so a blob's bytes are exactly those its digest was computed over.
   */
  private async asWriter<T>(req: IncomingMessage, uuid: string, fn: () => Promise<T>): Promise<T> {
    if (this.writing.has(uuid)) {
      req.resume();
      throw new HttpError(
        409,
        'BLOB_UPLOAD_INVALID',
        { uuid },
        'blob upload invalid: another request is writing this upload',
      );
    }
    this.writing.add(uuid);
    try {
      return await fn();
    } finally {
      this.writing.delete(uuid);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://registry');
    const method = req.method ?? 'GET';
    this.opts.logger?.debug({ method, path: url.pathname }, 'request');
    const search = url.pathname === '/v1/search' && (method === 'GET' || method === 'HEAD');
    if (!url.pathname.startsWith('/v2') && !search) throw new HttpError(404, 'UNSUPPORTED', undefined, 'not found');
    if (this.htpasswd && !(await this.htpasswd.check(req.headers.authorization))) {
      req.resume();
      throw new HttpError(401, 'UNAUTHORIZED');
    }
    if (search) {
      const number = (name: string, fallback: number): number => {
        const v = Number(url.searchParams.get(name) ?? fallback);
        return Number.isInteger(v) ? v : fallback;
      };
      const q = url.searchParams.get('q') ?? '';
      sendJson(res, 200, searchRepositories(await this.storage.catalog(), q, number('n', 25), number('page', 1)));
      return;
    }
    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      sendJson(res, 200, {});
      return;
    }
    if (url.pathname === '/v2/_catalog' && (method === 'GET' || method === 'HEAD')) {
      const { page, link } = paginate(await this.storage.catalog(), url);
      sendJson(res, 200, { repositories: page }, link ? { Link: link } : {});
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs\/uploads|blobs|tags)\/(.*)$/.exec(url.pathname);
    if (!m) throw new HttpError(404, 'UNSUPPORTED', undefined, 'not found');
    const name = m[1]!;
    const kind = m[2]!;
    const rest = decodeURIComponent(m[3]!);
    if (!isValidRepositoryPath(name)) throw new HttpError(400, 'NAME_INVALID', { name });

    if (kind === 'manifests') {
      if (method === 'GET' || method === 'HEAD') return this.getManifest(res, name, rest, method === 'HEAD');
      if (method === 'PUT') return this.putManifest(req, res, name, rest);
      if (method === 'DELETE') return this.deleteManifest(res, name, rest);
    } else if (kind === 'blobs') {
      if (!isDigest(rest)) throw new HttpError(400, 'DIGEST_INVALID', { digest: rest }, 'invalid digest');
      if (method === 'GET' || method === 'HEAD') return this.getBlob(req, res, name, rest, method === 'HEAD');
      if (method === 'DELETE') {
        if (!(await this.storage.unlinkBlob(name, rest))) throw new HttpError(404, 'BLOB_UNKNOWN', { digest: rest });
        send(res, 202, { 'Content-Length': 0 });
        return;
      }
    } else if (kind === 'blobs/uploads') {
      if (rest === '' && method === 'POST') return this.startUpload(req, res, name, url);
      if (rest !== '') {
        if (method === 'PATCH') return this.asWriter(req, rest, () => this.patchUpload(req, res, name, rest));
        if (method === 'PUT') return this.asWriter(req, rest, () => this.putUpload(req, res, name, rest, url));
        if (method === 'GET') return this.uploadStatus(res, name, rest);
        if (method === 'DELETE') {
          return this.asWriter(req, rest, async () => {
            req.resume();
            const st = await this.storage.getUpload(name, rest);
            if (!st) throw new HttpError(404, 'BLOB_UPLOAD_UNKNOWN');
            await this.storage.cancelUpload(rest);
            send(res, 204);
          });
        }
      }
    } else if (kind === 'tags' && rest === 'list' && (method === 'GET' || method === 'HEAD')) {
      if (!(await this.storage.repositoryExists(name))) throw new HttpError(404, 'NAME_UNKNOWN', { name });
      const { page, link } = paginate(await this.storage.tags(name), url);
      sendJson(res, 200, { name, tags: page }, link ? { Link: link } : {});
      return;
    }
    req.resume();
    throw new HttpError(405, 'UNSUPPORTED');
  }

  private async resolveManifest(name: string, reference: string): Promise<string> {
    if (isDigest(reference)) return reference;
    if (!isValidTag(reference)) throw new HttpError(400, 'TAG_INVALID', { tag: reference }, 'invalid tag');
    const d = await this.storage.resolveTag(name, reference);
    if (!d) throw new HttpError(404, 'MANIFEST_UNKNOWN', { tag: reference });
    return d;
  }

  private async getManifest(res: ServerResponse, name: string, reference: string, head: boolean): Promise<void> {
    const digest = await this.resolveManifest(name, reference);
    const m = await this.storage.getManifest(name, digest);
    if (!m) throw new HttpError(404, 'MANIFEST_UNKNOWN', { digest });
    const headers = {
      'Content-Type': m.mediaType,
      'Content-Length': m.bytes.length,
      'Docker-Content-Digest': digest,
      Etag: `"${digest}"`,
    };
    send(res, 200, headers, head ? undefined : m.bytes);
  }

  private async putManifest(req: IncomingMessage, res: ServerResponse, name: string, reference: string): Promise<void> {
    const bytes = await readLimited(req, MAX_MANIFEST);
    const digest = sha256(bytes);
    if (isDigest(reference) && reference !== digest) throw new HttpError(400, 'DIGEST_INVALID', { digest: reference });
    if (!isDigest(reference) && !isValidTag(reference)) throw new HttpError(400, 'TAG_INVALID', { tag: reference });
    let parsed: Partial<ImageManifest & ImageIndex> & { mediaType?: string };
    try {
      parsed = JSON.parse(bytes.toString('utf8')) as typeof parsed;
    } catch {
      throw new HttpError(400, 'MANIFEST_INVALID', undefined, 'manifest invalid: not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || parsed.schemaVersion !== 2) {
      throw new HttpError(400, 'MANIFEST_INVALID', undefined, 'manifest invalid: schemaVersion must be 2');
    }
    const contentType = String(req.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    const mediaType =
      parsed.mediaType ?? (contentType || (parsed.manifests ? MediaType.OciIndex : MediaType.OciManifest));
    if (parsed.mediaType && contentType && contentType !== parsed.mediaType && contentType !== 'application/json') {
      throw new HttpError(
        400,
        'MANIFEST_INVALID',
        undefined,
        'manifest invalid: Content-Type does not match mediaType',
      );
    }
    if (isIndexType(mediaType) || parsed.manifests) {
      for (const d of parsed.manifests ?? []) {
        if (!(await this.storage.getManifest(name, d.digest)))
          throw new HttpError(400, 'MANIFEST_BLOB_UNKNOWN', { digest: d.digest }, `manifest blob unknown: ${d.digest}`);
      }
    } else {
      if (!parsed.config || !Array.isArray(parsed.layers))
        throw new HttpError(400, 'MANIFEST_INVALID', undefined, 'manifest invalid: config and layers are required');
      for (const d of [parsed.config, ...parsed.layers]) {
        if (!d || typeof d.digest !== 'string' || !isDigest(d.digest))
          throw new HttpError(400, 'MANIFEST_INVALID', undefined, 'manifest invalid: bad descriptor');
        if (d.urls?.length) continue; // foreign layers live elsewhere
        if ((await this.storage.hasBlob(name, d.digest)) === undefined) {
          throw new HttpError(
            400,
            'MANIFEST_BLOB_UNKNOWN',
            { digest: d.digest },
            `blob unknown to registry: ${d.digest}`,
          );
        }
      }
    }
    await this.storage.putManifest(name, digest, mediaType, bytes, isDigest(reference) ? undefined : reference);
    send(res, 201, {
      Location: `/v2/${name}/manifests/${digest}`,
      'Docker-Content-Digest': digest,
      'Content-Length': 0,
    });
  }

  private async deleteManifest(res: ServerResponse, name: string, reference: string): Promise<void> {
    if (!isDigest(reference)) {
      if (!isValidTag(reference)) throw new HttpError(400, 'TAG_INVALID', { tag: reference }, 'invalid tag');
      if (!(await this.storage.deleteTag(name, reference)))
        throw new HttpError(404, 'MANIFEST_UNKNOWN', { tag: reference });
      send(res, 202, { 'Content-Length': 0 });
      return;
    }
    if (!(await this.storage.deleteManifest(name, reference)))
      throw new HttpError(404, 'MANIFEST_UNKNOWN', { digest: reference });
    send(res, 202, { 'Content-Length': 0 });
  }

  private async getBlob(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    digest: string,
    head: boolean,
  ): Promise<void> {
    const size = await this.storage.hasBlob(name, digest);
    if (size === undefined) throw new HttpError(404, 'BLOB_UNKNOWN', { digest });
    const base = {
      'Docker-Content-Digest': digest,
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      Etag: `"${digest}"`,
    };
    const range = req.headers.range;
    let start = 0;
    let end = size - 1;
    let status = 200;
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (!m || (m[1] === '' && m[2] === '')) throw new HttpError(416, 'RANGE_INVALID');
      if (m[1] === '') {
        start = Math.max(0, size - Number(m[2]));
      } else {
        start = Number(m[1]);
        if (m[2] !== '') end = Math.min(Number(m[2]), size - 1);
      }
      if (start > end || start >= size) {
        send(res, 416, { ...base, 'Content-Range': `bytes */${size}` });
        return;
      }
      status = 206;
    }
    const headers: Record<string, string | number> = { ...base, 'Content-Length': end - start + 1 };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    if (head || size === 0) {
      send(res, status, headers);
      return;
    }
    res.writeHead(status, { 'Docker-Distribution-API-Version': 'registry/2.0', ...headers });
    await pipeline(await this.storage.content.reader(digest, { start, end }), res);
  }

  private uploadHeaders(name: string, uuid: string, size: number): Record<string, string | number> {
    return {
      Location: `/v2/${name}/blobs/uploads/${uuid}`,
      Range: `0-${Math.max(0, size - 1)}`,
      'Docker-Upload-UUID': uuid,
      'Content-Length': 0,
    };
  }

  private async startUpload(req: IncomingMessage, res: ServerResponse, name: string, url: URL): Promise<void> {
    const mount = url.searchParams.get('mount');
    const from = url.searchParams.get('from');
    if (mount && from && isDigest(mount) && isValidRepositoryPath(from)) {
      if ((await this.storage.hasBlob(from, mount)) !== undefined) {
        req.resume();
        await this.storage.linkBlob(name, mount);
        send(res, 201, { Location: `/v2/${name}/blobs/${mount}`, 'Docker-Content-Digest': mount, 'Content-Length': 0 });
        return;
      }
    }
    const digest = url.searchParams.get('digest');
    if (digest !== null && !isDigest(digest)) {
      req.resume();
      throw new HttpError(400, 'DIGEST_INVALID', { digest });
    }
    const st = await this.storage.startUpload(name);
    if (digest) {
      // Monolithic upload: the whole blob in the POST body.
      return this.asWriter(req, st.uuid, async () => {
        await this.appendBody(req, st.uuid);
        return this.finish(res, name, st.uuid, digest);
      });
    }
    req.resume();
    send(res, 202, this.uploadHeaders(name, st.uuid, 0));
  }

  private async appendBody(req: IncomingMessage, uuid: string): Promise<void> {
    const storage = this.storage;
    const hashing = new Transform({
      transform(chunk: Buffer, _e, cb) {
        storage.hashAppend(uuid, chunk);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(req, hashing, createWriteStream(this.storage.uploadDataPath(uuid), { flags: 'a' }));
    } catch (err) {
      this.storage.invalidateHash(uuid);
      throw err;
    }
  }

  private async patchUpload(req: IncomingMessage, res: ServerResponse, name: string, uuid: string): Promise<void> {
    const st = await this.storage.getUpload(name, uuid);
    if (!st) {
      req.resume();
      throw new HttpError(404, 'BLOB_UPLOAD_UNKNOWN');
    }
    const cr = req.headers['content-range'];
    if (cr) {
      const m = /^(?:bytes )?(\d+)-(\d+)(?:\/\d+|\/\*)?$/.exec(cr);
      if (!m || Number(m[1]) !== st.size) {
        req.resume();
        send(res, 416, { ...this.uploadHeaders(name, uuid, st.size) });
        return;
      }
    }
    await this.appendBody(req, uuid);
    const size = (await fs.stat(this.storage.uploadDataPath(uuid))).size;
    send(res, 202, this.uploadHeaders(name, uuid, size));
  }

  private async putUpload(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    uuid: string,
    url: URL,
  ): Promise<void> {
    const st = await this.storage.getUpload(name, uuid);
    if (!st) {
      req.resume();
      throw new HttpError(404, 'BLOB_UPLOAD_UNKNOWN');
    }
    const digest = url.searchParams.get('digest');
    if (!digest || !isDigest(digest)) {
      req.resume();
      throw new HttpError(400, 'DIGEST_INVALID', { digest });
    }
    await this.appendBody(req, uuid);
    return this.finish(res, name, uuid, digest);
  }

  private async finish(res: ServerResponse, name: string, uuid: string, digest: string): Promise<void> {
    const actual = await this.storage.uploadDigest(uuid);
    if (actual !== digest) {
      await this.storage.cancelUpload(uuid);
      throw new HttpError(400, 'DIGEST_INVALID', { digest, actual });
    }
    await this.storage.completeUpload(name, uuid, digest);
    send(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': 0 });
  }

  private async uploadStatus(res: ServerResponse, name: string, uuid: string): Promise<void> {
    const st = await this.storage.getUpload(name, uuid);
    if (!st) throw new HttpError(404, 'BLOB_UPLOAD_UNKNOWN');
    send(res, 204, this.uploadHeaders(name, uuid, st.size));
  }
}
