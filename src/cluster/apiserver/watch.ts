/**
 * Watches: newline-terminated JSON events from a revision on (the current objects first when none is
 * given), filtered by the request's selectors, as Tables or metadata only when asked, with bookmarks and
 * 410 Gone.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KeyValue, Storage } from '../storage/types.js';
import { ApiError, badRequest, type KObject } from './objects.js';
import { strategyFor } from './registry/index.js';
import { listObjects, matcher } from './registry/list.js';
import { apiVersionOf, decode, viewOf } from './registry/store.js';
import type { Target } from './registry/strategy.js';
import { storageKey } from './resources.js';
import { tableFor } from './tables.js';
import { partialMetadata, wantsMetadata, wantsTable } from './http.js';

/** A stored change decoded once, with its watch lines (whole, or metadata only) serialized once per type. */
interface SharedEvent {
  obj: KObject;
  line: (type: string, metadataOnly: boolean) => string;
}

export class Watches {
  private readonly events = new WeakMap<KeyValue, SharedEvent>();

  constructor(private readonly storage: Storage) {}

  /**
   * A stored change as watchers see it, decoded and serialized once however many watchers it goes to
   * (the storage hands every watcher the same event); nothing may change the object.
   */
  private sharedEvent(kv: KeyValue): SharedEvent {
    let cached = this.events.get(kv);
    if (!cached) {
      const obj = decode(kv);
      const lines = new Map<string, string>();
      cached = {
        obj,
        line: (type, metadataOnly) => {
          const key = metadataOnly ? `${type}/m` : type;
          let line = lines.get(key);
          if (line === undefined)
            lines.set(key, (line = JSON.stringify({ type, object: metadataOnly ? partialMetadata(obj) : obj }) + '\n'));
          return line;
        },
      };
      this.events.set(kv, cached);
    }
    return cached;
  }

  /** A watch: newline-terminated JSON events from a revision on (with the current objects first when none is given). */
  async serve(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, t: Target): Promise<void> {
    const rvParam = q.get('resourceVersion');
    const table = wantsTable(req);
    const metadataOnly = wantsMetadata(req);
    const match = matcher(t, q);
    const columns = strategyFor(t.res).columns;
    const converted = !!strategyFor(t.res).conversion;
    const view = viewOf(t.res);
    let from: number;
    const initial: KObject[] = [];
    if (!rvParam || rvParam === '0') {
      const { items, revision } = await listObjects(
        this.storage,
        new URLSearchParams({
          labelSelector: q.get('labelSelector') ?? '',
          fieldSelector: q.get('fieldSelector') ?? '',
        }),
        t,
      );
      initial.push(...items);
      from = revision;
    } else {
      from = Number(rvParam);
      if (!Number.isInteger(from) || from < 0) throw badRequest(`invalid resourceVersion: ${rvParam}`);
      const current = await this.storage.revision();
      if (from > current) from = current;
    }
    const prefix = storageKey(t.res, t.namespace);
    const nameFilter = t.name;
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache',
    });
    // Headers go out now: a client waits for them before it reads events, and there may be none for a while.
    res.flushHeaders();
    const write = (type: string, obj: unknown): void => {
      if (!res.writableEnded) res.write(JSON.stringify({ type, object: obj }) + '\n');
    };
    const emit = (type: string, obj: KObject): void =>
      write(
        type,
        table
          ? tableFor(t.res, columns, [obj], String(obj.metadata?.resourceVersion ?? ''))
          : metadataOnly
            ? partialMetadata(obj)
            : obj,
      );
    for (const o of initial) if (!nameFilter || o.metadata?.name === nameFilter) emit('ADDED', o);
    const w = this.storage.watch(
      prefix,
      from,
      (e) => {
        const change = this.sharedEvent(e.kv);
        const obj = change.obj;
        if (nameFilter && obj.metadata?.name !== nameFilter) return;
        const was = e.prev ? match(this.sharedEvent(e.prev).obj) : false;
        const is = match(obj);
        const type =
          e.type === 'delete'
            ? is
              ? 'DELETED'
              : undefined
            : is
              ? was || (e.prev && e.kv.createRevision !== e.kv.modRevision)
                ? 'MODIFIED'
                : 'ADDED'
              : was
                ? 'DELETED'
                : undefined;
        if (!type) return;
        // A converted version is written for this watch alone; the shared line is the stored form.
        if (table || converted) return emit(type, converted ? view(obj) : obj);
        if (!res.writableEnded) res.write(change.line(type, metadataOnly));
      },
      (err) => {
        write('ERROR', new ApiError(410, 'Expired', `too old resource version: ${from} (${err.message})`).status());
        res.end();
      },
    );
    const timeout = Number(q.get('timeoutSeconds') ?? 0) || 1800;
    const timer = setTimeout(() => res.end(), timeout * 1000);
    const bookmarks =
      q.get('allowWatchBookmarks') === 'true'
        ? setInterval(() => {
            void this.storage.revision().then((rev) =>
              write('BOOKMARK', {
                kind: t.res.kind,
                apiVersion: apiVersionOf(t.res),
                metadata: { resourceVersion: String(rev) },
              }),
            );
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
