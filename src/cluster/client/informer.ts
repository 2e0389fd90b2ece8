/**
 * An informer, as client-go's: a local copy of one resource across all namespaces, kept by a list and
 * then a watch from the list's resourceVersion. A watch that ends is resumed from the last version
 * seen; one that is too old (410) or fails is replaced by a new list, whose differences with the copy
 * are handed out as adds, updates and deletes, so handlers never miss a change.
 */
import type { Logger } from '../../common/log.js';
import { keyOf, type KObject } from '../api/object.js';
import { ApiStatusError, type KubeClient, type ReadOptions } from './client.js';

export interface InformerHandlers {
  add?(obj: KObject): void;
  update?(old: KObject, obj: KObject): void;
  delete?(obj: KObject): void;
}

export { keyOf };

const RETRY_MS = 1000;

/** An index function: the values an object is found under (client-go's `IndexFunc`). */
export type IndexFunc = (o: KObject) => string[];

/** The indexes controllers share: by namespace, by the node a pod is bound to, by owner UID, orphans. */
export const BY_NAMESPACE = 'namespace';
export const BY_NODE = 'node';
export const BY_OWNER = 'owner';
export const ORPHANS_BY_NAMESPACE = 'orphans';
export const INDEXERS: Record<string, IndexFunc> = {
  [BY_NAMESPACE]: (o) => [o.metadata?.namespace ?? ''],
  [BY_NODE]: (o) => {
    const node = (o.spec as { nodeName?: unknown } | undefined)?.nodeName;
    return typeof node === 'string' && node ? [node] : [];
  },
  [BY_OWNER]: (o) => (o.metadata?.ownerReferences ?? []).map((r) => r.uid ?? '').filter(Boolean),
  /** Objects without a controller, by namespace: what controllers may adopt. */
  [ORPHANS_BY_NAMESPACE]: (o) =>
    (o.metadata?.ownerReferences ?? []).some((r) => r.controller) ? [] : [o.metadata?.namespace ?? ''],
};

export class Informer {
  private readonly store = new Map<string, KObject>();
  private readonly indexes = new Map<string, { fn: IndexFunc; keys: Map<string, Set<string>> }>();
  private readonly handlers: InformerHandlers[] = [];
  private readonly stopper = new AbortController();
  private resourceVersion = '';
  private synced = false;
  private syncWaiters: Array<() => void> = [];

  constructor(
    private readonly client: KubeClient,
    /** The collection path across namespaces, e.g. `/apis/apps/v1/deployments`. */
    private readonly path: string,
    private readonly logger: Logger,
    /** Selectors the list and the watch carry (`fieldSelector: 'spec.nodeName=n1'`). */
    private readonly selectors: { labelSelector?: string; fieldSelector?: string } = {},
    /** Keep only metadata (`PartialObjectMetadata`): cheaper for the server and here. */
    private readonly read: ReadOptions = {},
  ) {}

  on(h: InformerHandlers): void {
    this.handlers.push(h);
  }

  get(key: string): KObject | undefined {
    return this.store.get(key);
  }

  /** Keep an index (`INDEXERS` has the shared ones), so lookups need not scan every object. */
  addIndex(name: string, fn: IndexFunc = INDEXERS[name]!): this {
    if (this.indexes.has(name)) return this;
    const index = { fn, keys: new Map<string, Set<string>>() };
    this.indexes.set(name, index);
    for (const [key, o] of this.store) this.indexAdd(index, key, o);
    return this;
  }

  /** The objects an index holds under `value`. */
  byIndex(name: string, value: string): KObject[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`no index ${name} on ${this.path}`);
    return [...(index.keys.get(value) ?? [])].map((k) => this.store.get(k)!).filter(Boolean);
  }

  private indexAdd(index: { fn: IndexFunc; keys: Map<string, Set<string>> }, key: string, o: KObject): void {
    for (const v of index.fn(o)) {
      let set = index.keys.get(v);
      if (!set) index.keys.set(v, (set = new Set()));
      set.add(key);
    }
  }

  private put(key: string, o: KObject): void {
    this.remove(key);
    this.store.set(key, o);
    for (const index of this.indexes.values()) this.indexAdd(index, key, o);
  }

  private remove(key: string): void {
    const old = this.store.get(key);
    if (!old) return;
    this.store.delete(key);
    for (const index of this.indexes.values())
      for (const v of index.fn(old)) {
        const set = index.keys.get(v);
        set?.delete(key);
        if (set && !set.size) index.keys.delete(v);
      }
  }

  list(): KObject[] {
    return [...this.store.values()];
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopper.abort();
  }

  /** Resolves once the first list has been taken in. */
  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  private emit(kind: 'add' | 'update' | 'delete', a: KObject, b?: KObject): void {
    for (const h of this.handlers) {
      try {
        if (kind === 'add') h.add?.(a);
        else if (kind === 'update') h.update?.(a, b!);
        else h.delete?.(a);
      } catch (err) {
        this.logger.error({ err: String(err), path: this.path }, 'informer handler failed');
      }
    }
  }

  private async relist(): Promise<void> {
    const seen = new Map<string, KObject>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.client.list(
        this.path,
        { ...this.selectors, limit: '500', ...(cont ? { continue: cont } : {}) },
        this.read,
      );
      for (const o of page.items) seen.set(keyOf(o), o);
      cont = page.metadata.continue;
      rv = page.metadata.resourceVersion;
    } while (cont);
    for (const [key, old] of this.store) {
      if (!seen.has(key)) {
        this.remove(key);
        this.emit('delete', old);
      }
    }
    for (const [key, obj] of seen) {
      const old = this.store.get(key);
      this.put(key, obj);
      if (!old) this.emit('add', obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('update', old, obj);
    }
    this.resourceVersion = rv;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async run(): Promise<void> {
    let needList = true;
    while (!this.stopper.signal.aborted) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        let expired = false;
        await this.client.watch(
          this.path,
          this.resourceVersion,
          this.selectors,
          (e) => {
            if (e.type === 'ERROR') {
              expired = true;
              return;
            }
            const rv = e.object.metadata?.resourceVersion;
            if (rv) this.resourceVersion = rv;
            if (e.type === 'BOOKMARK') return;
            const key = keyOf(e.object);
            const old = this.store.get(key);
            if (e.type === 'DELETED') {
              this.remove(key);
              this.emit('delete', old ?? e.object);
            } else {
              this.put(key, e.object);
              if (old) this.emit('update', old, e.object);
              else this.emit('add', e.object);
            }
          },
          this.stopper.signal,
          this.read,
        );
        if (expired) needList = true;
      } catch (err) {
        if (this.stopper.signal.aborted) return;
        needList = needList || (err instanceof ApiStatusError && err.code === 410) || !(err instanceof ApiStatusError);
        this.logger.debug({ err: String(err), path: this.path }, 'watch interrupted; retrying');
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }
}
