/**
 * NetworkPolicy enforcement on this node (Calico's felix, kube-router's policy controller): the rules
 * of `netpolrules` for the node's pods, applied with `iptables-restore --noflush` into chains of
 * Gantry's own whenever policies, pods or namespaces change, jumped to first from FORWARD (bridged
 * traffic between the node's pods passes it too). When a pod's rules change, its tracked connections
 * are dropped (`conntrack -D`), so a peer denied now is cut off now; allowed connections are picked up
 * again by their next packet. With no policy in the cluster nothing is installed; stopping the agent
 * removes it all.
 */
import { execFileSync } from 'node:child_process';
import type { Logger } from '../../common/log.js';
import { CoalescedSync } from './coalesced.js';
import { iptables } from './proxy.js';
import type { KObject } from '../api/object.js';
import { podStatus } from '../api/pod.js';
import type { KubeClient } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { NETPOL_CHAIN, networkPolicyRules, type PodView } from './netpolrules.js';

const CHAIN_PATTERN = /^:(GANTRY-(?:NETPOL|NP[IERB]-[0-9a-f]+)) /gm;

function existingChains(): string[] {
  const out = execFileSync('iptables-save', ['-t', 'filter'], { encoding: 'utf8' });
  return [...out.matchAll(CHAIN_PATTERN)].map((m) => m[1]!);
}

const view = (p: KObject): PodView => ({
  namespace: p.metadata?.namespace ?? '',
  name: p.metadata?.name ?? '',
  ip: podStatus(p).podIP ?? '',
  labels: p.metadata?.labels ?? {},
  ports: ((p.spec as { containers?: Array<{ ports?: PodView['ports'] }> } | undefined)?.containers ?? []).flatMap(
    (c) => c.ports ?? [],
  ),
});

const live = (p: KObject): boolean =>
  !!podStatus(p).podIP && !['Succeeded', 'Failed'].includes(podStatus(p).phase ?? '') && !p.metadata?.deletionTimestamp;

export class NetworkPolicyEnforcer {
  readonly policies: Informer;
  readonly pods: Informer;
  readonly namespaces: Informer;
  private readonly coalesced: CoalescedSync;
  private applied = '';
  private isolated = new Set<string>();

  constructor(
    client: KubeClient,
    private readonly nodeName: string,
    private readonly logger: Logger,
  ) {
    this.policies = new Informer(client, '/apis/networking.k8s.io/v1/networkpolicies', logger);
    this.pods = new Informer(client, '/api/v1/pods', logger);
    this.namespaces = new Informer(client, '/api/v1/namespaces', logger);
    this.coalesced = new CoalescedSync(() => this.sync(), logger, 'network policy rules not applied');
    const changed = (): void => this.coalesced.schedule();
    for (const i of [this.policies, this.pods, this.namespaces])
      i.on({ add: changed, update: changed, delete: changed });
  }

  informers(): Informer[] {
    return [this.policies, this.pods, this.namespaces];
  }

  sync(): void {
    const policies = this.policies.list();
    if (!policies.length) {
      if (this.applied) this.remove();
      this.applied = '';
      return;
    }
    const all = this.pods.list().filter(live);
    const local = all.filter((p) => (p.spec as { nodeName?: string } | undefined)?.nodeName === this.nodeName);
    const namespaces = new Map(this.namespaces.list().map((n) => [n.metadata?.name ?? '', n.metadata?.labels ?? {}]));
    const { lines, chains, isolated } = networkPolicyRules(policies, local.map(view), all.map(view), namespaces);
    const text = lines.join('\n') + '\n';
    if (text === this.applied) return;
    const stale = existingChains().filter((c) => !chains.includes(c));
    const input = [
      ...lines.slice(0, -1),
      ...stale.map((c) => `:${c} - [0:0]`),
      ...stale.map((c) => `-X ${c}`),
      'COMMIT',
    ];
    execFileSync('iptables-restore', ['-w', '--noflush'], {
      input: input.join('\n') + '\n',
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    if (!iptables(['-C', 'FORWARD', '-j', NETPOL_CHAIN])) iptables(['-I', 'FORWARD', '1', '-j', NETPOL_CHAIN]);
    // Connections of pods whose rules may now deny them are dropped from tracking, to be judged again.
    const now = new Set(isolated);
    for (const entry of new Set([...now, ...this.isolated])) {
      const [dir, ip] = entry.split(' ') as [string, string];
      this.forgetConnections(dir === 'ingress' ? '-d' : '-s', ip);
    }
    this.isolated = now;
    this.applied = text;
  }

  private forgetConnections(flag: '-d' | '-s', ip: string): void {
    try {
      execFileSync('conntrack', ['-D', flag, ip], { stdio: 'ignore' });
    } catch (err) {
      // Exit 1 also means "nothing to delete"; a missing tool is worth a word.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        this.logger.warn('conntrack is not installed: connections denied by a new policy go on until they end');
    }
  }

  /** Every chain and the jump gone. */
  remove(): void {
    while (iptables(['-D', 'FORWARD', '-j', NETPOL_CHAIN]));
    const chains = existingChains();
    if (!chains.length) return;
    const input = ['*filter', ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT'];
    execFileSync('iptables-restore', ['-w', '--noflush'], {
      input: input.join('\n') + '\n',
      stdio: ['pipe', 'ignore', 'pipe'],
    });
  }

  stop(): void {
    this.coalesced.stop();
    if (this.applied) this.remove();
  }
}
