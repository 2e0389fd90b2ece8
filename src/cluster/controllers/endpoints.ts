/**
 * The endpoints controller: for each Service with a selector, the addresses of the pods it selects, in
 * an Endpoints object (ready pods in `addresses`, the others in `notReadyAddresses`) and an EndpointSlice
 * labelled `kubernetes.io/service-name`, with each service port's targetPort resolved (a name is looked up
 * among each pod's container ports). Services without a selector keep the endpoints their owners write,
 * but for the cluster DNS: `kube-system/kube-dns` points at the Ready nodes whose agent serves DNS (the
 * port in their `gantry.io/cluster-dns-port` annotation), so no node needs to write Endpoints.
 */
import { isNotFound } from '../api/errors.js';
import type { Logger } from '../../common/log.js';
import { labelsMatch } from '../../common/labels.js';
import type { KObject } from '../api/object.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import { BY_NAMESPACE, keyOf, type Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';
import { isPort } from '../api/validation.js';
import { CLUSTER_DNS_PORT_ANNOTATION } from '../api/wellknown.js';
import { isNodeReady, isPodReady, nodeInternalIp } from '../api/pod.js';
import type { PodSpec } from '../api/types.js';

const CLUSTER_DNS = 'kube-system/kube-dns';

type ServicePort = { name?: string; port: number; protocol?: string; targetPort?: number | string };

export class EndpointsController {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly services: Informer,
    private readonly pods: Informer,
    private readonly nodes: Informer,
    private readonly logger: Logger,
  ) {
    services.addIndex(BY_NAMESPACE);
    pods.addIndex(BY_NAMESPACE);
    services.on({ add: (s) => this.queue.add(keyOf(s)), update: (_o, s) => this.queue.add(keyOf(s)) });
    const dns = (): void => this.queue.add(CLUSTER_DNS);
    nodes.on({ add: dns, update: dns, delete: dns });
    const touched = (p: KObject): void => {
      for (const s of services.byIndex(BY_NAMESPACE, p.metadata?.namespace ?? '')) this.queue.add(keyOf(s));
    };
    pods.on({ add: touched, update: (_o, p) => touched(p), delete: touched });
  }

  run(): Promise<void> {
    return this.queue.run('endpoints', (key) => this.sync(key), this.logger);
  }

  async sync(key: string): Promise<void> {
    const svc = this.services.get(key);
    const selector = (svc?.spec as { selector?: Record<string, string> } | undefined)?.selector;
    if (svc && key === CLUSTER_DNS && !selector) return this.clusterDns();
    if (!svc || !selector || !Object.keys(selector).length) return;
    const ns = svc.metadata!.namespace!;
    const name = svc.metadata!.name!;
    const ports = ((svc.spec as { ports?: ServicePort[] }).ports ?? []) as ServicePort[];
    const selected = this.pods.byIndex(BY_NAMESPACE, ns).filter(
      (p) =>
        !p.metadata?.deletionTimestamp &&
        (p.status as { podIP?: string } | undefined)?.podIP &&
        labelsMatch(
          p.metadata?.labels ?? {},
          Object.entries(selector).map(([k, v]) => `${k}=${v}`),
        ),
    );
    // Pods that resolve the service's ports alike share a subset.
    const subsets = new Map<
      string,
      { ports: Array<{ name?: string; port: number; protocol: string }>; ready: KObject[]; notReady: KObject[] }
    >();
    for (const pod of selected) {
      const resolved = ports.map((p) => ({
        ...(p.name ? { name: p.name } : {}),
        port: resolveTargetPort(p, pod),
        protocol: p.protocol ?? 'TCP',
      }));
      if (resolved.some((p) => !p.port)) continue;
      const id = JSON.stringify(resolved);
      const subset = subsets.get(id) ?? { ports: resolved, ready: [], notReady: [] };
      (isPodReady(pod) ? subset.ready : subset.notReady).push(pod);
      subsets.set(id, subset);
    }
    // A pod whose subdomain is this Service has a DNS name of its own here (a StatefulSet's `web-0`).
    const hostnameOf = (p: KObject): string | undefined => {
      const spec = p.spec as PodSpec;
      return spec.hostname && spec.subdomain === name ? spec.hostname : undefined;
    };
    const address = (p: KObject): Record<string, unknown> => ({
      ip: (p.status as { podIP: string }).podIP,
      ...(hostnameOf(p) ? { hostname: hostnameOf(p) } : {}),
      ...((p.spec as PodSpec).nodeName ? { nodeName: (p.spec as PodSpec).nodeName } : {}),
      targetRef: { kind: 'Pod', namespace: ns, name: p.metadata!.name, uid: p.metadata!.uid },
    });
    const endpoints: KObject = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name, namespace: ns, labels: svc.metadata?.labels },
      subsets: [...subsets.values()].map((s) => ({
        ...(s.ready.length ? { addresses: s.ready.map(address) } : {}),
        ...(s.notReady.length ? { notReadyAddresses: s.notReady.map(address) } : {}),
        ports: s.ports,
      })),
    };
    const all = [...subsets.values()];
    const slice: KObject = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name,
        namespace: ns,
        labels: {
          'kubernetes.io/service-name': name,
          'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
        },
        ownerReferences: [
          {
            apiVersion: 'v1',
            kind: 'Service',
            name,
            uid: svc.metadata!.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      addressType: 'IPv4',
      endpoints: all
        .flatMap((s) => [...s.ready.map((p) => [p, true] as const), ...s.notReady.map((p) => [p, false] as const)])
        .map(([p, ready]) => ({
          addresses: [(p.status as { podIP: string }).podIP],
          conditions: { ready, serving: ready, terminating: false },
          ...(hostnameOf(p) ? { hostname: hostnameOf(p) } : {}),
          ...((p.spec as PodSpec).nodeName ? { nodeName: (p.spec as PodSpec).nodeName } : {}),
          targetRef: { kind: 'Pod', namespace: ns, name: p.metadata!.name, uid: p.metadata!.uid },
        })),
      ports:
        all[0]?.ports ??
        ports.map((p) => ({
          ...(p.name ? { name: p.name } : {}),
          port: typeof p.targetPort === 'number' ? p.targetPort : p.port,
          protocol: p.protocol ?? 'TCP',
        })),
    };
    await this.write(
      collectionPath('v1', 'endpoints', ns),
      name,
      endpoints,
      (cur) => JSON.stringify(cur.subsets ?? []) === JSON.stringify(endpoints.subsets),
    );
    await this.write(
      collectionPath('discovery.k8s.io/v1', 'endpointslices', ns),
      name,
      slice,
      (cur) => JSON.stringify([cur.endpoints ?? [], cur.ports]) === JSON.stringify([slice.endpoints, slice.ports]),
    );
  }

  /** The cluster DNS's endpoints: the InternalIP of each Ready node whose agent announced its DNS port. */
  private async clusterDns(): Promise<void> {
    const addresses: Array<{ ip: string; nodeName: string }> = [];
    let port = 0;
    for (const node of this.nodes.list()) {
      const announced = Number(node.metadata?.annotations?.[CLUSTER_DNS_PORT_ANNOTATION]);
      const ip = nodeInternalIp(node);
      if (!isPort(announced) || !ip || !isNodeReady(node)) continue;
      // One port for the Service: nodes that chose another are left out (the tests run agents with their own).
      port ||= announced;
      if (announced === port) addresses.push({ ip, nodeName: node.metadata!.name! });
    }
    addresses.sort((a, b) => a.nodeName.localeCompare(b.nodeName));
    const [ns, name] = CLUSTER_DNS.split('/') as [string, string];
    const endpoints: KObject = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name, namespace: ns, labels: { 'k8s-app': 'kube-dns' } },
      subsets: addresses.length
        ? [
            {
              addresses,
              ports: [
                { name: 'dns', port, protocol: 'UDP' },
                { name: 'dns-tcp', port, protocol: 'TCP' },
              ],
            },
          ]
        : [],
    };
    await this.write(
      collectionPath('v1', 'endpoints', ns),
      name,
      endpoints,
      (cur) => JSON.stringify(cur.subsets ?? []) === JSON.stringify(endpoints.subsets),
    );
  }

  /** Create the object, or replace it when it differs. */
  private async write(collection: string, name: string, obj: KObject, same: (cur: KObject) => boolean): Promise<void> {
    let cur: KObject | undefined;
    try {
      cur = await this.client.request('GET', `${collection}/${name}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!cur) {
      await this.client.create(collection, obj);
      return;
    }
    if (same(cur)) return;
    await this.client.update(`${collection}/${name}`, {
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: cur.metadata?.resourceVersion },
    });
  }
}

/** A service port's targetPort on one pod: a number, or a container port's name. */
function resolveTargetPort(p: ServicePort, pod: KObject): number {
  const target = p.targetPort ?? p.port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  for (const c of (pod.spec as PodSpec).containers ?? [])
    for (const cp of c.ports ?? [])
      if (cp.name === target && (cp.protocol ?? 'TCP') === (p.protocol ?? 'TCP')) return cp.containerPort ?? 0;
  return 0;
}
