/**
 * The generic registry store, after Kubernetes' `generic/registry/store.go`: create, update (with
 * retries on a concurrent write) and delete of any resource over the storage interface, asking the
 * resource's strategy for what differs by kind. Deletion only marks what must wait — finalizers, the
 * `orphan` and `foregroundDeletion` policies, a pod's grace period, a namespace's contents — and the
 * object goes when the last finalizer is cleared; dependents are the garbage collector's to remove.
 */
import { nowRfc3339 } from '../../api/object.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { canonicalJson } from '../../../common/canonical.js';
import { StorageError, type KeyValue } from '../../storage/types.js';
import { nodeOf, nodeWriteRefusal } from '../nodeauthz.js';
import { validateCustomObject, type SchemaProps } from '../openapi/customvalidation.js';
import { typeError } from '../openapi/types.js';
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  invalid,
  notFound,
  validateLabels,
  validateName,
  type KObject,
} from '../objects.js';
import { storageKey, type ResourceType } from '../resources.js';
import { strategyFor } from './index.js';
import type { DeleteOptions, RegistryContext, Strategy, StoreApi, Target } from './strategy.js';

/** Kubernetes' alphabet for generated name suffixes: no vowels, no look-alike characters. */
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** The garbage collector's finalizers, as Kubernetes names them. */
export const ORPHAN_FINALIZER = 'orphan';
export const FOREGROUND_FINALIZER = 'foregroundDeletion';

export const apiVersionOf = (r: ResourceType): string => (r.group ? `${r.group}/${r.version}` : r.version);

export function decode(kv: KeyValue): KObject {
  const obj = JSON.parse(kv.value.toString('utf8')) as KObject;
  obj.metadata = { ...obj.metadata, resourceVersion: String(kv.modRevision) };
  return obj;
}

/** Defaults: the strategy's on a spec that exists (created empty for it), else an empty spec is dropped. */
function applyDefaults(s: Strategy, obj: KObject): void {
  if (s.defaults) {
    obj.spec ??= {};
    s.defaults(obj);
  } else if (obj.spec && !Object.keys(obj.spec).length) delete obj.spec;
}

/** Every finalizer still holding an object: metadata's and the kind's own. */
function pendingFinalizers(s: Strategy, obj: KObject): string[] {
  return [...(obj.metadata?.finalizers ?? []), ...(s.pendingFinalizers?.(obj) ?? [])];
}

export class Store implements StoreApi {
  constructor(private readonly ctx: () => RegistryContext) {}

  private get storage(): RegistryContext['storage'] {
    return this.ctx().storage;
  }

  async read(t: Target): Promise<KObject> {
    const kv = await this.storage.get(storageKey(t.res, t.namespace, t.name));
    if (!kv) throw notFound(t.res, t.name!);
    return viewOf(t.res)(decode(kv));
  }

  private async observe(s: Strategy, key: string, value: Buffer | undefined, obj: KObject): Promise<void> {
    await s.observe?.(this.ctx(), key, value, obj);
  }

  async create(t: Target, body: KObject, dryRun = false): Promise<KObject> {
    const r = t.res;
    const s = strategyFor(r);
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw badRequest('the request body must be a JSON object');
    const conv = s.conversion;
    if (conv) {
      checkApiVersion(r, body.apiVersion);
      return conv.fromStorage(await this.create({ ...t, res: conv.storage }, conv.toStorage(body), dryRun));
    }
    if (body.kind !== undefined && body.kind !== r.kind)
      throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (${r.kind})`);
    if (body.apiVersion !== undefined && body.apiVersion !== apiVersionOf(r))
      throw badRequest(
        `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${apiVersionOf(r)})`,
      );
    refuseWrongTypes(r, body);
    const meta = { ...(body.metadata ?? {}) };
    if (!meta.name && meta.generateName)
      meta.name = meta.generateName + [...randomBytes(5)].map((b) => NAME_ALPHABET[b % NAME_ALPHABET.length]).join('');
    if (!meta.name)
      throw new ApiError(
        422,
        'Invalid',
        `${r.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
        {
          kind: r.kind,
          causes: [
            {
              reason: 'FieldValueRequired',
              message: 'Required value: name or generateName is required',
              field: 'metadata.name',
            },
          ],
        },
      );
    validateName(r, meta.name);
    validateLabels(r, meta.name, meta.labels);
    if (r.namespaced) {
      if (meta.namespace && t.namespace && meta.namespace !== t.namespace)
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      meta.namespace = t.namespace ?? meta.namespace ?? 'default';
      const phase = await this.ctx().namespaces.phase(meta.namespace);
      if (!phase) throw notFound(this.ctx().resource('namespaces'), meta.namespace);
      if (phase === 'Terminating')
        throw new ApiError(
          403,
          'Forbidden',
          `${r.plural} "${meta.name}" is forbidden: unable to create new content in namespace ${meta.namespace} because it is being terminated`,
        );
    } else delete meta.namespace;
    const obj: KObject = {
      ...body,
      apiVersion: apiVersionOf(r),
      kind: r.kind,
      metadata: { ...meta, uid: randomUUID(), creationTimestamp: nowRfc3339() },
    };
    delete obj.metadata!.resourceVersion;
    delete obj.metadata!.deletionTimestamp;
    if (s.generation) obj.metadata!.generation = 1;
    // As in Kubernetes, status is the controllers' to write: a created object starts from the initial one.
    if ((r.subresources ?? []).includes('status')) delete obj.status;
    validateCustom(r, obj);
    const ctx = { ...this.ctx(), user: t.user };
    applyDefaults(s, obj);
    s.validate?.(obj, ctx);
    const refusal = t.user && nodeWriteRefusal(nodeOf(t.user), r.plural, meta.name);
    if (refusal) throw new ApiError(403, 'Forbidden', refusal, { name: meta.name, group: r.group, kind: r.plural });
    await s.prepareCreate?.(obj, ctx);
    if (dryRun) return obj;
    try {
      const value = Buffer.from(JSON.stringify(obj));
      const kv = await this.storage.create(storageKey(r, meta.namespace, meta.name), value);
      await this.observe(s, kv.key, value, obj);
      // The object just written, not a parse of its bytes: they are its JSON.
      return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(kv.modRevision) } };
    } catch (err) {
      if (err instanceof StorageError && err.code === 'exists') throw alreadyExists(r, meta.name);
      throw err;
    }
  }

  /**
   * Read, change, write with the read revision. A PUT carrying a stale resourceVersion conflicts, and
   * so does a patch that sets one (the patched object keeps the stored version unless the patch names
   * another): as in Kubernetes, a resourceVersion in a patch is a precondition.
   */
  async update(t: Target, dryRun: boolean, change: (cur: KObject) => KObject, isPut: boolean): Promise<KObject> {
    const r = t.res;
    const s = strategyFor(r);
    const conv = s.conversion;
    if (conv) {
      const throughView = (cur: KObject): KObject => {
        const next = change(conv.fromStorage(cur));
        if (typeof next !== 'object' || next === null) return next;
        checkApiVersion(r, next.apiVersion);
        return conv.toStorage(next);
      };
      return conv.fromStorage(await this.update({ ...t, res: conv.storage }, dryRun, throughView, isPut));
    }
    const key = storageKey(r, t.namespace, t.name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.storage.get(key);
      if (!kv) throw notFound(r, t.name!);
      const cur = decode(kv);
      const next = change(structuredClone(cur));
      if (typeof next !== 'object' || next === null) throw badRequest('the request body must be a JSON object');
      const asked = next.metadata?.resourceVersion;
      if (asked && asked !== String(kv.modRevision)) throw conflict(r, t.name!);
      if (next.metadata?.name !== undefined && next.metadata.name !== t.name)
        throw badRequest(
          `the name of the object (${next.metadata.name}) does not match the name on the URL (${t.name})`,
        );
      // An update keeps what the object is and where it lives.
      if (next.kind !== undefined && next.kind !== r.kind)
        throw badRequest(
          `the kind of the object (${String(next.kind)}) does not match the kind on the URL (${r.kind})`,
        );
      if (next.apiVersion !== undefined && next.apiVersion !== apiVersionOf(r) && next.apiVersion !== cur.apiVersion)
        throw badRequest(
          `the API version in the data (${String(next.apiVersion)}) does not match the expected API version (${apiVersionOf(r)})`,
        );
      if (r.namespaced && next.metadata?.namespace && next.metadata.namespace !== cur.metadata?.namespace)
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      refuseWrongTypes(r, next);
      let merged: KObject = {
        ...next,
        apiVersion: apiVersionOf(r),
        kind: r.kind,
        metadata: {
          ...next.metadata,
          name: t.name,
          namespace: cur.metadata?.namespace,
          uid: cur.metadata?.uid,
          creationTimestamp: cur.metadata?.creationTimestamp,
          generation: cur.metadata?.generation,
          deletionTimestamp: cur.metadata?.deletionTimestamp,
          deletionGracePeriodSeconds: cur.metadata?.deletionGracePeriodSeconds,
        },
      };
      if (!r.namespaced) delete merged.metadata!.namespace;
      for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds'] as const)
        if (merged.metadata![k] === undefined) delete merged.metadata![k];
      delete merged.metadata!.resourceVersion;
      validateLabels(r, t.name!, merged.metadata?.labels);
      // The status subresource changes only status; the main resource never changes status.
      if (t.subresource === 'status') merged.spec = cur.spec;
      else if ((r.subresources ?? []).includes('status')) merged.status = cur.status;
      if (s.mergeUpdate) merged = s.mergeUpdate(cur, merged, t.subresource, next);
      delete merged.metadata!.resourceVersion;
      validateCustom(r, merged);
      const ctx = { ...this.ctx(), user: t.user, subresource: t.subresource };
      applyDefaults(s, merged);
      if (t.subresource !== 'status') s.validateUpdate?.(cur, merged);
      s.validate?.(merged, ctx);
      if (s.generation && JSON.stringify(merged.spec) !== JSON.stringify(cur.spec))
        merged.metadata!.generation = (cur.metadata?.generation ?? 0) + 1;
      await s.prepareUpdate?.(cur, merged, ctx);
      if (dryRun) return { ...merged, metadata: { ...merged.metadata, resourceVersion: String(kv.modRevision) } };
      // A write that changes nothing is not stored (no new resourceVersion, no watch event), as in Kubernetes.
      const { resourceVersion: _rv, ...curMeta } = cur.metadata ?? {};
      if (canonicalJson(merged) === canonicalJson({ ...cur, metadata: curMeta })) return cur;
      // The last finalizer of an object being deleted is gone: the object goes.
      if (
        merged.metadata?.deletionTimestamp &&
        (pendingFinalizers(s, cur).length || t.subresource === 'finalize') &&
        !pendingFinalizers(s, merged).length
      ) {
        await this.storage.delete(key, kv.modRevision).catch((err: unknown) => {
          if (err instanceof StorageError && err.code === 'conflict') throw conflict(r, t.name!);
          throw err;
        });
        await this.observe(s, key, undefined, merged);
        return merged;
      }
      try {
        const value = Buffer.from(JSON.stringify(merged));
        const written = await this.storage.update(key, value, kv.modRevision);
        await this.observe(s, key, value, merged);
        return { ...merged, metadata: { ...merged.metadata, resourceVersion: String(written.modRevision) } };
      } catch (err) {
        // A PATCH retries on a concurrent write, as Kubernetes does; a PUT with a resourceVersion does not.
        if (err instanceof StorageError && err.code === 'conflict' && (!isPut || !asked) && attempt < 5) continue;
        if (err instanceof StorageError && err.code === 'conflict') throw conflict(r, t.name!);
        throw err;
      }
    }
  }

  /**
   * DELETE with Kubernetes' options: preconditions (uid, resourceVersion), gracePeriodSeconds, and
   * propagationPolicy — Orphan and Foreground mark the object with the garbage collector's finalizer
   * for it to finish; Background removes it now and leaves its dependents to the collector.
   */
  async remove(t: Target, dryRun: boolean, options: DeleteOptions = {}): Promise<KObject> {
    const conv = strategyFor(t.res).conversion;
    if (conv) return conv.fromStorage(await this.remove({ ...t, res: conv.storage }, dryRun, options));
    // A write racing the deletion (a node agent updating status) is read again, as Kubernetes retries.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.removeOnce(t, dryRun, options);
      } catch (err) {
        if (err instanceof ApiError && err.reason === 'Conflict' && !options.preconditions && attempt < 5) continue;
        throw err;
      }
    }
  }

  private async removeOnce(t: Target, dryRun: boolean, options: DeleteOptions): Promise<KObject> {
    const r = t.res;
    const s = strategyFor(r);
    const key = storageKey(r, t.namespace, t.name);
    const kv = await this.storage.get(key);
    if (!kv) throw notFound(r, t.name!);
    const obj = decode(kv);
    const pre = options.preconditions ?? {};
    const failed = (what: string): ApiError =>
      new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${r.plural} "${t.name}": Precondition failed: ${what}`,
        {
          name: t.name,
          group: r.group,
          kind: r.plural,
        },
      );
    if (pre.uid && pre.uid !== obj.metadata?.uid)
      throw failed(`UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata?.uid}`);
    if (pre.resourceVersion && pre.resourceVersion !== obj.metadata?.resourceVersion)
      throw failed(
        `ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata?.resourceVersion}`,
      );
    const policy = options.propagationPolicy ?? (options.orphanDependents ? 'Orphan' : 'Background');
    if (!['Background', 'Foreground', 'Orphan'].includes(policy))
      throw badRequest(`unsupported propagationPolicy "${policy}": must be Background, Foreground or Orphan`);
    if (dryRun) return obj;
    const graceful = s.gracefulDelete?.(obj, options);
    const gcFinalizer =
      r.plural === 'namespaces'
        ? undefined
        : policy === 'Orphan'
          ? ORPHAN_FINALIZER
          : policy === 'Foreground'
            ? FOREGROUND_FINALIZER
            : undefined;
    const finalizers = [...(obj.metadata?.finalizers ?? [])];
    if (gcFinalizer && !finalizers.includes(gcFinalizer)) finalizers.push(gcFinalizer);
    const held = finalizers.length > 0 || (s.pendingFinalizers?.(obj).length ?? 0) > 0;
    if (!held && !graceful) {
      await this.storage.delete(key, kv.modRevision).catch((err: unknown) => {
        if (err instanceof StorageError && err.code === 'conflict') throw conflict(r, t.name!);
        if (err instanceof StorageError && err.code === 'notFound') throw notFound(r, t.name!);
        throw err;
      });
      await this.observe(s, key, undefined, obj);
      return obj;
    }
    // Already being deleted: only a policy finalizer not there yet is added.
    if (obj.metadata?.deletionTimestamp && finalizers.length === (obj.metadata.finalizers ?? []).length) return obj;
    const next = structuredClone(obj);
    next.metadata ??= {};
    next.metadata.deletionTimestamp ??= nowRfc3339();
    if (finalizers.length) next.metadata.finalizers = finalizers;
    if (!obj.metadata?.deletionTimestamp) graceful?.(next);
    delete next.metadata.resourceVersion;
    const value = Buffer.from(JSON.stringify(next));
    const written = await this.storage.update(key, value, kv.modRevision).catch((err: unknown) => {
      if (err instanceof StorageError && err.code === 'conflict') throw conflict(r, t.name!);
      throw err;
    });
    await this.observe(s, key, value, next);
    return { ...next, metadata: { ...next.metadata, resourceVersion: String(written.modRevision) } };
  }
}

/** How objects of `r` are shown: as stored, or converted to its version. */
export function viewOf(r: ResourceType): (obj: KObject) => KObject {
  const conv = strategyFor(r).conversion;
  return conv ? (obj) => conv.fromStorage(obj) : (obj) => obj;
}

/** A version written through a converted view must be that view's. */
function checkApiVersion(r: ResourceType, apiVersion: unknown): void {
  if (apiVersion !== undefined && apiVersion !== apiVersionOf(r))
    throw badRequest(
      `the API version in the data (${String(apiVersion)}) does not match the expected API version (${apiVersionOf(r)})`,
    );
}

/** An object of a built-in kind with a value its Go type cannot hold: refused as Kubernetes' decoder refuses it. */
function refuseWrongTypes(r: ResourceType, obj: KObject): void {
  if (r.custom) return;
  const err = typeError(r, obj);
  if (err) throw badRequest(`${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: ${err}`);
}

/** A custom resource by its CRD's schema: refused with the causes, its unknown fields pruned. */
function validateCustom(r: ResourceType, obj: KObject): void {
  if (!r.custom || !r.schema) return;
  const causes = validateCustomObject(r.schema as SchemaProps, obj as Record<string, unknown>);
  if (causes.length) throw invalid(r, obj.metadata?.name ?? '', causes);
}
