/**
 * The REST verbs on a resource once the request is authenticated, authorized and aimed at a kind: get,
 * list and watch, create, update, the three patch formats and server-side apply, delete and
 * deletecollection, each over the generic store (as Kubernetes' `endpoints/handlers` sit over its
 * registry). Answers are JSON, a Table for `kubectl get`, or PartialObjectMetadata when asked for.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Storage } from '../storage/types.js';
import {
  deleteOptions,
  fieldChecker,
  parseJson,
  parseYaml,
  parseObject,
  readBody,
  send,
  partialMetadata,
  wantsMetadata,
  wantsTable,
} from './http.js';
import { ApiError, badRequest, type KObject } from './objects.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import { strategyFor } from './registry/index.js';
import { listObjects, matcher } from './registry/list.js';
import { scaleOf, withScale } from './registry/scale.js';
import { apiVersionOf, type Store } from './registry/store.js';
import type { RegistryContext, Strategy, Target } from './registry/strategy.js';
import { storageKey, type ResourceType } from './resources.js';
import { tableFor } from './tables.js';
import type { Watches } from './watch.js';

/** One resource request, parsed as far as the mux and filters took it. */
export interface VerbRequest {
  req: IncomingMessage;
  res: ServerResponse;
  t: Target;
  query: URLSearchParams;
  method: string;
  /** The request body's media type without parameters. */
  contentType: string;
  dryRun: boolean;
  watching: boolean;
}

/** Refuses or warns of fields the kind does not have (`fieldValidation`). */
type FieldCheck = (obj: unknown) => void;

const PATCH_TYPES =
  'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json';

export class ResourceHandlers {
  constructor(
    private readonly ctx: () => RegistryContext,
    private readonly storage: Storage,
    private readonly store: Store,
    private readonly watches: Watches,
  ) {}

  /** A kind computed on each read (no storage): get and list only. */
  async computed(r: VerbRequest, computed: NonNullable<Strategy['computed']>): Promise<void> {
    const { req, res, t } = r;
    if (r.method !== 'GET' || t.subresource || r.watching) throw methodNotAllowed();
    if (t.name) return respond(req, res, 200, await computed.get(this.ctx(), t), t.res);
    const match = matcher(t, r.query);
    const items = (await computed.list(this.ctx(), t)).filter(match);
    respond(req, res, 200, { kind: `${t.res.kind}List`, apiVersion: apiVersionOf(t.res), metadata: {}, items }, t.res);
  }

  /** A stored kind, or its `status` or `scale` view. */
  serve(r: VerbRequest): Promise<void> {
    const { method, t } = r;
    if (method === 'GET')
      return t.name ? this.get(r) : r.watching ? this.watches.serve(r.req, r.res, r.query, t) : this.list(r);
    const checkFields = fieldChecker(r.query, t.res, r.res);
    if (method === 'POST' && !t.name) return this.create(r, checkFields);
    if ((method === 'PUT' || method === 'PATCH') && t.name) return this.update(r, checkFields);
    if (method === 'DELETE') return t.name ? this.delete(r) : this.deleteCollection(r);
    throw methodNotAllowed();
  }

  private async get({ req, res, t }: VerbRequest): Promise<void> {
    const obj = await this.store.read(t);
    if (t.subresource === 'scale') return send(res, 200, scaleOf(obj));
    respond(req, res, 200, obj, t.res);
  }

  private async list({ req, res, query, t }: VerbRequest): Promise<void> {
    const { items, revision, continueToken } = await listObjects(this.storage, query, t);
    const metadata = { resourceVersion: String(revision), ...(continueToken ? { continue: continueToken } : {}) };
    if (wantsMetadata(req))
      return send(res, 200, {
        kind: 'PartialObjectMetadataList',
        apiVersion: 'meta.k8s.io/v1',
        metadata,
        items: items.map(partialMetadata),
      });
    if (wantsTable(req))
      return send(res, 200, { ...tableFor(t.res, strategyFor(t.res).columns, items, String(revision)), metadata });
    send(res, 200, { kind: `${t.res.kind}List`, apiVersion: apiVersionOf(t.res), metadata, items });
  }

  private async create({ req, res, t, contentType, dryRun }: VerbRequest, checkFields: FieldCheck): Promise<void> {
    const body = parseObject(await readBody(req), contentType);
    checkFields(body);
    respond(req, res, 201, await this.store.create(t, body, dryRun), t.res);
  }

  /** PUT, a patch, or server-side apply (which creates what is not there yet). */
  private async update(
    { req, res, t, method, contentType, dryRun }: VerbRequest,
    checkFields: FieldCheck,
  ): Promise<void> {
    const scale = t.subresource === 'scale';
    const raw = await readBody(req);
    const replacement = method === 'PUT' ? parseObject(raw, contentType) : undefined;
    if (replacement && !scale) checkFields(replacement);
    if (
      method === 'PATCH' &&
      contentType === 'application/apply-patch+yaml' &&
      !t.subresource &&
      !(await this.storage.get(storageKey(t.res, t.namespace, t.name)))
    ) {
      const applied = parseObject(raw, contentType);
      if (applied.metadata?.name !== undefined && applied.metadata.name !== t.name)
        throw badRequest(
          `the name of the object (${applied.metadata.name}) does not match the name on the URL (${t.name})`,
        );
      checkFields(applied);
      const created = await this.store.create(
        t,
        { ...applied, metadata: { ...applied.metadata, name: t.name } },
        dryRun,
      );
      return respond(req, res, 201, created, t.res);
    }
    const updated = await this.store.update(
      t,
      dryRun,
      (cur) => {
        if (replacement) return scale ? withScale(cur, replacement) : replacement;
        const patched = applyPatch(contentType, scale ? scaleOf(cur) : cur, raw);
        if (!scale) checkFields(patched);
        return scale ? withScale(cur, patched) : patched;
      },
      method === 'PUT',
    );
    respond(req, res, 200, scale ? scaleOf(updated) : updated, t.res);
  }

  private async delete({ req, res, query, t, contentType, dryRun }: VerbRequest): Promise<void> {
    const raw = await readBody(req);
    const options = deleteOptions(query, raw.length ? parseObject(raw, contentType) : {});
    const removed = await this.store.remove(t, dryRun || options.dryRun?.includes('All') === true, options);
    respond(req, res, 200, removed, t.res);
  }

  private async deleteCollection({ req, res, query, t, contentType, dryRun }: VerbRequest): Promise<void> {
    const raw = await readBody(req);
    const options = deleteOptions(query, raw.length ? parseObject(raw, contentType) : {});
    const { items } = await listObjects(this.storage, query, t);
    for (const item of items)
      await this.store
        .remove({ ...t, namespace: item.metadata?.namespace, name: item.metadata!.name }, dryRun, options)
        .catch((err: unknown) => {
          if (!(err instanceof ApiError && err.code === 404)) throw err;
        });
    send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
  }
}

export function methodNotAllowed(): ApiError {
  return new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
}

/** `base` with a patch of the request's media type applied. */
function applyPatch(contentType: string, base: KObject, raw: Buffer): KObject {
  const patch = contentType === 'application/apply-patch+yaml' ? parseYaml(raw) : parseJson(raw);
  if (contentType === 'application/json-patch+json') return jsonPatch(base as never, patch) as KObject;
  if (contentType === 'application/merge-patch+json') return mergePatch(base as never, patch as never) as KObject;
  if (contentType === 'application/strategic-merge-patch+json' || contentType === 'application/apply-patch+yaml')
    return strategicMergePatch(base as never, patch as never) as KObject;
  throw new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES}`,
  );
}

/** JSON, or a Table when the client asks for one (kubectl get). */
function respond(
  req: IncomingMessage,
  res: ServerResponse,
  code: number,
  obj: KObject | ({ items: KObject[] } & Record<string, unknown>),
  r: ResourceType,
): void {
  if (!wantsTable(req)) return send(res, code, obj);
  const items = 'items' in obj ? (obj.items as KObject[]) : [obj as KObject];
  send(res, code, tableFor(r, strategyFor(r).columns, items, String((obj as KObject).metadata?.resourceVersion ?? '')));
}
