/**
 * The node's pod network: the engine network its pods' infrastructure containers join, made from the
 * `spec.podCIDR` the controller manager's node IPAM gave this Node (as a CNI bridge plugin with
 * host-local IPAM would use it), so every node's pods have addresses of their own. Without a range
 * (no node IPAM running), pods use the engine's default bridge as before.
 */
import type { Logger } from '../../common/log.js';
import { ApiError as EngineError, type ApiClient as EngineClient } from '../../api/docker/client.js';
import { firstHost, parseCidr, subnetText } from '../../network/ipnet.js';
import type { KubeClient } from '../client/client.js';

export const POD_NETWORK = 'k8s-pods';
const WAIT_FOR_RANGE_MS = 10_000;
const POLL_MS = 200;

interface EngineNetwork {
  Name: string;
  IPAM?: { Config?: Array<{ Subnet?: string }> };
  Containers?: Record<string, unknown>;
}

export class PodNetwork {
  /** The engine network pods join, once made; undefined: the engine's default bridge. */
  private network?: string;

  constructor(
    private readonly client: KubeClient,
    private readonly engine: EngineClient,
    private readonly nodeName: string,
    private readonly logger: Logger,
  ) {}

  /** Wait (a while) for this node's range, then make sure the engine network has exactly it. */
  async ensure(): Promise<void> {
    const cidr = await this.podCidr();
    if (!cidr) {
      this.logger.warn({ node: this.nodeName }, 'no podCIDR assigned; pods use the engine default bridge');
      return;
    }
    const subnet = subnetText(parseCidr(cidr));
    const existing = await this.engine.json<EngineNetwork>('GET', `/networks/${POD_NETWORK}`).catch((err: unknown) => {
      if (err instanceof EngineError && err.status === 404) return undefined;
      throw err;
    });
    const has = existing?.IPAM?.Config?.[0]?.Subnet;
    if (existing && has !== subnet) {
      if (Object.keys(existing.Containers ?? {}).length) {
        this.logger.error({ has, want: subnet }, 'the pod network has another range and is in use; keeping it');
        this.network = POD_NETWORK;
        return;
      }
      await this.engine.call('DELETE', `/networks/${POD_NETWORK}`);
    }
    if (!existing || has !== subnet) {
      await this.engine.json('POST', '/networks/create', {
        body: {
          Name: POD_NETWORK,
          Driver: 'bridge',
          CheckDuplicate: true,
          IPAM: { Driver: 'default', Config: [{ Subnet: subnet, Gateway: firstHost(parseCidr(subnet)) }] },
          // Other nodes route to pods directly (host-gw), so the bridge lets connections in.
          Options: { 'com.docker.network.bridge.gateway_mode_ipv4': 'nat-unprotected' },
          Labels: { 'io.gantry.node': this.nodeName },
        },
      });
      this.logger.info({ network: POD_NETWORK, subnet }, 'pod network made');
    }
    this.network = POD_NETWORK;
  }

  /** The NetworkMode an infrastructure container gets (undefined: the engine's default). */
  networkMode(): string | undefined {
    return this.network;
  }

  /** A pod's address, read from its infrastructure container. */
  addressOf(infra: {
    NetworkSettings?: { IPAddress?: string; Networks?: Record<string, { IPAddress?: string }> };
  }): string | undefined {
    const settings = infra.NetworkSettings;
    return (this.network && settings?.Networks?.[this.network]?.IPAddress) || settings?.IPAddress || undefined;
  }

  private async podCidr(): Promise<string | undefined> {
    const end = Date.now() + WAIT_FOR_RANGE_MS;
    for (;;) {
      const node = await this.client.request('GET', `/api/v1/nodes/${encodeURIComponent(this.nodeName)}`);
      const cidr = (node.spec as { podCIDR?: string } | undefined)?.podCIDR;
      if (cidr) return cidr;
      if (Date.now() > end) return undefined;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}
