/**
 * Node IPAM, after kube-controller-manager's range allocator: every Node gets a `spec.podCIDR` (and
 * `podCIDRs`), a /24 of `--cluster-cidr` no other node has, which its agent turns into the pod network
 * on that machine. The ranges in use are rebuilt from the node informer, so a restart never hands
 * one out twice; a node's range is never changed once set.
 */
import { isNotFound } from '../api/errors.js';
import type { Logger } from '../../common/log.js';
import { intToIp, parseCidr, type Subnet } from '../../network/ipnet.js';
import type { KObject } from '../api/object.js';
import { type KubeClient } from '../client/client.js';
import type { Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';
import { nodePodCidr } from '../api/pod.js';

export const NODE_CIDR_BITS = 24;

/** The cluster CIDR as a pool of /24s; refused unless an IPv4 range of /24 or wider, on its boundary. */
export function parseClusterCidr(cidr: string): Subnet {
  let s: Subnet & { ip: number };
  try {
    s = parseCidr(cidr);
  } catch {
    throw new Error(`invalid --cluster-cidr ${JSON.stringify(cidr)}: give an IPv4 CIDR such as 10.42.0.0/16`);
  }
  if (s.bits > NODE_CIDR_BITS || s.bits < 8)
    throw new Error(`invalid --cluster-cidr ${cidr}: the prefix must be between /8 and /${NODE_CIDR_BITS}`);
  if (s.ip !== s.base) throw new Error(`invalid --cluster-cidr ${cidr}: not a network address (${intToIp(s.base)})`);
  return s;
}

export class NodeIpamController {
  readonly queue = new WorkQueue();
  /** Ranges handed out, by their base address, with the node that has each. */
  private readonly used = new Map<number, string>();

  constructor(
    private readonly client: KubeClient,
    private readonly nodes: Informer,
    private readonly clusterCidr: Subnet,
    private readonly logger: Logger,
  ) {
    nodes.on({
      add: (n) => this.observe(n),
      update: (_old, n) => this.observe(n),
      delete: (n) => {
        const cidr = nodePodCidr(n);
        if (cidr) this.used.delete(parseCidr(cidr).base);
      },
    });
    // Ranges of nodes the informer already holds are taken before any is handed out.
    for (const n of nodes.list()) this.observe(n);
  }

  private observe(n: KObject): void {
    const cidr = nodePodCidr(n);
    if (cidr) {
      try {
        this.used.set(parseCidr(cidr).base, n.metadata?.name ?? '');
      } catch {
        this.logger.warn({ node: n.metadata?.name, podCIDR: cidr }, 'a node has an invalid podCIDR');
      }
      return;
    }
    if (n.metadata?.name) this.queue.add(n.metadata.name);
  }

  run(): Promise<void> {
    // One worker: two nodes are never given the same range by concurrent syncs.
    return this.queue.run('nodeipam', (name) => this.sync(name), this.logger, 1);
  }

  /** The lowest free /24 of the cluster CIDR. */
  private nextFree(): string | undefined {
    const count = 2 ** (NODE_CIDR_BITS - this.clusterCidr.bits);
    const size = 2 ** (32 - NODE_CIDR_BITS);
    for (let i = 0; i < count; i++) {
      const base = (this.clusterCidr.base + i * size) >>> 0;
      if (!this.used.has(base)) return `${intToIp(base)}/${NODE_CIDR_BITS}`;
    }
    return undefined;
  }

  async sync(name: string): Promise<void> {
    const node = this.nodes.get(name);
    if (!node || nodePodCidr(node)) return;
    // A range this controller gave the node already, which the informer has not seen come back yet.
    for (const owner of this.used.values()) if (owner === name) return;
    const cidr = this.nextFree();
    if (!cidr) {
      this.logger.error(
        { node: name, clusterCidr: `${intToIp(this.clusterCidr.base)}/${this.clusterCidr.bits}` },
        'no pod range left for the node',
      );
      return;
    }
    this.used.set(parseCidr(cidr).base, name);
    try {
      await this.client.mergePatch(`/api/v1/nodes/${encodeURIComponent(name)}`, {
        spec: { podCIDR: cidr, podCIDRs: [cidr] },
      });
      this.logger.info({ node: name, podCIDR: cidr }, 'pod range assigned');
    } catch (err) {
      this.used.delete(parseCidr(cidr).base);
      if (isNotFound(err)) return;
      throw err;
    }
  }
}
