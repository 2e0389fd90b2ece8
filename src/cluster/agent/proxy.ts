/**
 * The service proxy (Gantry's kube-proxy, iptables mode): Services' clusterIPs and nodePorts are DNATed
 * to their ready endpoints, chosen at random with equal weight. The whole rule set lives in chains of
 * its own (`GANTRY-SERVICES`, `GANTRY-NODEPORTS`, `GANTRY-SVC-*`, `GANTRY-SEP-*`, `GANTRY-POSTROUTING`)
 * and is replaced at once with `iptables-restore --noflush` whenever Services or Endpoints change.
 *
 * Service traffic is masqueraded: a pod reaching a service backed by a pod on the same bridge must get
 * its replies through the host, where conntrack undoes the DNAT (bridged packets skip iptables).
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import type { Logger } from '../../common/log.js';
import type { KObject } from '../apiserver/objects.js';
import type { Informer } from '../client/informer.js';

const MARK = '0x4000/0x4000';
const JUMPS: Array<[string, string]> = [
  ['PREROUTING', 'GANTRY-SERVICES'],
  ['OUTPUT', 'GANTRY-SERVICES'],
  ['POSTROUTING', 'GANTRY-POSTROUTING'],
];

type ServiceSpec = { clusterIP?: string; type?: string; ports?: Array<{ name?: string; port: number; nodePort?: number; protocol?: string }> };
type Subset = { addresses?: Array<{ ip: string }>; ports?: Array<{ name?: string; port: number; protocol?: string }> };

const chainId = (prefix: string, text: string): string => `${prefix}${createHash('sha256').update(text).digest('base64url').replace(/[-_]/g, 'x').slice(0, 16).toUpperCase()}`;

function iptables(args: string[]): boolean {
  try {
    execFileSync('iptables', ['-w', ...args], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The nat-table rules for the given Services and their Endpoints. */
export function proxyRules(services: KObject[], endpointsOf: (ns: string, name: string) => KObject | undefined): { lines: string[]; chains: string[] } {
  const chains = ['GANTRY-SERVICES', 'GANTRY-NODEPORTS', 'GANTRY-POSTROUTING'];
  const rules: string[] = [`-A GANTRY-POSTROUTING -m mark --mark ${MARK} -j MASQUERADE`];
  for (const svc of services) {
    const spec = (svc.spec ?? {}) as ServiceSpec;
    if (!spec.clusterIP || spec.clusterIP === 'None') continue;
    const ns = svc.metadata!.namespace!;
    const name = svc.metadata!.name!;
    const subsets = ((endpointsOf(ns, name)?.subsets as Subset[] | undefined) ?? []);
    for (const port of spec.ports ?? []) {
      const proto = (port.protocol ?? 'TCP').toLowerCase();
      if (proto !== 'tcp' && proto !== 'udp') continue;
      const comment = `${ns}/${name}${port.name ? `:${port.name}` : ''}`;
      const backends = subsets.flatMap((s) => {
        const target = (s.ports ?? []).find((p) => (p.name ?? '') === (port.name ?? '') && (p.protocol ?? 'TCP').toLowerCase() === proto);
        return target ? (s.addresses ?? []).map((a) => `${a.ip}:${target.port}`) : [];
      });
      if (!backends.length) continue;
      const svcChain = chainId('GANTRY-SVC-', `${comment}/${proto}`);
      chains.push(svcChain);
      rules.push(`-A GANTRY-SERVICES -d ${spec.clusterIP}/32 -p ${proto} -m ${proto} --dport ${port.port} -m comment --comment "${comment} cluster IP" -j ${svcChain}`);
      if (port.nodePort && (spec.type === 'NodePort' || spec.type === 'LoadBalancer')) rules.push(`-A GANTRY-NODEPORTS -p ${proto} -m ${proto} --dport ${port.nodePort} -m comment --comment "${comment} node port" -j ${svcChain}`);
      rules.push(`-A ${svcChain} -j MARK --set-xmark ${MARK}`);
      backends.forEach((backend, i) => {
        const sep = chainId('GANTRY-SEP-', `${comment}/${proto}/${backend}`);
        chains.push(sep);
        const left = backends.length - i;
        rules.push(left > 1 ? `-A ${svcChain} -m statistic --mode random --probability ${(1 / left).toFixed(10)} -j ${sep}` : `-A ${svcChain} -j ${sep}`);
        rules.push(`-A ${sep} -p ${proto} -m ${proto} -j DNAT --to-destination ${backend}`);
      });
    }
  }
  rules.push('-A GANTRY-SERVICES -m addrtype --dst-type LOCAL -j GANTRY-NODEPORTS');
  return { lines: ['*nat', ...chains.map((c) => `:${c} - [0:0]`), ...rules, 'COMMIT'], chains };
}

export class ServiceProxy {
  private timer?: NodeJS.Timeout;
  private applied = '';

  constructor(
    private readonly services: Informer,
    private readonly endpoints: Informer,
    private readonly logger: Logger,
  ) {
    const changed = (): void => this.schedule();
    for (const i of [services, endpoints]) i.on({ add: changed, update: changed, delete: changed });
  }

  /** Changes arriving together are applied together. */
  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.sync();
      } catch (err) {
        this.logger.error({ err: String(err) }, 'service rules not applied');
        this.schedule();
      }
    }, 100);
  }

  sync(): void {
    const { lines, chains } = proxyRules(this.services.list(), (ns, name) => this.endpoints.get(`${ns}/${name}`));
    const text = lines.join('\n') + '\n';
    if (text === this.applied) return;
    // Chains of services that are gone are flushed by being declared, then deleted.
    const stale = existingChains().filter((c) => !chains.includes(c));
    const restore = [...lines.slice(0, -1), ...stale.map((c) => `:${c} - [0:0]`), ...stale.map((c) => `-X ${c}`), 'COMMIT'].join('\n') + '\n';
    execFileSync('iptables-restore', ['-w', '--noflush'], { input: restore, stdio: ['pipe', 'ignore', 'pipe'] });
    for (const [from, to] of JUMPS) if (!iptables(['-t', 'nat', '-C', from, '-j', to])) iptables(['-t', 'nat', '-I', from, '-j', to]);
    this.applied = text;
  }

  /** Remove every rule and chain of the proxy (on a clean stop). */
  static cleanup(): void {
    for (const [from, to] of JUMPS) while (iptables(['-t', 'nat', '-D', from, '-j', to]));
    const chains = existingChains();
    if (!chains.length) return;
    const restore = ['*nat', ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT'].join('\n') + '\n';
    execFileSync('iptables-restore', ['-w', '--noflush'], { input: restore, stdio: ['pipe', 'ignore', 'pipe'] });
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

function existingChains(): string[] {
  const out = execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });
  return [...out.matchAll(/^:(GANTRY-(?:SERVICES|NODEPORTS|POSTROUTING|SVC-[A-Z0-9]+|SEP-[A-Z0-9]+)) /gm)].map((m) => m[1]!);
}
