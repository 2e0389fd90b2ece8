/**
 * The node LAN of a local cluster: a bridge on the host holding the host's address on the cluster's
 * subnet, and per node a network namespace joined to it by a veth pair (`eth0` inside), addressed on the
 * same subnet with the host as default gateway — machines on one switch, as far as the nodes can tell.
 * Every name and address reaching `ip` or `iptables` is made here from a validated cluster name and a
 * parsed subnet, and passed as an argument, never through a shell.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { hostRoutes, intToIp, overlaps, parseCidr, subnetText, type Subnet } from '../../network/ipnet.js';

const run = promisify(execFile);

/** The most nodes a /24 node LAN holds here (host .1, nodes from .2, LoadBalancer addresses from .200). */
export const MAX_NODES = 190;

export interface LanPlan {
  subnet: string;
  bridge: string;
  hostIp: string;
}

export interface LanNode {
  /** Network namespace, as `ip netns` lists it. */
  netns: string;
  /** The host end of the node's veth pair. */
  hostVeth: string;
  ip: string;
}

const short = (name: string): string => createHash('sha256').update(name).digest('hex').slice(0, 6);

/** Devices named from the cluster name's hash: interface names have 15 characters at most. */
export function lanPlan(cluster: string, subnet: Subnet): LanPlan {
  return { subnet: subnetText(subnet), bridge: `gt-${short(cluster)}`, hostIp: intToIp(subnet.base + 1) };
}

/** LoadBalancer addresses: the top of the node LAN (.200-.254), above any node's. */
export function lbRange(plan: LanPlan): string {
  const base = parseCidr(plan.subnet).base;
  return `${intToIp(base + 200)}-${intToIp(base + 254)}`;
}

/** The network namespace of a node, as `ip netns` lists it. */
export const netnsName = (nodeName: string): string => `gantry-${nodeName}`;

/** Node `index` (1 for the first) of a cluster. */
export function lanNode(cluster: string, subnet: Subnet, index: number, nodeName: string): LanNode {
  return {
    netns: netnsName(nodeName),
    hostVeth: `gt${short(cluster)}n${index}`,
    ip: intToIp(subnet.base + 1 + index),
  };
}

/** A /24 for the node LAN: the one asked for, checked against the host's routes, or the first free from 192.168.49.0. */
export function chooseSubnet(asked: string | undefined, taken: Subnet[]): Subnet {
  const inUse = [...hostRoutes(), ...taken];
  if (asked) {
    const s = parseCidr(asked);
    if (s.bits !== 24) throw new Error(`invalid --subnet ${asked}: the node LAN is a /24`);
    const clash = inUse.find((t) => overlaps(t, s));
    if (clash)
      throw new Error(`--subnet ${subnetText(s)} overlaps ${subnetText(clash)}, a network this host already routes`);
    return s;
  }
  for (let third = 49; third < 256; third++) {
    const s = parseCidr(`192.168.${third}.0/24`);
    if (!inUse.some((t) => overlaps(t, s))) return s;
  }
  throw new Error('no free /24 in 192.168.49.0-192.168.255.0 for the node LAN: give one with --subnet');
}

const ip = (...args: string[]): Promise<unknown> => run('ip', args);
const quietly = (p: Promise<unknown>): Promise<void> =>
  p.then(
    () => undefined,
    () => undefined,
  );

function forwardRule(plan: LanPlan): string[] {
  return [
    'FORWARD',
    '-i',
    plan.bridge,
    '-o',
    plan.bridge,
    '-m',
    'comment',
    '--comment',
    `gantry: node LAN ${plan.bridge}`,
    '-j',
    'ACCEPT',
  ];
}

export async function createLan(plan: LanPlan): Promise<void> {
  const bits = parseCidr(plan.subnet).bits;
  await ip('link', 'add', plan.bridge, 'type', 'bridge');
  await ip('addr', 'add', `${plan.hostIp}/${bits}`, 'dev', plan.bridge);
  await ip('link', 'set', plan.bridge, 'up');
  // Traffic between nodes crosses the bridge; a host whose FORWARD policy drops (Docker's) must let it.
  await run('iptables', ['-w', '-I', ...forwardRule(plan)]);
}

export async function removeLan(plan: LanPlan): Promise<void> {
  while (
    await run('iptables', ['-w', '-D', ...forwardRule(plan)]).then(
      () => true,
      () => false,
    )
  );
  if (existsSync(`/sys/class/net/${plan.bridge}`)) await quietly(ip('link', 'del', plan.bridge));
}

export async function createNode(plan: LanPlan, node: LanNode): Promise<void> {
  const bits = parseCidr(plan.subnet).bits;
  await ip('netns', 'add', node.netns);
  await ip('link', 'add', node.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.netns);
  await ip('link', 'set', node.hostVeth, 'master', plan.bridge, 'up');
  await ip('-n', node.netns, 'link', 'set', 'lo', 'up');
  await ip('-n', node.netns, 'addr', 'add', `${node.ip}/${bits}`, 'dev', 'eth0');
  await ip('-n', node.netns, 'link', 'set', 'eth0', 'up');
  await ip('-n', node.netns, 'route', 'add', 'default', 'via', plan.hostIp);
}

/**
 * A node's connections to its own `127.0.0.1:<port>` go to the host's LAN address instead (where the
 * relay forwards them to the host's loopback): DNAT in the node's nat OUTPUT, masquerade so the reply
 * finds its way back, and route_localnet so the kernel routes a loopback destination at all.
 */
export async function forwardLoopbackPort(plan: LanPlan, node: LanNode, port: number): Promise<void> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid port ${port}`);
  const inNode = (cmd: string, ...args: string[]): Promise<unknown> =>
    run('ip', ['netns', 'exec', node.netns, cmd, ...args]);
  await inNode('sysctl', '-qw', 'net.ipv4.conf.all.route_localnet=1');
  const nat = (...rule: string[]): Promise<unknown> =>
    inNode('iptables', '-w', '-t', 'nat', '-A', ...rule, '-m', 'comment', '--comment', 'gantry: host registry');
  const dport = ['-p', 'tcp', '--dport', String(port)];
  await nat('OUTPUT', '-d', '127.0.0.1/32', ...dport, '-j', 'DNAT', '--to-destination', `${plan.hostIp}:${port}`);
  await nat('POSTROUTING', '-s', '127.0.0.1/32', '-d', `${plan.hostIp}/32`, ...dport, '-j', 'MASQUERADE');
}

/** A node's link to the LAN, down while the node is stopped (a machine switched off answers nothing). */
export async function setNodeLink(plan: LanPlan, node: LanNode, up: boolean): Promise<void> {
  await ip('-n', node.netns, 'link', 'set', 'eth0', up ? 'up' : 'down');
  // Bringing the link down drops its default route: put it back.
  if (up) await ip('-n', node.netns, 'route', 'replace', 'default', 'via', plan.hostIp);
}

/** The namespace, and with it the node's end of the pair (the kernel removes both ends). */
export async function removeNode(node: LanNode): Promise<void> {
  if (existsSync(`/run/netns/${node.netns}`)) await quietly(ip('netns', 'del', node.netns));
  if (existsSync(`/sys/class/net/${node.hostVeth}`)) await quietly(ip('link', 'del', node.hostVeth));
}

export const netnsExists = (netns: string): boolean => existsSync(`/run/netns/${netns}`);

/** The host's route to a node's pods (host-gw). */
export async function addHostRoute(podCidr: string, via: string): Promise<void> {
  await ip('route', 'replace', subnetText(parseCidr(podCidr)), 'via', via);
}

export async function removeHostRoute(podCidr: string, via: string): Promise<void> {
  await quietly(ip('route', 'del', subnetText(parseCidr(podCidr)), 'via', via));
}
