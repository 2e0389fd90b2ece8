/**
 * The `kubernetes` Service's endpoints with several API servers, as Kubernetes' lease endpoint
 * reconciler keeps them: each server renews a Lease of its own in kube-system (labelled
 * `apiserver.kubernetes.io/identity`, its address and port in an annotation) every 10 s, and writes
 * `default/kubernetes` Endpoints as the addresses of the servers whose leases are live (15 s), so pods
 * reach the API through whichever servers are up. A server that stops takes its lease and address out.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../common/log.js';
import { isNotFound } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import { collectionPath, type KubeClient } from '../client/client.js';

const INTERVAL_MS = 10_000;
const LEASE_SECONDS = 15;
const IDENTITY_LABEL = 'apiserver.kubernetes.io/identity';
const ADVERTISE_ANNOTATION = 'gantry.io/advertise-address';
const LEASES = collectionPath('coordination.k8s.io/v1', 'leases', 'kube-system');
const ENDPOINTS = `${collectionPath('v1', 'endpoints', 'default')}/kubernetes`;

type Lease = KObject & { spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number } };

/** Endpoints subsets for live `host:port`s: one subset per port, addresses sorted. */
export function kubernetesSubsets(advertised: string[]): Array<Record<string, unknown>> {
  const byPort = new Map<number, Set<string>>();
  for (const a of advertised) {
    const at = a.lastIndexOf(':');
    const ip = a.slice(0, at).replace(/^\[|\]$/g, '');
    const port = Number(a.slice(at + 1));
    if (!ip || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    byPort.set(port, (byPort.get(port) ?? new Set()).add(ip));
  }
  return [...byPort]
    .sort(([a], [b]) => a - b)
    .map(([port, ips]) => ({
      addresses: [...ips].sort().map((ip) => ({ ip })),
      ports: [{ name: 'https', port, protocol: 'TCP' }],
    }));
}

export class EndpointReconciler {
  private timer: NodeJS.Timeout | undefined;
  private readonly leaseName: string;

  constructor(
    private readonly client: KubeClient,
    private readonly identity: string,
    private readonly advertise: { address: string; port: number },
    private readonly logger: Logger,
  ) {
    this.leaseName = `apiserver-${createHash('sha256').update(identity).digest('hex').slice(0, 16)}`;
  }

  start(): void {
    const tick = (): void => {
      void this.reconcile()
        .catch((err: unknown) => this.logger.warn({ err: String(err) }, 'kubernetes endpoints not reconciled'))
        .finally(() => {
          this.timer = setTimeout(tick, INTERVAL_MS);
          this.timer.unref();
        });
    };
    tick();
  }

  /** Take this server's lease and address out, so clients stop being sent here. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.client.delete(`${LEASES}/${this.leaseName}`).catch(() => undefined);
    await this.writeEndpoints(await this.liveAddresses()).catch(() => undefined);
  }

  async reconcile(): Promise<void> {
    await this.renew();
    await this.writeEndpoints(await this.liveAddresses());
  }

  private async renew(): Promise<void> {
    const host = this.advertise.address.includes(':') ? `[${this.advertise.address}]` : this.advertise.address;
    const lease: Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.leaseName,
        namespace: 'kube-system',
        labels: { [IDENTITY_LABEL]: 'kube-apiserver' },
        annotations: { [ADVERTISE_ANNOTATION]: `${host}:${this.advertise.port}` },
      },
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: LEASE_SECONDS,
        renewTime: new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'),
      },
    };
    try {
      const current = await this.client.request<Lease>('GET', `${LEASES}/${this.leaseName}`);
      await this.client.update(`${LEASES}/${this.leaseName}`, {
        ...lease,
        metadata: { ...lease.metadata, resourceVersion: current.metadata?.resourceVersion },
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.client.create(LEASES, lease);
    }
  }

  private async liveAddresses(): Promise<string[]> {
    const list = await this.client.list(LEASES, { labelSelector: `${IDENTITY_LABEL}=kube-apiserver` });
    const now = Date.now();
    return list.items
      .filter((l) => {
        const spec = (l as Lease).spec ?? {};
        const renewed = Date.parse(spec.renewTime ?? '');
        return renewed + (spec.leaseDurationSeconds ?? LEASE_SECONDS) * 1000 > now;
      })
      .map((l) => l.metadata?.annotations?.[ADVERTISE_ANNOTATION] ?? '')
      .filter(Boolean);
  }

  private async writeEndpoints(advertised: string[]): Promise<void> {
    const subsets = kubernetesSubsets(advertised);
    if (!subsets.length) return;
    const current = await this.client.request('GET', ENDPOINTS).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (!current) {
      await this.client.create(collectionPath('v1', 'endpoints', 'default'), {
        metadata: { name: 'kubernetes' },
        subsets,
      });
      return;
    }
    if (JSON.stringify(current.subsets ?? []) === JSON.stringify(subsets)) return;
    await this.client.update(ENDPOINTS, { ...current, subsets });
  }
}
