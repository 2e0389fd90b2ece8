/**
 * The cluster DNS the node agent serves (Gantry's CoreDNS): `<service>.<namespace>.svc.cluster.local`
 * answers the Service's clusterIP (a headless Service: its first ready endpoint),
 * `<hostname>.<service>.<namespace>.svc.cluster.local` the pod of that hostname and subdomain (a
 * StatefulSet's `web-0.nginx.default.svc.cluster.local`),
 * `<a-b-c-d>.<namespace>.pod.cluster.local` answers that pod address; other names go to the host's
 * resolvers. It listens on the node's address and announces its port on the node's own object; the
 * endpoints controller makes the announcing nodes the endpoints of the `kube-dns` Service in
 * kube-system, whose clusterIP the agent gives pods as their nameserver.
 */
import type { Logger } from '../../common/log.js';
import { DnsServer } from '../../network/dns.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import { CLUSTER_DNS_PORT_ANNOTATION } from '../api/wellknown.js';
import type { Informer } from '../client/informer.js';

export const CLUSTER_DOMAIN = 'cluster.local';

export function clusterLookup(services: Informer, endpoints: Informer, name: string): string | undefined {
  const lower = name.toLowerCase().replace(/\.$/, '');
  const svc = new RegExp(`^([a-z0-9-]+)\\.([a-z0-9-]+)\\.svc\\.${CLUSTER_DOMAIN.replace('.', '\\.')}$`).exec(lower);
  if (svc) {
    const s = services.get(`${svc[2]}/${svc[1]}`);
    const ip = (s?.spec as { clusterIP?: string } | undefined)?.clusterIP;
    if (ip && ip !== 'None') return ip;
    if (s)
      return ((endpoints.get(`${svc[2]}/${svc[1]}`)?.subsets as
        Array<{ addresses?: Array<{ ip: string }> }> | undefined) ?? [])[0]?.addresses?.[0]?.ip;
    return undefined;
  }
  const host = new RegExp(
    `^([a-z0-9-]+)\\.([a-z0-9-]+)\\.([a-z0-9-]+)\\.svc\\.${CLUSTER_DOMAIN.replace('.', '\\.')}$`,
  ).exec(lower);
  if (host) {
    const subsets =
      (endpoints.get(`${host[3]}/${host[2]}`)?.subsets as
        Array<{ addresses?: Array<{ ip: string; hostname?: string }> }> | undefined) ?? [];
    return subsets.flatMap((s) => s.addresses ?? []).find((a) => a.hostname === host[1])?.ip;
  }
  const pod = new RegExp(
    `^(\\d+)-(\\d+)-(\\d+)-(\\d+)\\.([a-z0-9-]+)\\.pod\\.${CLUSTER_DOMAIN.replace('.', '\\.')}$`,
  ).exec(lower);
  return pod ? pod.slice(1, 5).join('.') : undefined;
}

export class ClusterDns {
  private server?: DnsServer;

  constructor(
    private readonly client: KubeClient,
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
    const server = new DnsServer(
      this.o.address,
      (name) => clusterLookup(this.services, this.endpoints, name),
      this.logger,
      this.o.port,
    );
    await server.start();
    this.server = server;
    // Announced on the node's own object: the endpoints controller points kube-dns at announcing nodes.
    const patch = { metadata: { annotations: { [CLUSTER_DNS_PORT_ANNOTATION]: String(this.o.port) } } };
    await this.client.request(
      'PATCH',
      `${collectionPath('v1', 'nodes')}/${this.o.nodeName}`,
      patch,
      'application/merge-patch+json',
    );
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }
}
