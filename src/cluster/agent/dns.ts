/**
 * The cluster DNS the node agent serves (Gantry's CoreDNS): `<service>.<namespace>.svc.cluster.local`
 * answers the Service's clusterIP (a headless Service: its first ready endpoint),
 * `<a-b-c-d>.<namespace>.pod.cluster.local` answers that pod address; other names go to the host's
 * resolvers. It listens on the node's address and publishes itself as the endpoint of the `kube-dns`
 * Service in kube-system, whose clusterIP the agent gives pods as their nameserver.
 */
import type { Logger } from '../../common/log.js';
import { DnsServer } from '../../network/dns.js';
import type { KObject } from '../apiserver/objects.js';
import { ApiStatusError, collectionPath, type ApiClient } from '../client/client.js';
import type { Informer } from '../client/informer.js';

export const CLUSTER_DOMAIN = 'cluster.local';

export function clusterLookup(services: Informer, endpoints: Informer, name: string): string | undefined {
  const lower = name.toLowerCase().replace(/\.$/, '');
  const svc = new RegExp(`^([a-z0-9-]+)\\.([a-z0-9-]+)\\.svc\\.${CLUSTER_DOMAIN.replace('.', '\\.')}$`).exec(lower);
  if (svc) {
    const s = services.get(`${svc[2]}/${svc[1]}`);
    const ip = (s?.spec as { clusterIP?: string } | undefined)?.clusterIP;
    if (ip && ip !== 'None') return ip;
    if (s) return ((endpoints.get(`${svc[2]}/${svc[1]}`)?.subsets as Array<{ addresses?: Array<{ ip: string }> }> | undefined) ?? [])[0]?.addresses?.[0]?.ip;
    return undefined;
  }
  const pod = new RegExp(`^(\\d+)-(\\d+)-(\\d+)-(\\d+)\\.([a-z0-9-]+)\\.pod\\.${CLUSTER_DOMAIN.replace('.', '\\.')}$`).exec(lower);
  return pod ? pod.slice(1, 5).join('.') : undefined;
}

export class ClusterDns {
  private server?: DnsServer;

  constructor(
    private readonly client: ApiClient,
    private readonly services: Informer,
    private readonly endpoints: Informer,
    private readonly o: { address: string; port: number; nodeName: string },
    private readonly logger: Logger,
  ) {}

  /** The clusterIP pods use as their nameserver, once this server runs and the `kube-dns` Service exists. */
  nameserver(): string | undefined {
    if (!this.server) return undefined;
    const ip = (this.services.get('kube-system/kube-dns')?.spec as { clusterIP?: string } | undefined)?.clusterIP;
    return ip && ip !== 'None' ? ip : undefined;
  }

  async start(): Promise<void> {
    const server = new DnsServer(this.o.address, (name) => clusterLookup(this.services, this.endpoints, name), this.logger, this.o.port);
    await server.start();
    this.server = server;
    const endpoints: KObject = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
      subsets: [{ addresses: [{ ip: this.o.address, nodeName: this.o.nodeName }], ports: [{ name: 'dns', port: this.o.port, protocol: 'UDP' }, { name: 'dns-tcp', port: this.o.port, protocol: 'TCP' }] }],
    };
    const path = `${collectionPath('v1', 'endpoints', 'kube-system')}/kube-dns`;
    try {
      await this.client.update(path, endpoints);
    } catch (err) {
      if (!(err instanceof ApiStatusError && err.code === 404)) throw err;
      await this.client.create(collectionPath('v1', 'endpoints', 'kube-system'), endpoints);
    }
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }
}
