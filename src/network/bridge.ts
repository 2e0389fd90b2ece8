/**
 * The bridge step of container networking, done in-process instead of through the CNI bridge and
 * host-local plugins: each of those is a Go program whose start alone costs ~20 ms here, and the pair
 * added ~45 ms to every container start and ~60 ms to every stop (docs/DEPENDENCIES.md). The work is
 * the same as theirs: a veth pair with one end on the network's bridge and the other as ethN in the
 * container's namespace, an address from a lease directory in host-local's layout (one file per
 * address holding the container ID, created exclusively, so concurrent starts never share one), and a
 * default route through the bridge's gateway address. The links are made over netlink by the native
 * addon (native/netlink.c); only the rare bridge creation runs ip(8).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { GantryError, isNodeError } from '../common/errors.js';
import { native } from '../native/index.js';
import { isIP } from 'node:net';
import { intToIp, ipToInt, parseCidr } from './ipnet.js';
import { bigToIp6, ip6ToBig, type Prefix6 } from './ipv6.js';

export interface BridgeNetwork {
  /** Network name, also the lease directory's name. */
  name: string;
  device: string;
  subnet: string;
  gateway: string;
  /** No default route out of an internal network. */
  internal: boolean;
  /** Where dynamic addresses come from, and which addresses are never handed out (gateway, auxiliary). */
  range: { first: number; last: number; reserved: Set<number> };
  /** The bridge's and its veths' MTU (0: the kernel's default). */
  mtu: number;
  /**
   * The network's IPv6 prefix and gateway (`--ipv6`), the ip-range dynamic addresses come from and the
   * auxiliary addresses never handed out.
   */
  v6?: { subnet: Prefix6; gateway: string; range?: Prefix6; reserved?: Set<bigint> };
}

/** What a container asked for on one network. */
export interface EndpointWish {
  /** A static IPv4 address (validated beforehand to lie in the subnet). */
  address?: string;
  /** A MAC address for its interface (validated and normalised beforehand). */
  mac?: string;
  /** A static IPv6 address (validated beforehand to lie in the network's IPv6 subnet). */
  address6?: string;
}

export interface Attachment {
  hostVeth: string;
  ifName: string;
  address: string;
  prefix: number;
  gateway: string;
  mac: string;
  /** The IPv6 address, prefix length and gateway on an IPv6 network. */
  v6?: { address: string; prefix: number; gateway: string };
}

/** Run `ip -batch -` with the given commands, inside a container's network namespace when `netns` is given. */
function ipBatch(commands: string[], netns?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const [cmd, args] = netns ? ['nsenter', [`--net=${netns}`, 'ip', '-batch', '-']] : ['ip', ['-batch', '-']];
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new GantryError('internal', `network setup failed: ${err.trim() || `ip exited with ${code}`}`)),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(commands.join('\n') + '\n');
  });
}

/** Docker's MAC scheme: 02:42 followed by the IPv4 address. */
export function macFor(ip: string): string {
  return ['02', '42', ...ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}

export function hostVethName(containerId: string, ifName: string): string {
  return `veth${createHash('sha256').update(`${containerId}/${ifName}`).digest('hex').slice(0, 7)}`;
}

/**
 * Whether a network device exists in this process's network namespace. Read from procfs rather than
 * /sys/class/net, which shows the namespace sysfs was mounted in: a node of a local cluster runs its
 * engine in a network namespace of its own with the host's mounts.
 */
export function linkExists(name: string): boolean {
  const devices = readFileSync('/proc/self/net/dev', 'utf8');
  return devices.split('\n').some((line) => line.slice(0, line.indexOf(':')).trim() === name);
}

/**
 * Extra addresses on a container's interface (`--link-local-ip`), added from inside its namespace.
 * Each address was validated as an IP before; none reaches a shell.
 */
export function addAddresses(netns: string, ifName: string, addresses: string[]): Promise<void> {
  return ipBatch(
    addresses.map((a) => {
      const bits = a.includes(':') ? (/^fe80:/i.test(a) ? 64 : 128) : a.startsWith('169.254.') ? 16 : 32;
      return `addr add ${a}/${bits} dev ${ifName}`;
    }),
    netns,
  );
}

export class BridgeDriver {
  /** Bridges this process has checked, so the check costs once per network. */
  private readonly ready = new Set<string>();

  constructor(private readonly leaseRoot: string) {}

  /** Create the bridge with its gateway address when missing, and let the host forward. */
  private async ensureBridge(net: BridgeNetwork): Promise<void> {
    if (this.ready.has(net.device) && linkExists(net.device)) return;
    const prefix = parseCidr(net.subnet).bits;
    if (!linkExists(net.device)) await ipBatch([`link add ${net.device} type bridge`]).catch(() => undefined);
    // `replace` keeps this idempotent when the address is already there.
    await ipBatch([
      `addr replace ${net.gateway}/${prefix} dev ${net.device}`,
      ...(net.v6 ? [`addr replace ${net.v6.gateway}/${net.v6.subnet.bits} dev ${net.device} nodad`] : []),
      ...(net.mtu ? [`link set ${net.device} mtu ${net.mtu}`] : []),
      `link set ${net.device} up`,
    ]);
    await fs.writeFile('/proc/sys/net/ipv4/ip_forward', '1');
    // As Docker with ip6tables on: an IPv6 network's containers reach out through the host.
    if (net.v6) await fs.writeFile('/proc/sys/net/ipv6/conf/all/forwarding', '1');
    this.ready.add(net.device);
  }

  private leaseDir(net: BridgeNetwork): string {
    return path.join(this.leaseRoot, net.name);
  }

  /** Claim one address for the container by an exclusive create; false when someone holds it. */
  private async claim(dir: string, ip: string, containerId: string, ifName: string): Promise<boolean> {
    try {
      await fs.writeFile(path.join(dir, ip), `${containerId}\r\n${ifName}`, { flag: 'wx' });
      return true;
    } catch (err) {
      if (isNodeError(err, 'EEXIST')) return false;
      throw err;
    }
  }

  /**
   * The asked-for address, or a free one of the network's range after the last one handed out (as
   * host-local does), claimed by an exclusive create.
   */
  private async lease(net: BridgeNetwork, containerId: string, ifName: string, wanted?: string): Promise<string> {
    const dir = this.leaseDir(net);
    await fs.mkdir(dir, { recursive: true });
    if (wanted) {
      if (net.range.reserved.has(ipToInt(wanted)) || !(await this.claim(dir, wanted, containerId, ifName)))
        throw new GantryError('forbidden', `failed to set up container networking: Address already in use`);
      return wanted;
    }
    const { first, last, reserved } = net.range;
    const lastFile = path.join(dir, 'last_reserved_ip.0');
    // A marker outside the range (missing, or from another subnet) restarts at the first address.
    const marked = await fs.readFile(lastFile, 'utf8').then(
      (t) => (/^\d+\.\d+\.\d+\.\d+$/.test(t.trim()) ? ipToInt(t.trim()) : NaN),
      () => NaN,
    );
    const previous = marked >= first && marked <= last ? marked : first - 1;
    const span = last - first + 1;
    for (let i = 1; i <= span; i++) {
      const candidate = first + ((previous - first + i + span) % span);
      if (reserved.has(candidate)) continue;
      const ip = intToIp(candidate);
      if (!(await this.claim(dir, ip, containerId, ifName))) continue;
      // Replaced whole (temp file and rename), so concurrent starts never leave a torn marker.
      const tmp = `${lastFile}.${process.pid}.${candidate}`;
      await fs.writeFile(tmp, ip);
      await fs.rename(tmp, lastFile);
      return ip;
    }
    throw new GantryError('unavailable', `no available IPv4 addresses on network ${net.name}: ${net.subnet}`);
  }

  /**
   * An IPv6 address for the container: the asked-for one, or the first free one of the ip-range (else
   * the subnet) that is not the subnet's own, the gateway or auxiliary, claimed by an exclusive create
   * as the IPv4 leases are.
   */
  private async lease6(
    net: BridgeNetwork,
    v6: NonNullable<BridgeNetwork['v6']>,
    containerId: string,
    ifName: string,
    wanted?: string,
  ): Promise<string> {
    const dir = this.leaseDir(net);
    await fs.mkdir(dir, { recursive: true });
    const gateway = ip6ToBig(v6.gateway);
    if (wanted) {
      const text = bigToIp6(ip6ToBig(wanted));
      if (ip6ToBig(wanted) === gateway || !(await this.claim(dir, text, containerId, ifName)))
        throw new GantryError('forbidden', `failed to set up container networking: Address already in use`);
      return text;
    }
    // From the ip-range when there is one, else the subnet; a look at the first 65535 addresses at most.
    const from = v6.range ?? v6.subnet;
    const span = from.bits >= 112 ? 1n << BigInt(128 - from.bits) : 65536n;
    for (let i = 0n; i < span; i++) {
      const candidate = from.base + i;
      if (candidate === v6.subnet.base || candidate === gateway || v6.reserved?.has(candidate)) continue;
      const ip = bigToIp6(candidate);
      if (await this.claim(dir, ip, containerId, ifName)) return ip;
    }
    throw new GantryError('unavailable', `no available IPv6 addresses on network ${net.name}`);
  }

  /** Free every address the container holds on a network (the lease files naming it). */
  async release(net: BridgeNetwork, containerId: string): Promise<void> {
    const dir = this.leaseDir(net);
    for (const f of await fs.readdir(dir).catch(() => [] as string[])) {
      if (!isIP(f)) continue;
      const owner = await fs.readFile(path.join(dir, f), 'utf8').catch(() => '');
      if (owner.split('\r\n')[0]?.trim() === containerId) await fs.rm(path.join(dir, f), { force: true });
    }
  }

  /** The containers holding addresses on a network (the ids its lease files name). */
  async holders(net: BridgeNetwork): Promise<string[]> {
    const dir = this.leaseDir(net);
    const ids: string[] = [];
    for (const f of await fs.readdir(dir).catch(() => [] as string[])) {
      if (!isIP(f)) continue;
      const owner = await fs.readFile(path.join(dir, f), 'utf8').catch(() => '');
      const id = owner.split('\r\n')[0]?.trim();
      if (id) ids.push(id);
    }
    return ids;
  }

  /** Wire one interface of a created container whose namespace is pinned at `netns` (init `pid`). */
  async attach(
    net: BridgeNetwork,
    containerId: string,
    pid: number,
    netns: string,
    ifName: string,
    defaultRoute: boolean,
    wish: EndpointWish = {},
  ): Promise<Attachment> {
    await this.ensureBridge(net);
    const address = await this.lease(net, containerId, ifName, wish.address);
    const prefix = parseCidr(net.subnet).bits;
    const hostVeth = hostVethName(containerId, ifName);
    const mac = wish.mac ?? macFor(address);
    let v6: Attachment['v6'];
    // A namespace outlives its container while another container joined it (`--net container:X`): the
    // host end of its old pair is still there, and would make this start fail with EEXIST.
    if (linkExists(hostVeth)) await ipBatch([`link del ${hostVeth}`]).catch(() => undefined);
    try {
      native.vethAttach(
        pid,
        netns,
        hostVeth,
        ifName,
        mac,
        net.device,
        address,
        prefix,
        net.internal || !defaultRoute ? '' : net.gateway,
        net.mtu,
      );
      if (net.v6) {
        const address6 = await this.lease6(net, net.v6, containerId, ifName, wish.address6);
        const route = !net.internal && defaultRoute ? [`route add default via ${net.v6.gateway} dev ${ifName}`] : [];
        await ipBatch([`addr add ${address6}/${net.v6.subnet.bits} dev ${ifName} nodad`, ...route], netns);
        v6 = { address: address6, prefix: net.v6.subnet.bits, gateway: net.v6.gateway };
      }
    } catch (err) {
      await this.detach(net, containerId).catch(() => undefined);
      throw err instanceof GantryError ? err : new GantryError('internal', (err as Error).message);
    }
    return { hostVeth, ifName, address, prefix, gateway: net.gateway, mac, ...(v6 ? { v6 } : {}) };
  }

  /**
   * Undo `attach`: free the lease, and delete the host end of the pair if it is still there. Normally
   * it is not waited for: once the container's namespace is unpinned and its processes are gone, the
   * kernel removes both ends with the namespace.
   */
  async detach(net: BridgeNetwork, containerId: string): Promise<void> {
    await this.release(net, containerId);
  }

  /** Delete the host end of a pair whose namespace lives on (a running container leaving a network). */
  async deleteVeth(containerId: string, ifName: string): Promise<void> {
    const hostVeth = hostVethName(containerId, ifName);
    if (linkExists(hostVeth)) await ipBatch([`link del ${hostVeth}`]);
  }

  /** A removed network: its bridge device (the kernel keeps it otherwise) and its lease directory. */
  async removeNetwork(net: BridgeNetwork): Promise<void> {
    if (linkExists(net.device)) await ipBatch([`link del ${net.device}`]).catch(() => undefined);
    this.ready.delete(net.device);
    await fs.rm(this.leaseDir(net), { recursive: true, force: true });
  }
}
