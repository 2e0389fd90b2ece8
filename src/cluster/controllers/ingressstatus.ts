/**
 * The status half of the built-in ingress controller: every node's agent proxies the `gantry` class's
 * Ingresses on its own address, so each such Ingress reports in `status.loadBalancer.ingress` (what
 * `kubectl get ingress` shows as ADDRESS) the address of the `gantry-ingress` LoadBalancer Service when
 * it has one (`ingressservice`), else the InternalIPs of the Ready nodes, kept as they change.
 */
import type { Logger } from '../../common/log.js';
import { isNotFound } from '../api/errors.js';
import { INGRESS_SERVICE, isGantryIngress } from '../api/ingress.js';
import { ingressIps } from '../api/service.js';
import type { KObject } from '../api/object.js';
import { isNodeReady } from '../api/pod.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import { keyOf, type Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';

export class IngressStatusController {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly ingresses: Informer,
    private readonly nodes: Informer,
    private readonly services: Informer,
    private readonly logger: Logger,
  ) {
    const one = (o: KObject): void => this.queue.add(keyOf(o));
    ingresses.on({ add: one, update: (_old, o) => one(o) });
    const all = (): void => {
      for (const i of this.ingresses.list()) one(i);
    };
    nodes.on({ add: all, update: all, delete: all });
    const ours = (o: KObject): void => {
      if (o.metadata?.namespace === INGRESS_SERVICE.namespace && o.metadata?.name === INGRESS_SERVICE.name) all();
    };
    services.on({ add: ours, update: (_old, o) => ours(o), delete: ours });
  }

  run(): Promise<void> {
    return this.queue.run('ingress-status', (key) => this.sync(key), this.logger);
  }

  /** The addresses the proxies answer on: the ingress Service's LoadBalancer ones, else every Ready node's InternalIP, sorted. */
  addresses(): string[] {
    const service = this.services.get(`${INGRESS_SERVICE.namespace}/${INGRESS_SERVICE.name}`);
    const balanced = service ? ingressIps(service) : [];
    if (balanced.length) return [...balanced].sort();
    return this.nodes
      .list()
      .filter(isNodeReady)
      .map((n) => (n.status as { addresses?: Array<{ type: string; address: string }> } | undefined)?.addresses)
      .map((a) => a?.find((x) => x.type === 'InternalIP')?.address)
      .filter((ip): ip is string => !!ip)
      .sort();
  }

  async sync(key: string): Promise<void> {
    const ing = this.ingresses.get(key);
    if (!ing || !isGantryIngress(ing) || ing.metadata?.deletionTimestamp) return;
    const want = { ingress: this.addresses().map((ip) => ({ ip })) };
    const have = (ing.status as { loadBalancer?: unknown } | undefined)?.loadBalancer ?? {};
    if (JSON.stringify(have) === JSON.stringify(want)) return;
    const meta = ing.metadata!;
    await this.client
      .update(`${collectionPath('networking.k8s.io/v1', 'ingresses', meta.namespace)}/${meta.name}/status`, {
        ...ing,
        status: { ...ing.status, loadBalancer: want },
      })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }
}
