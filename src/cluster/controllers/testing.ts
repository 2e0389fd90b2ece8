/**
 * A fake API client for controller unit tests, as client-go's fake clientset: objects held in memory by
 * path, every write recorded as an action, lists that informers take in, watches that stay open and
 * quiet. Tests seed objects, start informers on it, call `sync(key)` and read the actions.
 */
import { StatusError } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import type { KubeClient, ObjectList, WatchEvent } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { createLogger } from '../../common/log.js';

export interface Action {
  verb: 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';
  path: string;
  body?: unknown;
}

/** `/api/v1/namespaces/ns/pods/name/status` → its parts. */
function parse(path: string): { base: string; namespace?: string; plural: string; name?: string; sub?: string } {
  const m = /^(\/api\/v1|\/apis\/[^/]+\/[^/]+)(\/.*)?$/.exec(path.split('?')[0]!);
  if (!m) throw new Error(`not an API path: ${path}`);
  const rest = (m[2] ?? '').split('/').filter(Boolean).map(decodeURIComponent);
  if (rest[0] === 'namespaces' && rest.length >= 3)
    return { base: m[1]!, namespace: rest[1], plural: rest[2]!, name: rest[3], sub: rest[4] };
  return { base: m[1]!, plural: rest[0]!, name: rest[1], sub: rest[2] };
}

const notFound = (path: string): StatusError => new StatusError(404, 'NotFound', `${path} not found`);

export const quietLogger = createLogger('test', 'silent');

export class FakeClient implements KubeClient {
  readonly actions: Action[] = [];
  private readonly objects = new Map<string, KObject>();
  private revision = 1;
  private uid = 0;
  /** Answers for discovery paths (`/apis`, `/api/v1`, ...). */
  readonly discovery = new Map<string, unknown>();

  private keyOf(base: string, plural: string, namespace: string | undefined, name: string): string {
    return `${base}|${plural}|${namespace ?? ''}|${name}`;
  }

  /** Put objects in as they would be stored (uid and resourceVersion added when missing). */
  seed(base: string, plural: string, ...objs: KObject[]): this {
    for (const o of objs) {
      o.metadata ??= {};
      o.metadata.uid ??= `uid-${++this.uid}`;
      o.metadata.resourceVersion ??= String(++this.revision);
      this.objects.set(this.keyOf(base, plural, o.metadata.namespace, o.metadata.name!), o);
    }
    return this;
  }

  /** The stored object at a path, if any. */
  get(path: string): KObject | undefined {
    const p = parse(path);
    return this.objects.get(this.keyOf(p.base, p.plural, p.namespace, p.name ?? ''));
  }

  private match(path: string): KObject[] {
    const p = parse(path);
    return [...this.objects.entries()]
      .filter(([k]) => {
        const [base, plural, ns] = k.split('|');
        return base === p.base && plural === p.plural && (p.namespace === undefined || ns === p.namespace);
      })
      .map(([, o]) => o);
  }

  async request<T = KObject>(method: string, path: string): Promise<T> {
    if (this.discovery.has(path)) return this.discovery.get(path) as T;
    if (method !== 'GET') throw new Error(`FakeClient.request ${method} is not supported`);
    const o = this.get(path);
    if (!o) throw notFound(path);
    return structuredClone(o) as T;
  }

  async list(path: string, query: Record<string, string> = {}): Promise<ObjectList> {
    let items = this.match(path);
    if (query.limit) items = items.slice(0, Number(query.limit));
    return { metadata: { resourceVersion: String(this.revision) }, items: structuredClone(items) };
  }

  async create(path: string, obj: KObject): Promise<KObject> {
    this.actions.push({ verb: 'create', path, body: obj });
    const p = parse(path);
    const o = structuredClone(obj);
    o.metadata ??= {};
    o.metadata.name ??= `${o.metadata.generateName ?? 'x-'}${++this.uid}`;
    o.metadata.namespace ??= p.namespace;
    const key = this.keyOf(p.base, p.plural, p.namespace, o.metadata.name);
    if (p.name) return o; // a subresource (binding): recorded only
    if (this.objects.has(key)) throw new StatusError(409, 'AlreadyExists', `${o.metadata.name} already exists`);
    this.seed(p.base, p.plural, o);
    return o;
  }

  async update(path: string, obj: KObject): Promise<KObject> {
    this.actions.push({ verb: 'update', path, body: obj });
    const p = parse(path);
    const cur = this.get(path);
    if (!cur) throw notFound(path);
    const next = { ...structuredClone(obj), metadata: { ...obj.metadata, resourceVersion: String(++this.revision) } };
    if (!p.sub) this.objects.set(this.keyOf(p.base, p.plural, p.namespace, p.name!), next);
    return next;
  }

  async mergePatch(path: string, patch: unknown): Promise<KObject> {
    this.actions.push({ verb: 'patch', path, body: patch });
    const cur = this.get(path);
    if (!cur) throw notFound(path);
    return cur;
  }

  async delete(path: string, options: Record<string, unknown> = {}): Promise<KObject> {
    const p = parse(path);
    if (!p.name) {
      this.actions.push({ verb: 'deletecollection', path, body: options });
      for (const o of this.match(path))
        this.objects.delete(this.keyOf(p.base, p.plural, o.metadata?.namespace, o.metadata!.name!));
      return {};
    }
    this.actions.push({ verb: 'delete', path, body: options });
    const cur = this.get(path);
    if (!cur) throw notFound(path);
    this.objects.delete(this.keyOf(p.base, p.plural, p.namespace, p.name));
    return cur;
  }

  watch(
    _path: string,
    _rv: string,
    _selectors: Record<string, string>,
    _onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  /** Writes so far, as `verb path` lines (bodies left out), for table-driven expectations. */
  verbs(): string[] {
    return this.actions.map((a) => `${a.verb} ${a.path}`);
  }
}

/** Informers over the fake client, started and synced; stopped by the returned function. */
export async function informers(
  client: FakeClient,
  ...paths: string[]
): Promise<{ get: (path: string) => Informer; stop: () => void }> {
  const made = new Map(paths.map((p) => [p, new Informer(client, p, quietLogger)]));
  for (const i of made.values()) i.start();
  await Promise.all([...made.values()].map((i) => i.waitForSync()));
  return { get: (p) => made.get(p)!, stop: () => made.forEach((i) => i.stop()) };
}
