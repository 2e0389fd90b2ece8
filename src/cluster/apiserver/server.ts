/**
 * The Kubernetes API server: discovery, and for every built-in resource get, list (label and field
 * selectors, paging), watch (from a resourceVersion, bookmarks, 410 Gone), create, update, patch (three
 * formats), delete and delete-collection over the storage interface. The resourceVersion of an object
 * is the storage revision of its last write. Tables for `kubectl get` come from `tables`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../common/log.js';
import { StorageError, type KeyValue, type Storage } from '../storage/types.js';
import { alreadyExists, ApiError, applyDefaults, badRequest, conflict, hasGeneration, notFound, validateLabels, validateName, type KObject } from './objects.js';
import { jsonPatch, mergePatch, PatchError, strategicMergePatch } from './patch.js';
import { findResource, groups, RESOURCES, storageKey, verbsOf, type ResourceType } from './resources.js';
import { decodeProtobuf, isProtobuf, ProtobufError } from './protobuf/decode.js';
import { parseFieldSelector, parseLabelSelector, type Selector } from './selectors.js';
import { ServiceAllocator } from './services.js';
import { tableFor } from './tables.js';
import type { ClusterTls } from './tls.js';

export interface ApiServerOptions {
  storage: Storage;
  tls: ClusterTls;
  /** Bearer tokens that act as cluster admin. */
  adminTokens: string[];
  serviceCidr: string;
  nodePortRange: [number, number];
  logger: Logger;
}

const MAX_BODY = 3 << 20;
const MAX_DRAIN = 64 << 20;
const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version']);
/** Kinds discovery gives subresources; any other (status) has its resource's kind. */
const SUBRESOURCE_KINDS: Record<string, string> = { scale: 'Scale', eviction: 'Eviction', binding: 'Binding', log: 'Pod', exec: 'PodExecOptions', attach: 'PodExecOptions', portforward: 'PodExecOptions' };

interface Target {
  res: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** The request body; one over the limit is read to its end (up to a point) so the client gets the 413. */
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_DRAIN) {
      req.destroy();
      break;
    }
    if (size <= MAX_BODY) chunks.push(c as Buffer);
  }
  if (size > MAX_BODY) throw new ApiError(413, 'RequestEntityTooLarge', `the request body is larger than the limit of ${MAX_BODY} bytes`);
  return Buffer.concat(chunks);
}

function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** An object in a request body: JSON, or protobuf as kubectl's typed commands send it; CBOR is refused. */
function parseObject(buf: Buffer, contentType: string): KObject {
  if (isProtobuf(contentType)) {
    try {
      return decodeProtobuf(buf) as KObject;
    } catch (err) {
      if (err instanceof ProtobufError) throw badRequest(err.message);
      throw err;
    }
  }
  if (/cbor/.test(contentType)) throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`);
  return parseJson(buf) as KObject;
}

const apiVersionOf = (r: ResourceType): string => (r.group ? `${r.group}/${r.version}` : r.version);

export class ApiServer {
  readonly server: https.Server;
  private readonly services: ServiceAllocator;

  constructor(private readonly o: ApiServerOptions) {
    this.services = new ServiceAllocator(o.storage, o.serviceCidr, o.nodePortRange);
    this.server = https.createServer({ key: o.tls.serverKey, cert: o.tls.serverCert, ca: o.tls.ca, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, err));
    });
  }

  /** Built-in objects every cluster has: the four namespaces and the `kubernetes` Service. */
  async bootstrap(advertise: { address: string; port: number }): Promise<void> {
    const ns = RESOURCES.find((r) => r.plural === 'namespaces')!;
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      if (!(await this.o.storage.get(storageKey(ns, undefined, name)))) await this.create({ res: ns }, { metadata: { name } });
    }
    const svc = RESOURCES.find((r) => r.plural === 'services')!;
    if (!(await this.o.storage.get(storageKey(svc, 'default', 'kubernetes')))) {
      await this.create({ res: svc, namespace: 'default' }, { metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } }, spec: { type: 'ClusterIP', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: advertise.port }] } });
    }
    const ep = RESOURCES.find((r) => r.plural === 'endpoints')!;
    if (!(await this.o.storage.get(storageKey(ep, 'default', 'kubernetes')))) {
      await this.create({ res: ep, namespace: 'default' }, { metadata: { name: 'kubernetes' }, subsets: [{ addresses: [{ ip: advertise.address }], ports: [{ name: 'https', port: advertise.port, protocol: 'TCP' }] }] });
    }
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof ApiError) return send(res, err.code, err.status());
    if (err instanceof PatchError) return send(res, 422, new ApiError(422, 'Invalid', err.message).status());
    if (err instanceof StorageError && err.code === 'compacted') return send(res, 410, new ApiError(410, 'Expired', `too old resource version: ${err.message}`).status());
    this.o.logger.error({ err: (err as Error).stack ?? String(err) }, 'request failed');
    send(res, 500, new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`).status());
  }

  private authenticated(req: IncomingMessage): boolean {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && this.o.adminTokens.includes(auth.slice(7).trim())) return true;
    const sock = req.socket as TLSSocket;
    if (sock.authorized) {
      const subject = sock.getPeerCertificate()?.subject as { O?: string | string[] } | undefined;
      const orgs = ([] as string[]).concat(subject?.O ?? []);
      return orgs.includes('system:masters');
    }
    return false;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const p = url.pathname.replace(/\/+$/, '') || '/';
    if (!PUBLIC_PATHS.has(p) && !this.authenticated(req)) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    if (p === '/healthz' || p === '/livez' || p === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (p === '/version') return send(res, 200, { major: '1', minor: '33', gitVersion: 'v1.33.0-gantry', gitCommit: '', gitTreeState: 'clean', buildDate: '2026-11-25T00:00:00Z', goVersion: 'go1.24', compiler: 'gc', platform: 'linux/amd64' });
    if (p === '/api') return send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host ?? '' }] });
    if (p === '/apis') {
      return send(res, 200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groups().map((g) => ({ name: g.name, versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })), preferredVersion: { groupVersion: `${g.name}/${g.versions[0]}`, version: g.versions[0] } })),
      });
    }
    // kubectl reads an empty OpenAPI v2 document as "no schemas" and skips client-side validation.
    if (p === '/openapi/v2') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end();
      return;
    }
    const parts = p.split('/').filter(Boolean);
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1]) [group, version, rest] = ['', parts[1], parts.slice(2)];
    else if (parts[0] === 'apis' && parts[1] && parts[2]) [group, version, rest] = [parts[1], parts[2], parts.slice(3)];
    else throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (!rest.length) return this.discovery(res, group, version);
    const target = this.target(group, version, rest);
    return this.dispatch(req, res, url, target);
  }

  private discovery(res: ServerResponse, group: string, version: string): void {
    const list = RESOURCES.filter((r) => r.group === group && r.version === version);
    if (!list.length) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const resources: Array<Record<string, unknown>> = [];
    for (const r of list) {
      resources.push({ name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: verbsOf(r), ...(r.shortNames ? { shortNames: r.shortNames } : {}), ...(r.categories ? { categories: r.categories } : {}), storageVersionHash: '' });
      for (const sub of r.subresources ?? []) {
        const kind = SUBRESOURCE_KINDS[sub] ?? r.kind;
        resources.push({ name: `${r.plural}/${sub}`, singularName: '', namespaced: r.namespaced, kind, verbs: sub === 'status' || sub === 'scale' ? ['get', 'patch', 'update'] : sub === 'log' ? ['get'] : ['create', 'get'] });
      }
    }
    send(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources });
  }

  private target(group: string, version: string, rest: string[]): Target {
    let namespace: string | undefined;
    let segs = rest;
    if (segs[0] === 'namespaces' && segs.length >= 3) {
      namespace = segs[1];
      segs = segs.slice(2);
    }
    const res = findResource(group, version, segs[0]!);
    if (!res) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (namespace !== undefined && !res.namespaced) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const name = segs[1];
    const subresource = segs[2];
    if (segs.length > 3 || (subresource && !(res.subresources ?? []).includes(subresource))) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    // Namespace objects are named by the `namespaces/<name>` path.
    if (res.plural === 'namespaces' && rest[0] === 'namespaces' && rest.length >= 2) return { res, name: rest[1], subresource: rest[2] };
    return { res, namespace, name, subresource };
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, url: URL, t: Target): Promise<void> {
    const q = url.searchParams;
    const dryRun = q.getAll('dryRun').includes('All');
    const method = req.method ?? 'GET';
    if (t.subresource && !['status', 'scale'].includes(t.subresource)) throw new ApiError(405, 'MethodNotAllowed', `the ${t.subresource} subresource is served by the node agent, which is not part of this server yet`);
    if (method === 'GET' && t.name) {
      const obj = await this.read(t);
      if (t.subresource === 'scale') return send(res, 200, scaleOf(obj));
      return this.respond(req, res, 200, obj, t.res);
    }
    if (method === 'GET') {
      if (q.get('watch') === 'true' || q.get('watch') === '1') return this.watch(req, res, q, t);
      return this.list(req, res, q, t);
    }
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (method === 'POST' && !t.name) {
      const body = parseObject(await readBody(req), contentType);
      return this.respond(req, res, 201, await this.create(t, body, dryRun), t.res);
    }
    if ((method === 'PUT' || method === 'PATCH') && t.name) {
      const raw = await readBody(req);
      const obj = method === 'PUT' ? parseObject(raw, contentType) : undefined;
      const updated = await this.update(t, dryRun, (cur) => {
        if (obj) return t.subresource === 'scale' ? withScale(cur, obj) : obj;
        const patch = parseJson(raw);
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
        const base = t.subresource === 'scale' ? scaleOf(cur) : cur;
        let patched: unknown;
        if (type === 'application/json-patch+json') patched = jsonPatch(base as never, patch);
        else if (type === 'application/merge-patch+json') patched = mergePatch(base as never, patch as never);
        else if (type === 'application/strategic-merge-patch+json' || type === 'application/apply-patch+yaml') patched = strategicMergePatch(base as never, patch as never);
        else throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
        return t.subresource === 'scale' ? withScale(cur, patched as KObject) : (patched as KObject);
      }, method === 'PUT');
      return this.respond(req, res, 200, t.subresource === 'scale' ? scaleOf(updated) : updated, t.res);
    }
    if (method === 'DELETE' && t.name) return this.respond(req, res, 200, await this.remove(t, dryRun), t.res);
    if (method === 'DELETE') {
      const { items } = await this.listObjects(q, t);
      for (const item of items) await this.remove({ ...t, namespace: item.metadata?.namespace, name: item.metadata!.name }, dryRun);
      return send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
    }
    throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
  }

  /** JSON, or a Table when the client asks for one (kubectl get). */
  private respond(req: IncomingMessage, res: ServerResponse, code: number, obj: KObject | { items: KObject[] } & Record<string, unknown>, r: ResourceType): void {
    if (wantsTable(req)) return send(res, code, tableFor(r, 'items' in obj ? (obj.items as KObject[]) : [obj as KObject], String((obj as KObject).metadata?.resourceVersion ?? '')));
    send(res, code, obj);
  }

  private decode(kv: KeyValue): KObject {
    const obj = JSON.parse(kv.value.toString('utf8')) as KObject;
    obj.metadata = { ...obj.metadata, resourceVersion: String(kv.modRevision) };
    return obj;
  }

  private async read(t: Target): Promise<KObject> {
    const kv = await this.o.storage.get(storageKey(t.res, t.namespace, t.name));
    if (!kv) throw notFound(t.res, t.name!);
    return this.decode(kv);
  }

  async create(t: Target, body: KObject, dryRun = false): Promise<KObject> {
    const r = t.res;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
    if (body.kind !== undefined && body.kind !== r.kind) throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersionOf(r)})`);
    const meta = { ...(body.metadata ?? {}) };
    if (!meta.name && meta.generateName) meta.name = meta.generateName + randomBytes(4).toString('hex').slice(0, 5);
    if (!meta.name) throw new ApiError(422, 'Invalid', `${r.kind} "" is invalid: metadata.name: Required value: name or generateName is required`, { kind: r.kind, causes: [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }] });
    validateName(r, meta.name);
    validateLabels(r, meta.name, meta.labels);
    if (r.namespaced) {
      if (meta.namespace && t.namespace && meta.namespace !== t.namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      meta.namespace = t.namespace ?? meta.namespace ?? 'default';
      const ns = RESOURCES.find((x) => x.plural === 'namespaces')!;
      const nsKv = await this.o.storage.get(storageKey(ns, undefined, meta.namespace));
      if (!nsKv) throw notFound(ns, meta.namespace);
      if (this.decode(nsKv).status?.phase === 'Terminating') throw new ApiError(403, 'Forbidden', `${r.plural} "${meta.name}" is forbidden: unable to create new content in namespace ${meta.namespace} because it is being terminated`);
    } else delete meta.namespace;
    const obj: KObject = { ...body, apiVersion: apiVersionOf(r), kind: r.kind, metadata: { ...meta, uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } };
    delete obj.metadata!.resourceVersion;
    if (hasGeneration(r)) obj.metadata!.generation = 1;
    // As in Kubernetes, status is the controllers' to write: a created object starts from the initial one.
    if ((r.subresources ?? []).includes('status')) delete obj.status;
    applyDefaults(r, obj);
    if (r.kind === 'Service') await this.services.allocate(obj, undefined);
    if (dryRun) return obj;
    try {
      const kv = await this.o.storage.create(storageKey(r, meta.namespace, meta.name), Buffer.from(JSON.stringify(obj)));
      return this.decode({ ...kv, value: Buffer.from(JSON.stringify(obj)) });
    } catch (err) {
      if (err instanceof StorageError && err.code === 'exists') throw alreadyExists(r, meta.name);
      throw err;
    }
  }

  /** Read, change, write with the read revision; a PUT carrying a stale resourceVersion conflicts. */
  private async update(t: Target, dryRun: boolean, change: (cur: KObject) => KObject, isPut: boolean): Promise<KObject> {
    const r = t.res;
    const key = storageKey(r, t.namespace, t.name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.o.storage.get(key);
      if (!kv) throw notFound(r, t.name!);
      const cur = this.decode(kv);
      const next = change(structuredClone(cur));
      if (typeof next !== 'object' || next === null) throw badRequest('the request body must be a JSON object');
      const asked = next.metadata?.resourceVersion;
      if (isPut && asked && asked !== String(kv.modRevision)) throw conflict(r, t.name!);
      if (next.metadata?.name !== undefined && next.metadata.name !== t.name) throw badRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${t.name})`);
      const merged: KObject = {
        ...next,
        apiVersion: apiVersionOf(r),
        kind: r.kind,
        metadata: { ...next.metadata, name: t.name, namespace: cur.metadata?.namespace, uid: cur.metadata?.uid, creationTimestamp: cur.metadata?.creationTimestamp, generation: cur.metadata?.generation },
      };
      if (!r.namespaced) delete merged.metadata!.namespace;
      delete merged.metadata!.resourceVersion;
      validateLabels(r, t.name!, merged.metadata?.labels);
      // The status subresource changes only status; the main resource never changes status.
      if (t.subresource === 'status') merged.spec = cur.spec;
      else if ((r.subresources ?? []).includes('status')) merged.status = cur.status;
      applyDefaults(r, merged);
      if (hasGeneration(r) && JSON.stringify(merged.spec) !== JSON.stringify(cur.spec)) merged.metadata!.generation = (cur.metadata?.generation ?? 0) + 1;
      if (r.kind === 'Service') await this.services.allocate(merged, cur);
      if (dryRun) return { ...merged, metadata: { ...merged.metadata, resourceVersion: String(kv.modRevision) } };
      if (merged.metadata?.deletionTimestamp && !merged.metadata.finalizers?.length) {
        await this.o.storage.delete(key, kv.modRevision);
        return merged;
      }
      try {
        const written = await this.o.storage.update(key, Buffer.from(JSON.stringify(merged)), kv.modRevision);
        return { ...merged, metadata: { ...merged.metadata, resourceVersion: String(written.modRevision) } };
      } catch (err) {
        // A PATCH retries on a concurrent write, as Kubernetes does; a PUT with a resourceVersion does not.
        if (err instanceof StorageError && err.code === 'conflict' && (!isPut || !asked) && attempt < 5) continue;
        if (err instanceof StorageError && err.code === 'conflict') throw conflict(r, t.name!);
        throw err;
      }
    }
  }

  private async remove(t: Target, dryRun: boolean): Promise<KObject> {
    const r = t.res;
    const key = storageKey(r, t.namespace, t.name);
    const kv = await this.o.storage.get(key);
    if (!kv) throw notFound(r, t.name!);
    const obj = this.decode(kv);
    if (dryRun) return obj;
    // Finalizers hold the object with a deletionTimestamp until they are cleared.
    if (obj.metadata?.finalizers?.length) {
      if (!obj.metadata.deletionTimestamp) {
        obj.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
        const w = await this.o.storage.update(key, Buffer.from(JSON.stringify({ ...obj, metadata: { ...obj.metadata, resourceVersion: undefined } })), kv.modRevision);
        obj.metadata.resourceVersion = String(w.modRevision);
      }
      return obj;
    }
    if (r.plural === 'namespaces') {
      for (const res of RESOURCES.filter((x) => x.namespaced)) {
        for (const item of (await this.o.storage.list(storageKey(res, t.name))).kvs) await this.o.storage.delete(item.key).catch(() => undefined);
      }
    }
    await this.o.storage.delete(key, kv.modRevision).catch((err: unknown) => {
      if (err instanceof StorageError && err.code === 'conflict') throw conflict(r, t.name!);
      if (err instanceof StorageError && err.code === 'notFound') throw notFound(r, t.name!);
      throw err;
    });
    return obj;
  }

  private selectors(q: URLSearchParams): { labels: Selector; fields: Selector } {
    try {
      return { labels: parseLabelSelector(q.get('labelSelector') ?? ''), fields: parseFieldSelector(q.get('fieldSelector') ?? '') };
    } catch (err) {
      throw badRequest((err as Error).message);
    }
  }

  private async listObjects(q: URLSearchParams, t: Target): Promise<{ items: KObject[]; revision: number; continueToken?: string }> {
    const { labels, fields } = this.selectors(q);
    const limit = Number(q.get('limit') ?? 0) || 0;
    let startKey: string | undefined;
    let revision: number | undefined = q.get('resourceVersion') && q.get('resourceVersionMatch') === 'Exact' ? Number(q.get('resourceVersion')) : undefined;
    const cont = q.get('continue');
    if (cont) {
      try {
        const parsed = JSON.parse(Buffer.from(cont, 'base64url').toString()) as { k: string; r: number };
        startKey = parsed.k;
        revision = parsed.r;
      } catch {
        throw badRequest('continue key is not valid');
      }
    }
    const prefix = storageKey(t.res, t.namespace);
    const items: KObject[] = [];
    let rev = 0;
    let next: string | undefined = startKey;
    // Selectors filter after reading, so pages are filled by reading on until the limit is met.
    for (;;) {
      const page = await this.o.storage.list(prefix, { revision, limit: limit ? limit - items.length : 0, startKey: next });
      rev = page.revision;
      revision = page.revision;
      for (const kv of page.kvs) {
        const obj = this.decode(kv);
        if (labels(obj.metadata?.labels ?? {}) && fields(fieldSet(obj))) items.push(obj);
      }
      next = page.kvs.length ? page.kvs.at(-1)!.key + '\0' : next;
      if (!page.more) return { items, revision: rev };
      if (limit && items.length >= limit) return { items, revision: rev, continueToken: Buffer.from(JSON.stringify({ k: next, r: rev })).toString('base64url') };
    }
  }

  private async list(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, t: Target): Promise<void> {
    const { items, revision, continueToken } = await this.listObjects(q, t);
    const list = { kind: `${t.res.kind}List`, apiVersion: apiVersionOf(t.res), metadata: { resourceVersion: String(revision), ...(continueToken ? { continue: continueToken } : {}) }, items };
    if (wantsTable(req)) return send(res, 200, { ...tableFor(t.res, items, String(revision)), metadata: list.metadata });
    send(res, 200, list);
  }

  /** A watch: newline-terminated JSON events from a revision on (with the current objects first when none is given). */
  private async watch(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, t: Target): Promise<void> {
    const { labels, fields } = this.selectors(q);
    const rvParam = q.get('resourceVersion');
    const table = wantsTable(req);
    const match = (o: KObject): boolean => labels(o.metadata?.labels ?? {}) && fields(fieldSet(o));
    let from: number;
    const initial: KObject[] = [];
    if (!rvParam || rvParam === '0') {
      const { items, revision } = await this.listObjects(new URLSearchParams({ labelSelector: q.get('labelSelector') ?? '', fieldSelector: q.get('fieldSelector') ?? '' }), t);
      initial.push(...items);
      from = revision;
    } else {
      from = Number(rvParam);
      if (!Number.isInteger(from) || from < 0) throw badRequest(`invalid resourceVersion: ${rvParam}`);
      const current = await this.o.storage.revision();
      if (from > current) from = current;
    }
    const prefix = storageKey(t.res, t.namespace);
    const nameFilter = t.name;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache' });
    // Headers go out now: a client waits for them before it reads events, and there may be none for a while.
    res.flushHeaders();
    const write = (type: string, obj: unknown): void => {
      if (!res.writableEnded) res.write(JSON.stringify({ type, object: obj }) + '\n');
    };
    const emit = (type: string, obj: KObject): void => write(type, table ? tableFor(t.res, [obj], String(obj.metadata?.resourceVersion ?? '')) : obj);
    for (const o of initial) if (!nameFilter || o.metadata?.name === nameFilter) emit('ADDED', o);
    const w = this.o.storage.watch(
      prefix,
      from,
      (e) => {
        const obj = this.decode(e.kv);
        if (nameFilter && obj.metadata?.name !== nameFilter) return;
        const was = e.prev ? match(this.decode(e.prev)) : false;
        const is = match(obj);
        if (e.type === 'delete') {
          if (is) emit('DELETED', { ...obj, metadata: { ...obj.metadata, resourceVersion: String(e.kv.modRevision) } });
        } else if (is) emit(was || (e.prev && e.kv.createRevision !== e.kv.modRevision) ? 'MODIFIED' : 'ADDED', obj);
        else if (was) emit('DELETED', obj);
      },
      (err) => {
        write('ERROR', new ApiError(410, 'Expired', `too old resource version: ${from} (${err.message})`).status());
        res.end();
      },
    );
    const timeout = Number(q.get('timeoutSeconds') ?? 0) || 1800;
    const timer = setTimeout(() => res.end(), timeout * 1000);
    const bookmarks = q.get('allowWatchBookmarks') === 'true'
      ? setInterval(() => {
          void this.o.storage.revision().then((rev) => write('BOOKMARK', { kind: t.res.kind, apiVersion: apiVersionOf(t.res), metadata: { resourceVersion: String(rev) } }));
        }, 30000)
      : undefined;
    const stop = (): void => {
      w.cancel();
      clearTimeout(timer);
      if (bookmarks) clearInterval(bookmarks);
    };
    res.on('close', stop);
    res.on('finish', stop);
  }
}

function wantsTable(req: IncomingMessage): boolean {
  return /as=Table/.test(req.headers.accept ?? '');
}

/** The fields field selectors can use. */
function fieldSet(o: KObject): Record<string, string> {
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  const status = (o.status ?? {}) as Record<string, unknown>;
  const involved = (o.involvedObject ?? {}) as Record<string, unknown>;
  const out: Record<string, string> = { 'metadata.name': o.metadata?.name ?? '', 'metadata.namespace': o.metadata?.namespace ?? '' };
  if (typeof spec.nodeName === 'string') out['spec.nodeName'] = spec.nodeName;
  if (typeof status.phase === 'string') out['status.phase'] = status.phase;
  for (const [k, v] of Object.entries(involved)) if (typeof v === 'string') out[`involvedObject.${k}`] = v;
  if (typeof o.type === 'string') out.type = o.type;
  if (typeof o.reason === 'string') out.reason = o.reason;
  return out;
}

function scaleOf(o: KObject): KObject {
  const spec = (o.spec ?? {}) as { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
  const selector = Object.entries(spec.selector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace, uid: o.metadata?.uid, resourceVersion: o.metadata?.resourceVersion, creationTimestamp: o.metadata?.creationTimestamp },
    spec: { replicas: spec.replicas ?? 0 },
    status: { replicas: Number((o.status as { replicas?: number } | undefined)?.replicas ?? 0), selector },
  };
}

function withScale(cur: KObject, scale: KObject): KObject {
  const replicas = (scale.spec as { replicas?: number } | undefined)?.replicas;
  if (typeof replicas !== 'number' || replicas < 0) throw new ApiError(422, 'Invalid', `Scale "${cur.metadata?.name}" is invalid: spec.replicas: Invalid value: ${replicas}: must be greater than or equal to 0`);
  return { ...cur, metadata: { ...cur.metadata, resourceVersion: scale.metadata?.resourceVersion ?? cur.metadata?.resourceVersion }, spec: { ...cur.spec, replicas } };
}
