/**
 * Networks as Docker has them: the predefined `bridge` (default), `host` and `none`, and user-defined
 * bridge networks. A container on bridge networks gets a veth on each network's bridge from the
 * in-process bridge driver (bridge.ts: what the CNI bridge and host-local plugins do, without their
 * process starts) and its published ports from the CNI portmap plugin on its first network. Its network
 * namespace is bind-mounted under the exec root while it runs, so the plugins can always be asked to
 * delete what they added, also after a daemon crash. User-defined networks answer container names and
 * aliases from an embedded DNS server on their gateway address.
 *
 * Layout: <dataRoot>/network/networks/<id>.json (records), <dataRoot>/network/ipam/<network> (address
 * leases in host-local's layout), <execRoot>/netns/<container id> (namespace bind mounts).
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { conflict, GantryError, invalid, notFound } from '../common/errors.js';
import { readJson, writeJsonAtomic } from '../common/fsutil.js';
import { CNI_VERSION, type CniConfList } from './cni.js';
import { BridgeDriver, linkExists, type BridgeNetwork, type EndpointWish } from './bridge.js';
import { DnsServer } from './dns.js';
import { allocateSubnet, contains, firstHost, hostRoutes, parseCidr, subnetText, type Subnet } from './ipnet.js';
import { GATEWAY_MODE, GATEWAY_MODES, natRules } from './natrules.js';
import { hostRoutes6, ip6ToBig, overlaps6, parsePrefix6, randomUla, type Prefix6 } from './ipv6.js';
import {
  dynamicRange,
  isV6Pool,
  normalizeMac,
  pool6Of,
  poolOf,
  validateEndpoint,
  validateIpam,
  type EndpointRequest,
  type IpamPool,
  type IpamRequest,
} from './ipam.js';
import type { PortReservation } from './ports.js';
import {
  PREDEFINED,
  ZERO_ENDPOINT,
  type EndpointSettings,
  type NetworkedContainer,
  type NetworkOptions,
  type NetworkRecord,
} from './types.js';
import { wiringMethods } from './wiring.js';

const MTU_OPTION = 'com.docker.network.driver.mtu';

/**
 * Docker takes nearly any network name (spaces too); the name also names the network's lease directory,
 * so it may not be a path step of its own.
 */
function validateNetworkName(name: string): void {
  if (!name.trim() || name === '.' || name === '..' || /[/\0]/.test(name) || Buffer.byteLength(name) > 255)
    throw invalid(`invalid network name "${name}"`);
}

/**
 * The networks and their records; the wiring of containers onto them lives in wiring.ts. The state
 * below is shared with it and is not for callers outside `network/`.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class NetworkService {
  readonly networks = new Map<string, NetworkRecord>();
  readonly reservations = new Map<string, PortReservation>();
  private readonly dns = new Map<string, DnsServer>();
  /** Networks whose NAT and forwarding rules this process has checked. */
  private readonly natReady = new Set<string>();

  readonly bridge: BridgeDriver;

  private constructor(readonly o: NetworkOptions) {
    this.bridge = new BridgeDriver(path.join(o.dataRoot, 'network', 'ipam'));
  }

  private get recordsDir(): string {
    return path.join(this.o.dataRoot, 'network', 'networks');
  }

  get netnsDir(): string {
    return path.join(this.o.execRoot, 'netns');
  }

  static async open(o: NetworkOptions): Promise<NetworkService> {
    const s = new NetworkService(o);
    await fs.mkdir(s.recordsDir, { recursive: true });
    await fs.mkdir(s.netnsDir, { recursive: true });
    for (const f of await fs.readdir(s.recordsDir)) {
      const rec = await readJson<NetworkRecord>(path.join(s.recordsDir, f));
      if (rec) s.networks.set(rec.Id, rec);
    }
    const bridge = s.byName('bridge');
    const cidr = parseCidr(o.bridgeCidr);
    const wanted = { Subnet: subnetText(cidr), Gateway: o.bridgeCidr.split('/')[0]! };
    if (
      !bridge ||
      bridge.IPAM.Config[0]?.Subnet !== wanted.Subnet ||
      bridge.Options['com.docker.network.bridge.name'] !== o.bridgeName
    ) {
      if (bridge) s.networks.delete(bridge.Id);
      await s.save(
        s.newRecord(
          'bridge',
          'bridge',
          [wanted],
          false,
          {},
          { 'com.docker.network.bridge.default_bridge': 'true', 'com.docker.network.bridge.name': o.bridgeName },
        ),
      );
    }
    for (const [name, driver] of [
      ['host', 'host'],
      ['none', 'null'],
    ] as const)
      if (!s.byName(name)) await s.save(s.newRecord(name, driver, [], false, {}, {}));
    return s;
  }

  private newRecord(
    name: string,
    driver: NetworkRecord['Driver'],
    config: NetworkRecord['IPAM']['Config'],
    internal: boolean,
    labels: Record<string, string>,
    options: Record<string, string>,
  ): NetworkRecord {
    return {
      Name: name,
      Id: randomBytes(32).toString('hex'),
      Created: new Date().toISOString(),
      Scope: 'local',
      Driver: driver,
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: config },
      Internal: internal,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Options: options,
      Labels: labels,
    };
  }

  private async save(rec: NetworkRecord): Promise<void> {
    await writeJsonAtomic(path.join(this.recordsDir, `${rec.Id}.json`), rec);
    this.networks.set(rec.Id, rec);
  }

  byName(name: string): NetworkRecord | undefined {
    return [...this.networks.values()].find((n) => n.Name === name);
  }

  list(): NetworkRecord[] {
    return [...this.networks.values()];
  }

  /** By exact name, full ID, or a unique ID prefix, as Docker resolves networks. */
  get(ref: string): NetworkRecord {
    const byName = this.byName(ref) ?? this.networks.get(ref);
    if (byName) return byName;
    const matches = [...this.networks.values()].filter((n) => n.Id.startsWith(ref));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw invalid(`network ${ref} is ambiguous (${matches.length} matches found on name)`);
    throw notFound(`network ${ref} not found`);
  }

  /** Containers attached to a network, in `network inspect`'s shape. */
  attached(
    net: NetworkRecord,
  ): Record<
    string,
    { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }
  > {
    const out: Record<
      string,
      { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }
    > = {};
    for (const c of this.o.containers()) {
      const ep = c.NetworkSettings?.Networks[net.Name];
      if (!ep || !c.State.Running) continue;
      out[c.Id] = {
        Name: c.Name.slice(1),
        EndpointID: ep.EndpointID,
        MacAddress: ep.MacAddress,
        IPv4Address: ep.IPAddress ? `${ep.IPAddress}/${ep.IPPrefixLen}` : '',
        IPv6Address: ep.GlobalIPv6Address ? `${ep.GlobalIPv6Address}/${ep.GlobalIPv6PrefixLen}` : '',
      };
    }
    return out;
  }

  async create(req: {
    Name?: string;
    Driver?: string;
    Internal?: boolean;
    Attachable?: boolean;
    EnableIPv6?: boolean;
    IPAM?: { Config?: IpamRequest[] | null } | null;
    Labels?: Record<string, string> | null;
    Options?: Record<string, string> | null;
  }): Promise<NetworkRecord> {
    const name = req.Name ?? '';
    if (PREDEFINED.includes(name))
      throw new GantryError('forbidden', `operation is not permitted on predefined ${name} network `);
    validateNetworkName(name);
    if (this.byName(name)) throw conflict(`network with name ${name} already exists`);
    const driver = req.Driver || 'bridge';
    if (driver !== 'bridge') throw invalid(`could not find plugin ${driver} in v1 plugin registry: plugin not found`);
    const options = { ...(req.Options ?? {}) };
    this.validateBridgeOptions(options);
    const { v4: asked, v6: asked6 } = validateIpam(req.IPAM?.Config ?? [], !!req.EnableIPv6);
    if (asked.length > 1) throw invalid('only one IPv4 subnet per network is supported');
    if (asked6.length > 1) throw invalid('only one IPv6 subnet per network is supported');
    const taken = this.takenSubnets();
    const config: IpamPool[] = [];
    if (asked[0]) {
      const subnet = parseCidr(asked[0].Subnet!);
      if (taken.some((t) => contains(t, subnet.base) || contains(subnet, t.base)))
        throw new GantryError('forbidden', `Pool overlaps with other one on this address space`);
      config.push(poolOf(asked[0], asked[0].Gateway || firstHost(subnet)));
    } else {
      const pool = parseCidr(this.o.addressPool.base);
      const subnet = allocateSubnet(pool, this.o.addressPool.size, taken);
      if (!subnet) throw new GantryError('forbidden', 'all predefined address pools have been fully subnetted');
      config.push({ Subnet: subnetText(subnet), Gateway: firstHost(subnet) });
    }
    if (req.EnableIPv6) {
      // As Docker 27 and later: without a subnet, a unique local /64 of its own.
      const taken6 = this.takenSubnets6();
      const subnet = asked6[0] ? parsePrefix6(asked6[0].Subnet!) : randomUla();
      if (taken6.some((t) => overlaps6(t, subnet)))
        throw new GantryError('forbidden', `Pool overlaps with other one on this address space`);
      config.push(pool6Of(subnet, asked6[0]));
    }
    const rec = this.newRecord(name, 'bridge', config, !!req.Internal, req.Labels ?? {}, options);
    rec.Attachable = !!req.Attachable;
    rec.EnableIPv6 = !!req.EnableIPv6;
    if (asked[0]) rec.userSubnet = true;
    if (asked6[0]) rec.userSubnet6 = true;
    rec.Options = {
      ...rec.Options,
      'com.docker.network.bridge.name': rec.Options['com.docker.network.bridge.name'] ?? `br-${rec.Id.slice(0, 12)}`,
    };
    await this.save(rec);
    this.o.publish('create', rec);
    return rec;
  }

  /** The bridge driver's options, as moby's bridge driver checks them. */
  private validateBridgeOptions(options: Record<string, string>): void {
    const mode = options[GATEWAY_MODE];
    if (mode !== undefined && !GATEWAY_MODES.includes(mode))
      throw invalid(`invalid ${GATEWAY_MODE} "${mode}": it must be one of ${GATEWAY_MODES.join(', ')}`);
    const mtu = options[MTU_OPTION];
    if (mtu !== undefined && (!/^\d+$/.test(mtu) || Number(mtu) < 68 || Number(mtu) > 65535))
      throw invalid(`invalid MTU number: ${mtu}`);
    const device = options['com.docker.network.bridge.name'];
    if (device !== undefined) {
      // It reaches ip(8) commands: only what an interface name may be.
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/.test(device)) throw invalid(`invalid bridge name: ${device}`);
      const user = this.list().find((n) => n.Options['com.docker.network.bridge.name'] === device);
      if (user) throw conflict(`bridge name ${device} is already used by network ${user.Name}`);
      if (linkExists(device)) throw conflict(`bridge name ${device} conflicts with an existing network interface`);
    }
  }

  /** Subnets in use by networks and by the host's routes. */
  private takenSubnets(): Subnet[] {
    const pools = this.list().flatMap((n) => n.IPAM.Config.filter((c) => !isV6Pool(c)));
    return [...pools.map((c) => parseCidr(c.Subnet)), ...hostRoutes()];
  }

  /** IPv6 prefixes in use by networks and by the host's routes. */
  private takenSubnets6(): Prefix6[] {
    const pools = this.list().flatMap((n) => n.IPAM.Config.filter(isV6Pool));
    return [...pools.map((c) => parsePrefix6(c.Subnet)), ...hostRoutes6()];
  }

  async remove(ref: string): Promise<void> {
    const rec = this.get(ref);
    if (PREDEFINED.includes(rec.Name))
      throw new GantryError('forbidden', `${rec.Name} is a pre-defined network and cannot be removed`);
    const users = this.o.containers().filter((c) => c.NetworkSettings?.Networks[rec.Name] && c.State.Running);
    if (users.length)
      throw new GantryError(
        'forbidden',
        `error while removing network: network ${rec.Name} id ${rec.Id} has active endpoints`,
      );
    await this.stopDns(rec.Id);
    await natRules(rec, 'delete');
    this.natReady.delete(rec.Id);
    await this.bridge.removeNetwork(this.bridgeNetwork(rec));
    await fs.rm(path.join(this.recordsDir, `${rec.Id}.json`), { force: true });
    this.networks.delete(rec.Id);
    this.o.publish('destroy', rec);
  }

  /** Remove user-defined networks no container refers to. */
  async prune(): Promise<string[]> {
    const removed: string[] = [];
    for (const rec of this.list()) {
      if (PREDEFINED.includes(rec.Name)) continue;
      if (this.o.containers().some((c) => c.NetworkSettings?.Networks[rec.Name])) continue;
      await this.remove(rec.Id);
      removed.push(rec.Name);
    }
    return removed;
  }

  /**
   * The endpoints a new container starts with, from its network mode and the create request's
   * `NetworkingConfig.EndpointsConfig`. Validates that the networks exist.
   */
  initialEndpoints(
    mode: string | undefined,
    endpointsConfig: Record<string, EndpointRequest & { Links?: string[] | null }> | undefined,
  ): Record<string, EndpointSettings> {
    const m = !mode || mode === 'default' ? 'bridge' : mode;
    if (m.startsWith('container:')) return {};
    const rec = this.get(m);
    const cfg =
      endpointsConfig?.[m] ??
      endpointsConfig?.[rec.Name] ??
      endpointsConfig?.[rec.Id] ??
      (m === 'bridge' ? endpointsConfig?.default : undefined);
    return { [rec.Name]: this.newEndpoint(rec, cfg ?? {}) };
  }

  /** A container's endpoint on a network from what it asked for, checked as moby checks it. */
  newEndpoint(rec: NetworkRecord, cfg: EndpointRequest & { Links?: string[] | null }): EndpointSettings {
    if (rec.Driver === 'bridge')
      validateEndpoint({ ...rec, userSubnet: !!rec.userSubnet, userSubnet6: !!rec.userSubnet6 }, cfg);
    const ipam = cfg.IPAMConfig;
    const mac = cfg.MacAddress ? normalizeMac(cfg.MacAddress) : undefined;
    return {
      ...ZERO_ENDPOINT,
      IPAMConfig:
        ipam && (ipam.IPv4Address || ipam.IPv6Address || ipam.LinkLocalIPs?.length)
          ? {
              ...(ipam.IPv4Address ? { IPv4Address: ipam.IPv4Address } : {}),
              ...(ipam.IPv6Address ? { IPv6Address: ipam.IPv6Address } : {}),
              ...(ipam.LinkLocalIPs?.length ? { LinkLocalIPs: ipam.LinkLocalIPs } : {}),
            }
          : null,
      Aliases: cfg.Aliases?.length ? cfg.Aliases : null,
      Links: cfg.Links?.length ? cfg.Links : null,
      NetworkID: rec.Id,
      ...(mac ? { configuredMac: mac } : {}),
    };
  }

  /** What an endpoint asks of the bridge driver. */
  wishOf(ep: EndpointSettings): EndpointWish {
    return {
      address: ep.IPAMConfig?.IPv4Address || undefined,
      address6: ep.IPAMConfig?.IPv6Address || undefined,
      mac: ep.configuredMac,
    };
  }

  /** Whether a network mode needs a namespace of its own wired through CNI (bridge or user-defined). */
  needsWiring(c: NetworkedContainer): boolean {
    return Object.keys(c.NetworkSettings?.Networks ?? {}).some((n) => this.byName(n)?.Driver === 'bridge');
  }

  /** The address `host-gateway` stands for in `--add-host`: the default bridge's, as in Docker. */
  hostGateway(): string {
    return this.byName('bridge')?.IPAM.Config[0]?.Gateway ?? '';
  }

  /** The gateway a user-defined network's containers use as their DNS server (Docker's 127.0.0.11). */
  dnsServerFor(c: NetworkedContainer): string | undefined {
    for (const name of Object.keys(c.NetworkSettings?.Networks ?? {})) {
      const rec = this.byName(name);
      if (rec && rec.Driver === 'bridge' && rec.Name !== 'bridge') return rec.IPAM.Config[0]?.Gateway;
    }
    return undefined;
  }

  /** The CNI configuration for published ports: the portmap plugin, chained after the bridge step. */
  portmapList(rec: NetworkRecord): CniConfList {
    return {
      cniVersion: CNI_VERSION,
      name: rec.Name,
      plugins: [{ type: 'portmap', capabilities: { portMappings: true }, snat: true }],
    };
  }

  bridgeNetwork(rec: NetworkRecord): BridgeNetwork {
    const cfg = rec.IPAM.Config.find((c) => !isV6Pool(c))!;
    const pool6 = rec.EnableIPv6 ? rec.IPAM.Config.find(isV6Pool) : undefined;
    return {
      name: rec.Name,
      device: rec.Options['com.docker.network.bridge.name']!,
      subnet: cfg.Subnet,
      gateway: cfg.Gateway,
      internal: rec.Internal,
      range: dynamicRange(cfg),
      mtu: Number(rec.Options[MTU_OPTION] ?? 0),
      ...(pool6
        ? {
            v6: {
              subnet: parsePrefix6(pool6.Subnet),
              gateway: pool6.Gateway,
              range: pool6.IPRange ? parsePrefix6(pool6.IPRange) : undefined,
              reserved: new Set(Object.values(pool6.AuxiliaryAddresses ?? {}).map(ip6ToBig)),
            },
          }
        : {}),
    };
  }

  /**
   * Names → IPv4 on one network, for its DNS server: container names, aliases and short IDs; for the
   * asking container (by its address) also the aliases of its links on this network.
   */
  lookup(networkName: string, name: string, source?: string): string | undefined {
    return this.endpointNamed(networkName, name, source)?.IPAddress;
  }

  /** The same names → IPv6 (AAAA) on a network with IPv6. */
  lookup6(networkName: string, name: string, source?: string): string | undefined {
    return this.endpointNamed(networkName, name, source)?.GlobalIPv6Address || undefined;
  }

  private endpointNamed(networkName: string, name: string, source?: string): EndpointSettings | undefined {
    const wanted = name.toLowerCase().replace(/\.$/, '');
    const on = this.o
      .containers()
      .filter((c) => c.State.Running && c.NetworkSettings?.Networks[networkName]?.IPAddress);
    const asker = source ? on.find((c) => c.NetworkSettings!.Networks[networkName]!.IPAddress === source) : undefined;
    for (const link of asker?.NetworkSettings!.Networks[networkName]!.Links ?? []) {
      const [target = '', alias = target] = link.split(':');
      if (alias.toLowerCase() === wanted && target.toLowerCase() !== wanted)
        return this.endpointNamed(networkName, target);
    }
    for (const c of on) {
      const ep = c.NetworkSettings!.Networks[networkName]!;
      const names = [c.Name.slice(1), c.Id.slice(0, 12), ...(ep.Aliases ?? [])].map((n) => n.toLowerCase());
      if (names.includes(wanted)) return ep;
    }
    return undefined;
  }

  /**
   * Where the embedded DNS forwards a container's other questions: the servers it was given with
   * `--dns`, as Docker's embedded DNS does, else the host's resolvers (undefined).
   */
  private upstreamsOf(networkName: string, source: string, gateway: string): string[] | undefined {
    for (const c of this.o.containers()) {
      if (c.NetworkSettings?.Networks[networkName]?.IPAddress !== source) continue;
      const dns = (c.HostConfig.Dns ?? []).filter((d) => net.isIPv4(d) && d !== gateway);
      return dns.length ? dns : undefined;
    }
    return undefined;
  }

  /**
   * Docker's rules for a bridge network (see natRules): isolated from other networks and other hosts
   * but for published ports, masqueraded on the way out. One set per network, however many containers: adding a NAT chain
   * per container (the bridge plugin's ipMasq) cost ~45 ms per start and ~30 ms per stop here.
   */
  async ensureNat(rec: NetworkRecord): Promise<void> {
    if (this.natReady.has(rec.Id)) return;
    await natRules(rec, 'ensure');
    this.natReady.add(rec.Id);
  }

  async ensureDns(rec: NetworkRecord): Promise<void> {
    if (this.dns.has(rec.Id)) return;
    const gateway = rec.IPAM.Config[0]?.Gateway;
    if (!gateway) return;
    const server = new DnsServer(
      gateway,
      (name, source) => this.lookup(rec.Name, name, source),
      this.o.logger,
      53,
      (source) => this.upstreamsOf(rec.Name, source, gateway),
      (name, source) => this.lookup6(rec.Name, name, source),
    );
    this.dns.set(rec.Id, server);
    try {
      await server.start();
    } catch (err) {
      this.dns.delete(rec.Id);
      this.o.logger.warn({ network: rec.Name, err: String(err) }, 'embedded DNS server could not start');
    }
  }

  private async stopDns(id: string): Promise<void> {
    await this.dns.get(id)?.stop();
    this.dns.delete(id);
  }

  async close(): Promise<void> {
    for (const id of [...this.dns.keys()]) await this.stopDns(id);
    for (const r of this.reservations.values()) r.release();
    this.reservations.clear();
  }
}

type WiringMethods = typeof wiringMethods;
// The methods of wiring.ts, declared on the class (the merge is what makes them its own).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type
export interface NetworkService extends WiringMethods {}
Object.assign(NetworkService.prototype, wiringMethods);
