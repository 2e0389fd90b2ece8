/**
 * The namespace controller, after Kubernetes' `pkg/controller/namespace`: a namespace being deleted is
 * emptied resource by resource (deletecollection, no grace), looked at again until nothing is left —
 * objects held by finalizers keep it — and then its `kubernetes` finalizer is cleared through the
 * `finalize` subresource, after which the API server removes it. Level-triggered: a restart finds
 * Terminating namespaces in the informer's first list and carries on.
 */
import { isNotFound } from '../api/errors.js';
import type { Logger } from '../../common/log.js';
import type { KObject } from '../api/object.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';
import { discoverResources, type ApiResource } from './resources.js';

const NAMESPACE_FINALIZER = 'kubernetes';
const RECHECK_MIN_MS = 250;
const RECHECK_MAX_MS = 2000;
/** How long discovery's answer is reused: resources change only with CRDs. */
const DISCOVERY_TTL_MS = 30_000;

export class NamespaceController {
  readonly queue = new WorkQueue();
  private readonly rechecks = new Map<string, number>();
  private discovered?: { at: number; resources: Promise<ApiResource[]> };

  constructor(
    private readonly client: KubeClient,
    private readonly namespaces: Informer,
    private readonly logger: Logger,
  ) {
    namespaces.on({
      add: (o) => this.enqueue(o),
      update: (_old, o) => this.enqueue(o),
      delete: (o) => this.rechecks.delete(o.metadata?.name ?? ''),
    });
  }

  private enqueue(o: KObject): void {
    if (o.metadata?.deletionTimestamp && o.metadata.name) this.queue.add(o.metadata.name);
  }

  run(): Promise<void> {
    return this.queue.run('namespace', (name) => this.sync(name), this.logger);
  }

  async sync(name: string): Promise<void> {
    const ns = this.namespaces.get(name);
    if (!ns?.metadata?.deletionTimestamp) return;
    const resources = (await this.resources()).filter(
      (r) => r.namespaced && ['list', 'deletecollection'].every((v) => r.verbs.includes(v)),
    );
    let left = 0;
    for (const r of resources) left += await this.empty(r, name);
    if (left) {
      // Something is held by a finalizer (or was created meanwhile): look again, a little later each time.
      const delay = Math.min(RECHECK_MAX_MS, (this.rechecks.get(name) ?? RECHECK_MIN_MS / 2) * 2);
      this.rechecks.set(name, delay);
      this.queue.addAfter(name, delay);
      return;
    }
    this.rechecks.delete(name);
    const finalizers = ((ns.spec?.finalizers as string[] | undefined) ?? []).filter((f) => f !== NAMESPACE_FINALIZER);
    await this.client
      .update(`/api/v1/namespaces/${encodeURIComponent(name)}/finalize`, {
        ...ns,
        metadata: { ...ns.metadata, resourceVersion: undefined },
        spec: { ...ns.spec, finalizers },
      })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }

  /** The namespaced resources, from discovery at most every 30 s (a failed discovery is not kept). */
  private resources(): Promise<ApiResource[]> {
    if (!this.discovered || Date.now() - this.discovered.at > DISCOVERY_TTL_MS) {
      const resources = discoverResources(this.client);
      resources.catch(() => (this.discovered = undefined));
      this.discovered = { at: Date.now(), resources };
    }
    return this.discovered.resources;
  }

  /** Delete what one resource holds in the namespace; answers how many objects are still there. */
  private async empty(r: ApiResource, namespace: string): Promise<number> {
    const path = collectionPath(r.apiVersion, r.plural, namespace);
    const before = await this.client.list(path, { limit: '1' });
    if (!before.items.length) return 0;
    await this.client.delete(path, { gracePeriodSeconds: 0 });
    return (await this.client.list(path, { limit: '1' })).items.length;
  }
}
