/**
 * A bridge network's NAT and forwarding rules in iptables (and ip6tables for its IPv6 subnet), as Docker keeps them, and the gateway modes
 * that decide whether other hosts may route into the bridge.
 */
import { spawn } from 'node:child_process';
import { isV6Pool } from './ipam.js';
import type { NetworkRecord } from './types.js';

/** Docker's option for how a bridge network is reached from outside; `routed` is not supported. */
export const GATEWAY_MODE = 'com.docker.network.bridge.gateway_mode_ipv4';
export const GATEWAY_MODES = ['nat', 'nat-unprotected'];

/**
 * Add what is missing of a network's NAT and forwarding rules, or delete them; they carry the comment
 * `gantry:<bridge>`. Into a bridge (rules inserted at the top of FORWARD, each matching only its own
 * bridge) go replies, connections to published ports (DNAT-ed by portmap) and traffic within the
 * network; anything else is dropped — another network's containers, or another host reaching an
 * unpublished port — as Docker's isolation chains do, unless the network's gateway mode is Docker's
 * `nat-unprotected` (a pod network, which other nodes route to directly). Out of a bridge (appended,
 * so after every "into" rule) traffic is accepted, or dropped for an internal network, and masqueraded.
 */
export async function natRules(rec: NetworkRecord, what: 'ensure' | 'delete'): Promise<void> {
  const v4 = rec.IPAM.Config.find((c) => !isV6Pool(c))?.Subnet;
  await familyRules(rec, 'iptables', v4, what);
  // IPv6 as Docker does it with ip6tables on (its default since 27): the same isolation and masquerading
  // for the network's IPv6 subnet. Deleting covers a network whose IPv6 was never wired too.
  const v6 = rec.EnableIPv6 ? rec.IPAM.Config.find(isV6Pool)?.Subnet : undefined;
  if (v6 || what === 'delete') await familyRules(rec, 'ip6tables', v6, what);
}

async function familyRules(
  rec: NetworkRecord,
  bin: 'iptables' | 'ip6tables',
  subnet: string | undefined,
  what: 'ensure' | 'delete',
): Promise<void> {
  const dev = rec.Options['com.docker.network.bridge.name']!;
  const tag = ['-m', 'comment', '--comment', `gantry:${dev}`];
  const inbound: string[][] = [
    ['-o', dev, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...tag, '-j', 'ACCEPT'],
    ['-o', dev, '-m', 'conntrack', '--ctstate', 'DNAT', ...tag, '-j', 'ACCEPT'],
    ['-i', dev, '-o', dev, ...tag, '-j', 'ACCEPT'],
    ['-o', dev, ...tag, '-j', rec.Options[GATEWAY_MODE] === 'nat-unprotected' ? 'ACCEPT' : 'DROP'],
  ];
  const appended: Array<{ table: string; chain: string; spec: string[] }> = [
    {
      table: 'filter',
      chain: 'FORWARD',
      spec: ['-i', dev, '!', '-o', dev, ...tag, '-j', rec.Internal ? 'DROP' : 'ACCEPT'],
    },
  ];
  if (subnet && !rec.Internal)
    appended.push({
      table: 'nat',
      chain: 'POSTROUTING',
      spec: ['-s', subnet, '!', '-o', dev, ...tag, '-j', 'MASQUERADE'],
    });
  const iptables = (table: string, op: string, chain: string, spec: string[]): Promise<boolean> =>
    runQuiet(bin, ['-w', '-t', table, op, chain, ...spec]);
  const deleteAll = async (table: string, chain: string, spec: string[]): Promise<void> => {
    while (await iptables(table, '-D', chain, spec));
  };
  if (what === 'delete') {
    for (const spec of inbound) await deleteAll('filter', 'FORWARD', spec);
    for (const r of appended) await deleteAll(r.table, r.chain, r.spec);
    return;
  }
  const present = await Promise.all(inbound.map((spec) => iptables('filter', '-C', 'FORWARD', spec)));
  if (present.some((p) => !p)) {
    // Their order matters (the drop last), so the set is put back whole.
    for (const spec of inbound) await deleteAll('filter', 'FORWARD', spec);
    for (const spec of [...inbound].reverse()) {
      if (!(await iptables('filter', '-I', 'FORWARD', ['1', ...spec])))
        throw new Error(`${bin}: cannot add filter FORWARD rule for ${dev}`);
    }
  }
  for (const r of appended) {
    if (!(await iptables(r.table, '-C', r.chain, r.spec)) && !(await iptables(r.table, '-A', r.chain, r.spec)))
      throw new Error(`${bin}: cannot add ${r.table} ${r.chain} rule for ${dev}`);
  }
}

function runQuiet(cmd: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    child.on('close', (code) => resolve(code === 0));
    child.on('error', () => resolve(false));
  });
}
