/**
 * The LoadBalancer half of the built-in ingress controller: with a LoadBalancer address pool, a
 * selector-less Service `kube-system/gantry-ingress` (ports http 80 and https 443) is kept, and its
 * Endpoints name every Ready node's InternalIP with the ports its ingress proxy announces
 * (`ingress.gantry.io/ports` on the Node). The service load balancer gives the Service an address, the
 * service proxy on every node forwards it to the proxies, and `ingress-status` reports it on Ingresses
 * — as k3s fronts Traefik with a LoadBalancer Service. One key, level-triggered.
 */
import type { Logger } from '../../common/log.js';
import { isAlreadyExists, isNotFound } from '../api/errors.js';
import { INGRESS_PORTS_ANNOTATION, INGRESS_SERVICE, parseIngressPorts } from '../api/ingress.js';
import type { KObject } from '../api/object.js';
import { isNodeReady } from '../api/pod.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';

const KEY = `${INGRESS_SERVICE.namespace}/${INGRESS_SERVICE.name}`;
const LABELS = { 'app.kubernetes.io/name': INGRESS_SERVICE.name, 'app.kubernetes.io/managed-by': 'gantry' };

type Subset = {
  addresses: Array<{ ip: string; nodeName: string }>;
  ports: Array<{ name: string; port: number; protocol: 'TCP' }>;
};

/** The Endpoints subsets for these nodes: one per distinct set of announced ports, nodes sorted. */
export function ingressSubsets(nodes: KObject[]): Subset[] {
  const bySet = new Map<string, Subset>();
  for (const n of nodes.filter(isNodeReady).sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1))) {
    const ip = (n.status as { addresses?: Array<{ type: string; address: string }> } | undefined)?.addresses?.find(
      (a) => a.type === 'InternalIP',
    )?.address;
    const ports = parseIngressPorts(n.metadata?.annotations?.[INGRESS_PORTS_ANNOTATION]);
    const list = (['http', 'https'] as const)
      .filter((k) => ports[k])
      .map((k) => ({ name: k, port: ports[k]!, protocol: 'TCP' as const }));
    if (!ip || !list.length) continue;
    const key = JSON.stringify(list);
    let subset = bySet.get(key);
    if (!subset) bySet.set(key, (subset = { addresses: [], ports: list }));
    subset.addresses.push({ ip, nodeName: n.metadata!.name! });
  }
  return [...bySet.values()];
}

export class IngressServiceController {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly nodes: Informer,
    private readonly services: Informer,
    private readonly endpoints: Informer,
    private readonly logger: Logger,
  ) {
    const again = (): void => this.queue.add(KEY);
    const ours = (o: KObject): void => {
      if (`${o.metadata?.namespace}/${o.metadata?.name}` === KEY) again();
    };
    nodes.on({ add: again, update: again, delete: again });
    for (const i of [services, endpoints]) i.on({ add: ours, update: (_old, o) => ours(o), delete: ours });
  }

  async start(): Promise<void> {
    this.queue.add(KEY);
  }

  run(): Promise<void> {
    return this.queue.run('ingress-service', () => this.sync(), this.logger);
  }

  async sync(): Promise<void> {
    const { namespace, name } = INGRESS_SERVICE;
    if (!this.services.get(KEY))
      await this.client
        .create(collectionPath('v1', 'services', namespace), {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name, namespace, labels: LABELS },
          spec: {
            type: 'LoadBalancer',
            ports: [
              { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
              { name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' },
            ],
          },
        })
        .catch((err: unknown) => {
          if (!isAlreadyExists(err)) throw err;
        });
    const subsets = ingressSubsets(this.nodes.list());
    const current = this.endpoints.get(KEY);
    if (current && JSON.stringify(current.subsets ?? []) === JSON.stringify(subsets)) return;
    const body: KObject = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name, namespace, labels: LABELS },
      subsets,
    } as KObject;
    const path = collectionPath('v1', 'endpoints', namespace);
    if (!current)
      await this.client.create(path, body).catch((err: unknown) => {
        if (!isAlreadyExists(err)) throw err;
      });
    else
      await this.client
        .update(`${path}/${name}`, { ...body, metadata: { ...current.metadata, labels: LABELS } })
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
  }
}
