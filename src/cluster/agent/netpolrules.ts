/**
 * NetworkPolicy as iptables rules for this node's pods (pure: policies, pods and namespaces in, the
 * filter-table text out), in the shape Calico and kube-router give it. A pod selected by a policy of a
 * type is isolated for that direction: only what some selecting policy's rules allow passes, peers
 * being pods (podSelector in the policy's namespace, namespaceSelector, both) by their addresses and
 * ipBlocks with their exceptions, ports by number, range or the pod's named port.
 *
 * Chains: `GANTRY-NETPOL` (jumped to first in FORWARD) accepts established traffic, then sends each
 * isolated pod's new traffic through its egress chain (by source) and its ingress chain (by
 * destination). A pod chain clears a mark, runs one chain per policy rule, which sets the mark when the
 * packet is allowed, and rejects what is left unmarked; allowed packets return to FORWARD.
 */
import { createHash } from 'node:crypto';
import type { KObject } from '../api/object.js';
import { labelSelectorMatches, type LabelSelector } from '../api/selector.js';
import { isIpv4, isPort, isPortName } from '../api/validation.js';

export const NETPOL_CHAIN = 'GANTRY-NETPOL';
const MARK = '0x20000/0x20000';
const CLEAR = '0x0/0x20000';

export interface PodView {
  namespace: string;
  name: string;
  ip: string;
  labels: Record<string, string>;
  ports: Array<{ name?: string; containerPort?: number; protocol?: string }>;
}

type Peer = {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr?: string; except?: string[] };
};
type Port = { protocol?: string; port?: number | string; endPort?: number };
type Rule = { from?: Peer[]; to?: Peer[]; ports?: Port[] };
type PolicySpec = { podSelector?: LabelSelector; policyTypes?: string[]; ingress?: Rule[]; egress?: Rule[] };

const chainName = (prefix: string, text: string): string =>
  `${prefix}${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;

/** An IPv4 CIDR safe to hand iptables, or undefined. */
function cidr(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text);
  return m && isIpv4(m[1]) && Number(m[2]) <= 32 ? text : undefined;
}

/** The pods a peer names, seen from a policy in `namespace`. */
function peerPods(
  peer: Peer,
  namespace: string,
  pods: PodView[],
  namespaces: Map<string, Record<string, string>>,
): PodView[] {
  return pods.filter((p) => {
    if (peer.namespaceSelector) {
      if (!labelSelectorMatches(peer.namespaceSelector, namespaces.get(p.namespace) ?? {})) return false;
    } else if (p.namespace !== namespace) return false;
    return !peer.podSelector || labelSelectorMatches(peer.podSelector, p.labels);
  });
}

/** `-p tcp --dport 80[:90]` for a port against the pod whose ports names resolve on; undefined: cannot match. */
function portMatch(port: Port, target: PodView | undefined, dir: 'dport'): string[] | undefined {
  const proto = (port.protocol ?? 'TCP').toLowerCase();
  if (!['tcp', 'udp', 'sctp'].includes(proto)) return undefined;
  if (port.port === undefined) return ['-p', proto];
  let number: number | undefined;
  if (typeof port.port === 'number') number = port.port;
  else if (isPortName(port.port))
    number = target?.ports.find(
      (p) => p.name === port.port && (p.protocol ?? 'TCP').toLowerCase() === proto,
    )?.containerPort;
  if (!isPort(number)) return undefined;
  const end = isPort(port.endPort) && port.endPort > number ? `:${port.endPort}` : '';
  return ['-p', proto, '-m', proto, `--${dir}`, `${number}${end}`];
}

/**
 * The rule chain lines for one rule of a policy selecting `pod`, in direction `dir` (ingress: peers are
 * sources, ports the pod's; egress: peers are destinations, ports theirs).
 */
function ruleLines(
  chain: string,
  rule: Rule,
  dir: 'ingress' | 'egress',
  pod: PodView,
  namespace: string,
  pods: PodView[],
  namespaces: Map<string, Record<string, string>>,
): string[] {
  const peerFlag = dir === 'ingress' ? '-s' : '-d';
  const peers = (dir === 'ingress' ? rule.from : rule.to) ?? [];
  const ports = rule.ports ?? [];
  const lines: string[] = [];
  const allow = (peer: string | undefined, portPod: PodView | undefined): void => {
    const base = [`-A ${chain}`, ...(peer ? [peerFlag, peer] : [])];
    if (!ports.length) return void lines.push([...base, '-j MARK --set-xmark', MARK].join(' '));
    for (const p of ports) {
      const m = portMatch(p, portPod, 'dport');
      if (m) lines.push([...base, ...m, '-j MARK --set-xmark', MARK].join(' '));
    }
  };
  if (!peers.length) {
    // Every peer; named ports resolve on the pod for ingress, and cannot for egress to anywhere.
    allow(undefined, dir === 'ingress' ? pod : undefined);
    return lines;
  }
  for (const peer of peers) {
    if (peer.ipBlock) {
      const block = cidr(peer.ipBlock.cidr);
      if (!block) continue;
      const excepts = (peer.ipBlock.except ?? []).map(cidr).filter((e): e is string => !!e);
      // An exception skips the rest of this block's lines, not the policy's other rules.
      const sub = chainName('GANTRY-NPB-', `${chain}/${block}/${excepts.join(',')}`);
      lines.push(`:${sub} - [0:0]`);
      for (const e of excepts) lines.push(`-A ${sub} ${peerFlag} ${e} -j RETURN`);
      const before = lines.length;
      allow(block, dir === 'ingress' ? pod : undefined);
      for (let i = before; i < lines.length; i++) lines[i] = lines[i]!.replace(`-A ${chain} `, `-A ${sub} `);
      lines.push(`-A ${chain} ${peerFlag} ${block} -j ${sub}`);
      continue;
    }
    for (const peerPod of peerPods(peer, namespace, pods, namespaces))
      if (isIpv4(peerPod.ip)) allow(`${peerPod.ip}/32`, dir === 'ingress' ? pod : peerPod);
  }
  return lines;
}

/** The whole filter-table text for this node's pods, and the chains it declares. */
export function networkPolicyRules(
  policies: KObject[],
  localPods: PodView[],
  allPods: PodView[],
  namespaces: Map<string, Record<string, string>>,
): { lines: string[]; chains: string[]; isolated: string[] } {
  const declared: string[] = [NETPOL_CHAIN];
  const body: string[] = [`-A ${NETPOL_CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`];
  const isolated: string[] = [];
  for (const dir of ['egress', 'ingress'] as const) {
    const type = dir === 'ingress' ? 'Ingress' : 'Egress';
    for (const pod of localPods) {
      if (!isIpv4(pod.ip)) continue;
      const selecting = policies.filter((p) => {
        const s = (p.spec ?? {}) as PolicySpec;
        return (
          p.metadata?.namespace === pod.namespace &&
          (s.policyTypes ?? ['Ingress']).includes(type) &&
          labelSelectorMatches(s.podSelector ?? {}, pod.labels)
        );
      });
      if (!selecting.length) continue;
      isolated.push(`${dir} ${pod.ip}`);
      const podChain = chainName(
        dir === 'ingress' ? 'GANTRY-NPI-' : 'GANTRY-NPE-',
        `${pod.namespace}/${pod.name}/${pod.ip}`,
      );
      declared.push(podChain);
      body.push(`-A ${NETPOL_CHAIN} ${dir === 'ingress' ? '-d' : '-s'} ${pod.ip}/32 -j ${podChain}`);
      body.push(`-A ${podChain} -j MARK --set-xmark ${CLEAR}`);
      selecting.forEach((policy) => {
        const rules = ((policy.spec as PolicySpec)[dir] ?? []) as Rule[];
        rules.forEach((rule, i) => {
          const ruleChain = chainName(
            'GANTRY-NPR-',
            `${podChain}/${policy.metadata?.uid ?? policy.metadata?.name}/${dir}/${i}`,
          );
          declared.push(ruleChain);
          const lines = ruleLines(ruleChain, rule, dir, pod, policy.metadata!.namespace!, allPods, namespaces);
          for (const l of lines) if (l.startsWith(':')) declared.push(l.slice(1).split(' ')[0]!);
          body.push(...lines.filter((l) => !l.startsWith(':')));
          body.push(`-A ${podChain} -j ${ruleChain}`);
        });
      });
      body.push(`-A ${podChain} -m mark --mark ${MARK} -j RETURN`);
      body.push(`-A ${podChain} -j REJECT`);
    }
  }
  const chains = [...new Set(declared)];
  return { lines: ['*filter', ...chains.map((c) => `:${c} - [0:0]`), ...body, 'COMMIT'], chains, isolated };
}
