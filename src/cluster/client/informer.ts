/**
 * An informer, as client-go's: a local copy of one resource across all namespaces, kept by a list and
 * then a watch from the list's resourceVersion. A watch that ends is resumed from the last version
 * seen; one that is too old (410) or fails is replaced by a new list, whose differences with the copy
 * are handed out as adds, updates and deletes, so handlers never miss a change.
 */
import type { Logger } from '../../common/log.js';
import { keyOf, type KObject } from '../api/object.js';
import { ApiStatusError, type ApiClient } from './client.js';

export interface InformerHandlers {
  add?(obj: KObject): void;
  update?(old: KObject, obj: KObject): void;
  delete?(obj: KObject): void;
}

export { keyOf };

const RETRY_MS = 1000;

export class Informer {
  private readonly store = new Map<string, KObject>();
  private readonly handlers: InformerHandlers[] = [];
  private readonly stopper = new AbortController();
  private resourceVersion = '';
  private synced = false;
  private syncWaiters: Array<() => void> = [];

  constructor(
    private readonly client: ApiClient,
    /** The collection path across namespaces, e.g. `/apis/apps/v1/deployments`. */
    private readonly path: string,
    private readonly logger: Logger,
    /** Selectors the list and the watch carry (`fieldSelector: 'spec.nodeName=n1'`). */
    private readonly selectors: { labelSelector?: string; fieldSelector?: string } = {},
  ) {}

  on(h: InformerHandlers): void {
    this.handlers.push(h);
  }

  get(key: string): KObject | undefined {
    return this.store.get(key);
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
      const page = await this.client.list(this.path, {
        ...this.selectors,
        limit: '500',
        ...(cont ? { continue: cont } : {}),
      });
      for (const o of page.items) seen.set(keyOf(o), o);
      cont = page.metadata.continue;
      rv = page.metadata.resourceVersion;
    } while (cont);
    for (const [key, old] of this.store) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.emit('delete', old);
      }
    }
    for (const [key, obj] of seen) {
      const old = this.store.get(key);
      this.store.set(key, obj);
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
              this.store.delete(key);
              this.emit('delete', old ?? e.object);
            } else {
              this.store.set(key, e.object);
              if (old) this.emit('update', old, e.object);
              else this.emit('add', e.object);
            }
          },
          this.stopper.signal,
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
