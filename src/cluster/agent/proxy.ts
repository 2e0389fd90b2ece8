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
import { ingressIps } from '../api/service.js';
import type { Logger } from '../../common/log.js';
import { CoalescedSync } from './coalesced.js';
import type { KObject } from '../api/object.js';
import type { Informer } from '../client/informer.js';
import { isIpv4, isPort } from '../api/validation.js';

const MARK = '0x4000/0x4000';
const JUMPS: Array<[string, string]> = [
  ['PREROUTING', 'GANTRY-SERVICES'],
  ['OUTPUT', 'GANTRY-SERVICES'],
  ['POSTROUTING', 'GANTRY-POSTROUTING'],
];

type ServiceSpec = {
  clusterIP?: string;
  type?: string;
  ports?: Array<{ name?: string; port: number; nodePort?: number; protocol?: string }>;
};
type Subset = { addresses?: Array<{ ip: string }>; ports?: Array<{ name?: string; port: number; protocol?: string }> };

const chainId = (prefix: string, text: string): string =>
  `${prefix}${createHash('sha256').update(text).digest('base64url').replace(/[-_]/g, 'x').slice(0, 16).toUpperCase()}`;

/** One iptables command (waiting for the lock); false when it fails. */
export function iptables(args: string[]): boolean {
  try {
    execFileSync('iptables', ['-w', ...args], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The rules of one Service: chains it declares and rules it appends. */
export interface ServiceRules {
  service: string;
  chains: string[];
  rules: string[];
}

/** A comment iptables is given: only characters that cannot end the quoted argument or start a new rule. */
const safeComment = (text: string): string => text.replace(/[^A-Za-z0-9._:/ -]/g, '_').slice(0, 200);

/**
 * The nat-table rules of each Service with its Endpoints. Only what is valid becomes a rule: a
 * clusterIP, endpoint address or port that is not one (an object stored before the API server checked
 * it, or written by someone else) is skipped, never written into the rule text.
 */
export function proxyRules(
  services: KObject[],
  endpointsOf: (ns: string, name: string) => KObject | undefined,
): ServiceRules[] {
  const out: ServiceRules[] = [];
  for (const svc of services) {
    const spec = (svc.spec ?? {}) as ServiceSpec;
    if (!isIpv4(spec.clusterIP)) continue;
    const ns = svc.metadata?.namespace ?? '';
    const name = svc.metadata?.name ?? '';
    const group: ServiceRules = { service: `${ns}/${name}`, chains: [], rules: [] };
    const subsets = (endpointsOf(ns, name)?.subsets as Subset[] | undefined) ?? [];
    for (const port of spec.ports ?? []) {
      const proto = (port.protocol ?? 'TCP').toLowerCase();
      if ((proto !== 'tcp' && proto !== 'udp') || !isPort(port.port)) continue;
      const comment = safeComment(`${ns}/${name}${port.name ? `:${port.name}` : ''}`);
      const backends = subsets.flatMap((s) => {
        const target = (s.ports ?? []).find(
          (p) => (p.name ?? '') === (port.name ?? '') && (p.protocol ?? 'TCP').toLowerCase() === proto,
        );
        return target && isPort(target.port)
          ? (s.addresses ?? []).filter((a) => isIpv4(a.ip)).map((a) => `${a.ip}:${target.port}`)
          : [];
      });
      if (!backends.length) continue;
      const svcChain = chainId('GANTRY-SVC-', `${comment}/${proto}`);
      group.chains.push(svcChain);
      group.rules.push(
        `-A GANTRY-SERVICES -d ${spec.clusterIP}/32 -p ${proto} -m ${proto} --dport ${port.port} -m comment --comment "${comment} cluster IP" -j ${svcChain}`,
      );
      if (spec.type === 'LoadBalancer')
        for (const ip of ingressIps(svc))
          group.rules.push(
            `-A GANTRY-SERVICES -d ${ip}/32 -p ${proto} -m ${proto} --dport ${port.port} -m comment --comment "${comment} load balancer IP" -j ${svcChain}`,
          );
      if (isPort(port.nodePort) && (spec.type === 'NodePort' || spec.type === 'LoadBalancer'))
        group.rules.push(
          `-A GANTRY-NODEPORTS -p ${proto} -m ${proto} --dport ${port.nodePort} -m comment --comment "${comment} node port" -j ${svcChain}`,
        );
      group.rules.push(`-A ${svcChain} -j MARK --set-xmark ${MARK}`);
      backends.forEach((backend, i) => {
        const sep = chainId('GANTRY-SEP-', `${comment}/${proto}/${backend}`);
        group.chains.push(sep);
        const left = backends.length - i;
        group.rules.push(
          left > 1
            ? `-A ${svcChain} -m statistic --mode random --probability ${(1 / left).toFixed(10)} -j ${sep}`
            : `-A ${svcChain} -j ${sep}`,
        );
        group.rules.push(`-A ${sep} -p ${proto} -m ${proto} -j DNAT --to-destination ${backend}`);
      });
    }
    if (group.rules.length) out.push(group);
  }
  return out;
}

const BASE_CHAINS = ['GANTRY-SERVICES', 'GANTRY-NODEPORTS', 'GANTRY-POSTROUTING'];

/** The whole nat table of the proxy for these Services, as iptables-restore reads it. */
export function ruleText(groups: ServiceRules[]): { lines: string[]; chains: string[] } {
  const chains = [...BASE_CHAINS, ...groups.flatMap((g) => g.chains)];
  const rules = [
    `-A GANTRY-POSTROUTING -m mark --mark ${MARK} -j MASQUERADE`,
    ...groups.flatMap((g) => g.rules),
    '-A GANTRY-SERVICES -m addrtype --dst-type LOCAL -j GANTRY-NODEPORTS',
  ];
  return { lines: ['*nat', ...chains.map((c) => `:${c} - [0:0]`), ...rules, 'COMMIT'], chains };
}

export class ServiceProxy {
  private readonly coalesced: CoalescedSync;
  private applied = '';

  constructor(
    private readonly services: Informer,
    private readonly endpoints: Informer,
    private readonly logger: Logger,
  ) {
    this.coalesced = new CoalescedSync(() => this.sync(), logger, 'service rules not applied');
    const changed = (): void => this.coalesced.schedule();
    for (const i of [services, endpoints]) i.on({ add: changed, update: changed, delete: changed });
  }

  sync(): void {
    let groups = proxyRules(this.services.list(), (ns, name) => this.endpoints.get(`${ns}/${name}`));
    const text = ruleText(groups).lines.join('\n') + '\n';
    if (text === this.applied) return;
    if (!restore(groups)) {
      // One Service's rules the kernel refuses must not keep every other Service from working: each
      // is tried alone, and those that fail are left out (and reported) until they change.
      const refused = groups.filter((g) => !restore([g], true));
      for (const g of refused) this.logger.error({ service: g.service }, 'service rules refused by iptables; left out');
      groups = groups.filter((g) => !refused.includes(g));
      if (!restore(groups)) throw new Error('iptables-restore refused the service rules');
    }
    for (const [from, to] of JUMPS)
      if (!iptables(['-t', 'nat', '-C', from, '-j', to])) iptables(['-t', 'nat', '-I', from, '-j', to]);
    this.applied = text;
  }

  /** Remove every rule and chain of the proxy (on a clean stop). */
  static cleanup(): void {
    for (const [from, to] of JUMPS) while (iptables(['-t', 'nat', '-D', from, '-j', to]));
    const chains = existingChains();
    if (!chains.length) return;
    const restore =
      ['*nat', ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT'].join('\n') + '\n';
    execFileSync('iptables-restore', ['-w', '--noflush'], { input: restore, stdio: ['pipe', 'ignore', 'pipe'] });
  }

  stop(): void {
    this.coalesced.stop();
  }
}

/** Put these rules in place (or, with `test`, only check them), with stale chains removed; false when refused. */
function restore(groups: ServiceRules[], test = false): boolean {
  const { lines, chains } = ruleText(groups);
  // Chains of services that are gone are flushed by being declared, then deleted.
  const stale = test ? [] : existingChains().filter((c) => !chains.includes(c));
  const input =
    [...lines.slice(0, -1), ...stale.map((c) => `:${c} - [0:0]`), ...stale.map((c) => `-X ${c}`), 'COMMIT'].join('\n') +
    '\n';
  try {
    execFileSync('iptables-restore', ['-w', '--noflush', ...(test ? ['--test'] : [])], {
      input,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    return true;
  } catch {
    return false;
  }
}

function existingChains(): string[] {
  const out = execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });
  return [...out.matchAll(/^:(GANTRY-(?:SERVICES|NODEPORTS|POSTROUTING|SVC-[A-Z0-9]+|SEP-[A-Z0-9]+)) /gm)].map(
    (m) => m[1]!,
  );
}
