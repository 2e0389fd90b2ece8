/**
 * Pod traffic between nodes, as flannel's host-gw backend carries it: for every other Node with a
 * `spec.podCIDR` inside the cluster's pod range, a route to that range via the node's InternalIP, kept
 * as Nodes come, change and go; and traffic from pods to pods leaves this node unmasqueraded (a `RETURN`
 * ahead of the engine's MASQUERADE), so pods see each other's own addresses. It needs the nodes on one
 * link, as a local cluster's are on its node LAN; the agent runs it when given `--cluster-cidr`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../../common/log.js';
import { contains, parseCidr, subnetText, type Subnet } from '../../network/ipnet.js';
import { nodeInternalIp, nodePodCidr } from '../api/pod.js';
import type { KObject } from '../api/object.js';
import type { Informer } from '../client/informer.js';

const run = promisify(execFile);

interface Route {
  cidr: string;
  via: string;
}

/** The route another node's pods need, or undefined when it has no usable range or address yet. */
export function routeFor(node: KObject, clusterCidr: Subnet): Route | undefined {
  const podCidr = nodePodCidr(node);
  const via = nodeInternalIp(node);
  if (!podCidr || !via) return undefined;
  let range: Subnet;
  try {
    range = parseCidr(podCidr);
  } catch {
    return undefined;
  }
  // A range outside the cluster's is not ours to route (and could shadow the node's own networks).
  if (range.bits < clusterCidr.bits || !contains(clusterCidr, range.base)) return undefined;
  return { cidr: subnetText(range), via };
}

export class PodRoutes {
  private readonly routes = new Map<string, Route>();
  private readonly cluster: Subnet;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly nodes: Informer,
    private readonly nodeName: string,
    clusterCidr: string,
    private readonly logger: Logger,
  ) {
    this.cluster = parseCidr(clusterCidr);
    nodes.on({
      add: (n) => this.sync(n),
      update: (_old, n) => this.sync(n),
      delete: (n) => this.forget(n.metadata?.name ?? ''),
    });
  }

  /** The masquerade exemption, once; routes follow the node informer. */
  async start(): Promise<void> {
    const cidr = subnetText(this.cluster);
    const rule = [
      'POSTROUTING',
      '-s',
      cidr,
      '-d',
      cidr,
      '-m',
      'comment',
      '--comment',
      'gantry: pod to pod',
      '-j',
      'RETURN',
    ];
    const present = await run('iptables', ['-w', '-t', 'nat', '-C', ...rule]).then(
      () => true,
      () => false,
    );
    if (!present) await run('iptables', ['-w', '-t', 'nat', '-I', rule[0]!, '1', ...rule.slice(1)]);
  }

  /** Route changes run one after another, so a quick add-then-delete ends as the informer did. */
  private enqueue(what: string, args: string[]): void {
    this.chain = this.chain.then(() =>
      run('ip', args).then(
        () => this.logger.info({ route: args.slice(2).join(' ') }, what),
        (err: unknown) => this.logger.warn({ route: args.slice(2).join(' '), err: String(err) }, `${what}: failed`),
      ),
    );
  }

  private sync(n: KObject): void {
    const name = n.metadata?.name ?? '';
    if (name === this.nodeName) return;
    const want = routeFor(n, this.cluster);
    const have = this.routes.get(name);
    if (have && want && have.cidr === want.cidr && have.via === want.via) return;
    if (have && (!want || have.cidr !== want.cidr)) this.forget(name);
    if (!want) return;
    this.routes.set(name, want);
    this.enqueue('route to node pods', ['route', 'replace', want.cidr, 'via', want.via]);
  }

  private forget(name: string): void {
    const have = this.routes.get(name);
    if (!have) return;
    this.routes.delete(name);
    this.enqueue('route to node pods removed', ['route', 'del', have.cidr, 'via', have.via]);
  }

  /** Settled: every route change asked for so far has run. */
  idle(): Promise<void> {
    return this.chain;
  }
}
