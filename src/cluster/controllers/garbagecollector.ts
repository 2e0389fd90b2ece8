/**
 * The garbage collector, after Kubernetes' `pkg/controller/garbagecollector`: informers on every
 * resource build a graph of owners and dependents (by UID), and a work queue of UIDs brings each one to
 * its rule — a dependent whose owners are all gone is deleted, one with some gone loses those
 * references; an owner being deleted with the `orphan` finalizer first frees its dependents, one with
 * `foregroundDeletion` first deletes them and waits until they are gone; then the finalizer is cleared
 * and the API server removes the owner. Everything is level-triggered: after a restart the informers'
 * lists enqueue every object again and unfinished work resumes.
 */
import { isNotFound } from '../api/errors.js';
import type { Logger } from '../../common/log.js';
import type { KObject } from '../api/object.js';
import { ApiStatusError, collectionPath, type KubeClient } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';
import { discoverResources, groupOf, objectPath, type ApiResource } from './resources.js';

export const ORPHAN_FINALIZER = 'orphan';
export const FOREGROUND_FINALIZER = 'foregroundDeletion';
/** Kinds never owned or owning, as Kubernetes' collector ignores them. */
const IGNORED = new Set(['events', 'events.k8s.io/events']);
const REDISCOVER_MS = 30_000;

interface OwnerRef {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

interface GraphNode {
  uid: string;
  resource: ApiResource;
  namespace?: string;
  name: string;
  owners: OwnerRef[];
  deleting: boolean;
  finalizers: string[];
}

const ownersOf = (o: KObject): OwnerRef[] => (o.metadata?.ownerReferences as OwnerRef[] | undefined) ?? [];

export class GarbageCollector {
  readonly queue = new WorkQueue();
  private readonly informers = new Map<string, Informer>();
  private readonly byKind = new Map<string, ApiResource>();
  private readonly nodes = new Map<string, GraphNode>();
  private readonly dependents = new Map<string, Set<string>>();
  private rediscovery?: NodeJS.Timeout;

  constructor(
    private readonly client: KubeClient,
    private readonly logger: Logger,
  ) {}

  /** Watch every resource, wait for the first lists, then enqueue every object with work to do. */
  async start(): Promise<void> {
    await this.discover();
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
    for (const n of this.nodes.values()) if (n.owners.length || n.deleting) this.queue.add(n.uid);
    this.rediscovery = setInterval(() => {
      this.discover().catch((err: unknown) => this.logger.warn({ err: String(err) }, 'rediscovery failed'));
    }, REDISCOVER_MS);
    this.rediscovery.unref();
  }

  run(): Promise<void> {
    return this.queue.run('garbagecollector', (uid) => this.sync(uid), this.logger, 4);
  }

  stop(): void {
    if (this.rediscovery) clearInterval(this.rediscovery);
    this.queue.stop();
    for (const i of this.informers.values()) i.stop();
  }

  /** Informers for resources not watched yet (custom resources appear while running). */
  private async discover(): Promise<void> {
    for (const r of await discoverResources(this.client)) {
      const id = r.group ? `${r.group}/${r.plural}` : r.plural;
      this.byKind.set(`${r.group}/${r.kind}`, r);
      if (this.informers.has(id) || IGNORED.has(id)) continue;
      if (!['list', 'watch', 'delete'].every((v) => r.verbs.includes(v))) continue;
      // Metadata only, as Kubernetes' collector: owners, finalizers and deletion are all it reads.
      const informer = new Informer(
        this.client,
        collectionPath(r.apiVersion, r.plural),
        this.logger,
        {},
        {
          metadataOnly: true,
        },
      );
      informer.on({
        add: (o) => this.observe(r, o),
        update: (_old, o) => this.observe(r, o),
        delete: (o) => this.forget(o),
      });
      this.informers.set(id, informer);
      informer.start();
    }
  }

  private observe(resource: ApiResource, o: KObject): void {
    const uid = o.metadata?.uid;
    if (!uid) return;
    const before = this.nodes.get(uid);
    const node: GraphNode = {
      uid,
      resource,
      namespace: o.metadata?.namespace,
      name: o.metadata?.name ?? '',
      owners: ownersOf(o),
      deleting: !!o.metadata?.deletionTimestamp,
      finalizers: o.metadata?.finalizers ?? [],
    };
    for (const ref of before?.owners ?? []) this.dependents.get(ref.uid)?.delete(uid);
    for (const ref of node.owners) {
      let set = this.dependents.get(ref.uid);
      if (!set) this.dependents.set(ref.uid, (set = new Set()));
      set.add(uid);
    }
    this.nodes.set(uid, node);
    if (node.owners.length || node.deleting) this.queue.add(uid);
    // An owner deleted in the foreground waits for this dependent; a change may be what it waits for.
    for (const ref of node.owners) if (this.nodes.get(ref.uid)?.deleting) this.queue.add(ref.uid);
  }

  private forget(o: KObject): void {
    const uid = o.metadata?.uid;
    const node = uid ? this.nodes.get(uid) : undefined;
    if (!uid || !node) return;
    this.nodes.delete(uid);
    for (const ref of node.owners) {
      this.dependents.get(ref.uid)?.delete(uid);
      if (this.nodes.has(ref.uid)) this.queue.add(ref.uid);
    }
    for (const dependent of this.dependents.get(uid) ?? []) this.queue.add(dependent);
  }

  async sync(uid: string): Promise<void> {
    const node = this.nodes.get(uid);
    if (!node) return;
    if (node.deleting) {
      if (node.finalizers.includes(ORPHAN_FINALIZER)) return this.orphanDependents(node);
      if (node.finalizers.includes(FOREGROUND_FINALIZER)) return this.deleteDependentsFirst(node);
      return;
    }
    if (!node.owners.length) return;
    const gone: OwnerRef[] = [];
    for (const ref of node.owners) if (!(await this.ownerExists(node, ref))) gone.push(ref);
    if (!gone.length) return;
    if (gone.length === node.owners.length) {
      this.logger.info({ kind: node.resource.kind, namespace: node.namespace, name: node.name }, 'collecting');
      await this.ignoreGone(
        this.client.delete(objectPath(node.resource, node.namespace, node.name), {
          propagationPolicy: 'Background',
          preconditions: { uid: node.uid },
        }),
      );
      return;
    }
    const goneUids = new Set(gone.map((g) => g.uid));
    await this.rewrite(node, (o) => this.withoutOwners(o, goneUids));
  }

  /**
   * Whether an owner exists: in the graph, or — as the graph may not have seen a new owner yet — by
   * reading it, with the UID compared. An owner of an unknown kind is assumed present.
   */
  private async ownerExists(node: GraphNode, ref: OwnerRef): Promise<boolean> {
    if (this.nodes.has(ref.uid)) return true;
    const resource = this.byKind.get(`${groupOf(ref.apiVersion)}/${ref.kind}`);
    if (!resource || (resource.namespaced && !node.namespace)) return true;
    try {
      const owner = await this.client.request('GET', objectPath(resource, node.namespace, ref.name));
      return owner.metadata?.uid === ref.uid;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private dependentsOf(uid: string): GraphNode[] {
    return [...(this.dependents.get(uid) ?? [])].map((d) => this.nodes.get(d)).filter((d): d is GraphNode => !!d);
  }

  private async orphanDependents(owner: GraphNode): Promise<void> {
    for (const d of this.dependentsOf(owner.uid))
      await this.rewrite(d, (o) => this.withoutOwners(o, new Set([owner.uid])));
    await this.rewrite(owner, (o) => this.withoutFinalizer(o, ORPHAN_FINALIZER));
  }

  private async deleteDependentsFirst(owner: GraphNode): Promise<void> {
    const left = this.dependentsOf(owner.uid);
    if (!left.length) {
      await this.rewrite(owner, (o) => this.withoutFinalizer(o, FOREGROUND_FINALIZER));
      return;
    }
    for (const d of left.filter((x) => !x.deleting))
      await this.ignoreGone(
        this.client.delete(objectPath(d.resource, d.namespace, d.name), {
          propagationPolicy: 'Foreground',
          preconditions: { uid: d.uid },
        }),
      );
  }

  private withoutOwners(o: KObject, uids: Set<string>): KObject {
    const left = ownersOf(o).filter((r) => !uids.has(r.uid));
    const { ownerReferences: _all, ...metadata } = o.metadata ?? {};
    return { ...o, metadata: left.length ? { ...metadata, ownerReferences: left } : metadata };
  }

  private withoutFinalizer(o: KObject, finalizer: string): KObject {
    return {
      ...o,
      metadata: { ...o.metadata, finalizers: (o.metadata?.finalizers ?? []).filter((f) => f !== finalizer) },
    };
  }

  /** Read, change and write back one object, again on a conflict; gone or replaced (another UID) is done. */
  private async rewrite(node: GraphNode, change: (o: KObject) => KObject): Promise<void> {
    const path = objectPath(node.resource, node.namespace, node.name);
    for (let attempt = 0; ; attempt++) {
      let current: KObject;
      try {
        current = await this.client.request('GET', path);
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      if (current.metadata?.uid !== node.uid) return;
      try {
        await this.client.update(path, change(current));
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!(err instanceof ApiStatusError && err.code === 409) || attempt >= 5) throw err;
      }
    }
  }

  private async ignoreGone(p: Promise<unknown>): Promise<void> {
    await p.catch((err: unknown) => {
      if (err instanceof ApiStatusError && (err.code === 404 || err.code === 409)) return;
      throw err;
    });
  }
}
