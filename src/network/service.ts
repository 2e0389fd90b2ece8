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
import { promises as fs, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { conflict, GantryError, invalid, notFound } from '../common/errors.js';
import { readJson, writeJsonAtomic } from '../common/fsutil.js';
import type { Logger } from '../common/log.js';
import { MNT_DETACH, native } from '../native/index.js';
import { addNetworkList, CNI_VERSION, delNetworkList, type CniConfList, type CniResult } from './cni.js';
import { BridgeDriver, linkExists, type Attachment, type BridgeNetwork, type EndpointWish } from './bridge.js';
import { DnsServer } from './dns.js';
import { allocateSubnet, contains, firstHost, hostRoutes, parseCidr, subnetText, type Subnet } from './ipnet.js';
import { GATEWAY_MODE, GATEWAY_MODES, natRules } from './natrules.js';
import {
  dynamicRange,
  normalizeMac,
  poolOf,
  validateEndpoint,
  validateIpam,
  type EndpointRequest,
  type IpamPool,
  type IpamRequest,
} from './ipam.js';
import { PortReservation, portsView, wantedBindings, type PortBindings, type PortMapping } from './ports.js';

export interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local';
  Driver: 'bridge' | 'host' | 'null';
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: IpamPool[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** The subnet was given at create (static addresses are allowed only then, as in moby); not shown. */
  userSubnet?: boolean;
}

/** One container's endpoint on a network, in Docker's shape (`NetworkSettings.Networks[name]`). */
export interface EndpointSettings {
  IPAMConfig: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] | null } | null;
  Links: string[] | null;
  Aliases: string[] | null;
  MacAddress: string;
  DriverOpts: Record<string, string> | null;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DNSNames: string[] | null;
  /** The MAC address asked for (shown as MacAddress also while stopped); not shown itself. */
  configuredMac?: string;
}

/** An endpoint as the API shows it. */
export function endpointView(ep: EndpointSettings): Omit<EndpointSettings, 'configuredMac'> {
  const { configuredMac, ...shown } = ep;
  return { ...shown, MacAddress: shown.MacAddress || configuredMac || '' };
}

/** What the engine keeps per container about its wiring, so it can be undone after a restart. */
export interface ContainerNetState {
  netns: string;
  attachments: Array<{ networkId: string; ifName: string; result: CniResult }>;
  ports: PortMapping[];
}

/** The part of a container record the network service reads and writes. */
export interface NetworkedContainer {
  Id: string;
  Name: string;
  Config: { ExposedPorts?: Record<string, unknown>; Hostname?: string };
  HostConfig: {
    NetworkMode?: string;
    PortBindings?: PortBindings | null;
    PublishAllPorts?: boolean;
    Dns?: string[] | null;
  };
  State: { Running: boolean; Pid?: number };
  NetworkSettings?: {
    Networks: Record<string, EndpointSettings>;
    Ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null>;
  };
  netState?: ContainerNetState;
}

export interface NetworkOptions {
  dataRoot: string;
  execRoot: string;
  pluginDir: string;
  logger: Logger;
  /** Default bridge: device name and its address with prefix (Docker's `--bip`). */
  bridgeName: string;
  bridgeCidr: string;
  /** Where user-defined networks take their subnets from (Docker's `--default-address-pool`). */
  addressPool: { base: string; size: number };
  containers: () => NetworkedContainer[];
  publish: (action: string, network: NetworkRecord, extra?: Record<string, string>) => void;
}

export const PREDEFINED = ['bridge', 'host', 'none'];
const MTU_OPTION = 'com.docker.network.driver.mtu';

/**
 * Docker takes nearly any network name (spaces too); the name also names the network's lease directory,
 * so it may not be a path step of its own.
 */
function validateNetworkName(name: string): void {
  if (!name.trim() || name === '.' || name === '..' || /[/\0]/.test(name) || Buffer.byteLength(name) > 255)
    throw invalid(`invalid network name "${name}"`);
}
const ZERO_ENDPOINT: Omit<EndpointSettings, 'NetworkID' | 'Aliases'> = {
  IPAMConfig: null,
  Links: null,
  MacAddress: '',
  DriverOpts: null,
  EndpointID: '',
  Gateway: '',
  IPAddress: '',
  IPPrefixLen: 0,
  IPv6Gateway: '',
  GlobalIPv6Address: '',
  GlobalIPv6PrefixLen: 0,
  DNSNames: null,
};

export class NetworkService {
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly reservations = new Map<string, PortReservation>();
  private readonly dns = new Map<string, DnsServer>();
  /** Networks whose NAT and forwarding rules this process has checked. */
  private readonly natReady = new Set<string>();

  private readonly bridge: BridgeDriver;

  private constructor(private readonly o: NetworkOptions) {
    this.bridge = new BridgeDriver(path.join(o.dataRoot, 'network', 'ipam'));
  }

  private get recordsDir(): string {
    return path.join(this.o.dataRoot, 'network', 'networks');
  }

  private get netnsDir(): string {
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

  private byName(name: string): NetworkRecord | undefined {
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
        IPv6Address: '',
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
    const asked = validateIpam(req.IPAM?.Config ?? [], !!req.EnableIPv6);
    if (req.EnableIPv6) throw invalid('IPv6 networks are not supported by this engine');
    if (asked.length > 1) throw invalid('only one IPv4 subnet per network is supported');
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
    const rec = this.newRecord(name, 'bridge', config, !!req.Internal, req.Labels ?? {}, options);
    rec.Attachable = !!req.Attachable;
    if (asked[0]) rec.userSubnet = true;
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
    return [...this.list().flatMap((n) => n.IPAM.Config.map((c) => parseCidr(c.Subnet))), ...hostRoutes()];
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
  private newEndpoint(rec: NetworkRecord, cfg: EndpointRequest & { Links?: string[] | null }): EndpointSettings {
    if (rec.Driver === 'bridge') validateEndpoint({ ...rec, userSubnet: !!rec.userSubnet }, cfg);
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
  private wishOf(ep: EndpointSettings): EndpointWish {
    return { address: ep.IPAMConfig?.IPv4Address || undefined, mac: ep.configuredMac };
  }

  /** Whether a network mode needs a namespace of its own wired through CNI (bridge or user-defined). */
  needsWiring(c: NetworkedContainer): boolean {
    return Object.keys(c.NetworkSettings?.Networks ?? {}).some((n) => this.byName(n)?.Driver === 'bridge');
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
  private portmapList(rec: NetworkRecord): CniConfList {
    return {
      cniVersion: CNI_VERSION,
      name: rec.Name,
      plugins: [{ type: 'portmap', capabilities: { portMappings: true }, snat: true }],
    };
  }

  private bridgeNetwork(rec: NetworkRecord): BridgeNetwork {
    const cfg = rec.IPAM.Config[0]!;
    return {
      name: rec.Name,
      device: rec.Options['com.docker.network.bridge.name']!,
      subnet: cfg.Subnet,
      gateway: cfg.Gateway,
      internal: rec.Internal,
      range: dynamicRange(cfg),
      mtu: Number(rec.Options[MTU_OPTION] ?? 0),
    };
  }

  /**
   * Wire a created (not yet started) container: hold its host ports, pin its network namespace, and
   * add an interface on each of its bridge networks. On failure nothing stays wired.
   */
  async setUp(c: NetworkedContainer, pid: number): Promise<void> {
    const endpoints = c.NetworkSettings!.Networks;
    const names = Object.keys(endpoints).filter((n) => this.byName(n)?.Driver === 'bridge');
    const ports = await PortReservation.reserve(
      wantedBindings(c.HostConfig.PortBindings, c.Config.ExposedPorts, !!c.HostConfig.PublishAllPorts),
    );
    const netns = path.join(this.netnsDir, c.Id);
    const state: ContainerNetState = { netns, attachments: [], ports: ports.mappings };
    try {
      writeFileSync(netns, '');
      native.mount(`/proc/${pid}/ns/net`, netns, 'none', MS_BIND, '');
      for (const [i, name] of names.entries()) {
        const rec = this.byName(name)!;
        await this.ensureNat(rec);
        const ifName = `eth${i}`;
        // The first network carries the default route, as in Docker.
        const att = await this.bridge.attach(
          this.bridgeNetwork(rec),
          c.Id,
          pid,
          netns,
          ifName,
          i === 0,
          this.wishOf(endpoints[name]!),
        );
        const result = cniResult(att, netns);
        state.attachments.push({ networkId: rec.Id, ifName, result });
        if (i === 0 && ports.mappings.length)
          await addNetworkList(
            this.o.pluginDir,
            this.portmapList(rec),
            { containerId: c.Id, netns, ifName, capabilityArgs: { portMappings: ports.mappings } },
            result,
          );
        endpoints[name] = {
          ...endpoints[name]!,
          ...endpointFrom(result, ifName),
          NetworkID: rec.Id,
          DNSNames: rec.Name === 'bridge' ? null : dnsNames(c, endpoints[name]!),
        };
        if (rec.Name !== 'bridge') await this.ensureDns(rec);
      }
    } catch (err) {
      c.netState = state;
      await this.tearDown(c).catch(() => undefined);
      ports.release();
      throw err;
    }
    this.reservations.set(c.Id, ports);
    c.netState = state;
    c.NetworkSettings!.Ports = portsView(ports.mappings, c.Config.ExposedPorts);
  }

  /** Undo `setUp`: delete each interface through its plugins, unpin the namespace, free the ports. */
  async tearDown(c: NetworkedContainer): Promise<void> {
    const state = c.netState;
    this.reservations.get(c.Id)?.release();
    this.reservations.delete(c.Id);
    if (!state) return;
    const netnsPinned = existsSync(state.netns);
    let first: unknown;
    for (const a of [...state.attachments].reverse()) {
      const rec = this.networks.get(a.networkId);
      if (!rec) continue;
      if (a.ifName === 'eth0' && state.ports.length) {
        await delNetworkList(
          this.o.pluginDir,
          this.portmapList(rec),
          {
            containerId: c.Id,
            netns: netnsPinned ? state.netns : '',
            ifName: a.ifName,
            capabilityArgs: { portMappings: state.ports },
          },
          a.result,
        ).catch((err: unknown) => {
          first ??= err;
        });
      }
      await this.bridge.detach(this.bridgeNetwork(rec), c.Id).catch((err: unknown) => {
        first ??= err;
      });
    }
    if (netnsPinned) {
      try {
        native.umount2(state.netns, MNT_DETACH);
      } catch {
        // Not mounted: a crash between creating the file and the mount.
      }
      await fs.rm(state.netns, { force: true });
    }
    c.netState = undefined;
    for (const ep of Object.values(c.NetworkSettings?.Networks ?? {}))
      Object.assign(ep, {
        ...ZERO_ENDPOINT,
        IPAMConfig: ep.IPAMConfig,
        Links: ep.Links,
        Aliases: ep.Aliases,
        NetworkID: ep.NetworkID,
        DNSNames: null,
        ...(ep.configuredMac ? { configuredMac: ep.configuredMac } : {}),
      });
    if (c.NetworkSettings) c.NetworkSettings.Ports = {};
    if (first) this.o.logger.warn({ id: c.Id.slice(0, 12), err: String(first) }, 'network teardown incomplete');
  }

  /**
   * The ids of containers holding something of the networks: a pinned namespace or an address. After
   * a crash some of them may have no record, or a record that never learnt what it holds.
   */
  async holders(): Promise<Set<string>> {
    const ids = new Set<string>(await fs.readdir(this.netnsDir).catch(() => [] as string[]));
    for (const rec of this.list())
      if (rec.Driver === 'bridge') for (const id of await this.bridge.holders(this.bridgeNetwork(rec))) ids.add(id);
    return ids;
  }

  /**
   * Free whatever a container may hold of the networks, found by its id rather than its record: the
   * address leases, the host ends of its veths (named after the id), its namespace pin, its ports.
   * What `tearDown` undoes from the recorded state, this finds when the state was never recorded.
   */
  async purge(id: string): Promise<void> {
    this.reservations.get(id)?.release();
    this.reservations.delete(id);
    const bridges = this.list().filter((r) => r.Driver === 'bridge');
    for (const rec of bridges) await this.bridge.detach(this.bridgeNetwork(rec), id).catch(() => undefined);
    for (let i = 0; i < bridges.length; i++) await this.bridge.deleteVeth(id, `eth${i}`).catch(() => undefined);
    const pin = path.join(this.netnsDir, id);
    if (existsSync(pin)) {
      try {
        native.umount2(pin, MNT_DETACH);
      } catch {
        // Not mounted: the crash came between creating the file and the mount.
      }
      await fs.rm(pin, { force: true });
    }
  }

  /** After a daemon restart: running containers get their ports held again and their DNS served. */
  async restore(c: NetworkedContainer): Promise<void> {
    if (!c.netState) return;
    if (!c.State.Running) {
      await this.tearDown(c);
      return;
    }
    for (const a of c.netState.attachments) {
      const rec = this.networks.get(a.networkId);
      if (rec && rec.Name !== 'bridge') await this.ensureDns(rec).catch(() => undefined);
    }
    const wanted = c.netState.ports.map((m) => ({
      key: `${m.containerPort}/${m.protocol}`,
      hostIp: m.hostIP,
      hostPort: m.hostPort,
    }));
    try {
      this.reservations.set(c.Id, await PortReservation.reserve(wanted));
    } catch (err) {
      // The forwarding rules still work; only the guard against another program taking the port is lost.
      this.o.logger.warn({ id: c.Id.slice(0, 12), err: String(err) }, 'could not hold published ports again');
    }
  }

  /** Connect a container to another network: at once when it runs, else at its next start. */
  async connect(
    c: NetworkedContainer & { State: { Pid?: number } },
    ref: string,
    cfg: EndpointRequest & { Links?: string[] | null } = {},
  ): Promise<NetworkRecord> {
    const rec = this.get(ref);
    const eps = (c.NetworkSettings ??= { Networks: {}, Ports: {} }).Networks;
    if (eps[rec.Name])
      throw new GantryError('forbidden', `endpoint with name ${c.Name.slice(1)} already exists in network ${rec.Name}`);
    if (rec.Driver !== 'bridge' || Object.keys(eps).some((n) => this.byName(n)?.Driver !== 'bridge'))
      throw new GantryError(
        'forbidden',
        'container cannot be disconnected from host network or connected to host network',
      );
    const ep = this.newEndpoint(rec, cfg);
    const state = c.netState;
    if (c.State.Running && state && c.State.Pid) {
      await this.ensureNat(rec);
      const used = new Set(state.attachments.map((a) => a.ifName));
      let n = 0;
      while (used.has(`eth${n}`)) n++;
      const ifName = `eth${n}`;
      const att = await this.bridge.attach(
        this.bridgeNetwork(rec),
        c.Id,
        c.State.Pid,
        state.netns,
        ifName,
        state.attachments.length === 0,
        this.wishOf(ep),
      );
      const result = cniResult(att, state.netns);
      state.attachments.push({ networkId: rec.Id, ifName, result });
      Object.assign(ep, endpointFrom(result, ifName), { DNSNames: dnsNames(c, ep) });
      await this.ensureDns(rec);
    }
    eps[rec.Name] = ep;
    this.o.publish('connect', rec, { container: c.Id });
    return rec;
  }

  /** Disconnect a container from a network, taking its interface away at once when it runs. */
  async disconnect(c: NetworkedContainer, ref: string): Promise<NetworkRecord> {
    const rec = this.get(ref);
    const eps = c.NetworkSettings?.Networks ?? {};
    if (!eps[rec.Name]) throw new GantryError('forbidden', `container ${c.Id} is not connected to network ${rec.Name}`);
    const state = c.netState;
    const att = state?.attachments.find((a) => a.networkId === rec.Id);
    if (state && att) {
      if (att.ifName === 'eth0' && state.ports.length)
        throw new GantryError(
          'forbidden',
          `cannot disconnect container ${c.Name.slice(1)} from network ${rec.Name}: its published ports are on it`,
        );
      await this.bridge.deleteVeth(c.Id, att.ifName);
      await this.bridge.detach(this.bridgeNetwork(rec), c.Id);
      state.attachments = state.attachments.filter((a) => a !== att);
    }
    delete eps[rec.Name];
    this.o.publish('disconnect', rec, { container: c.Id });
    return rec;
  }

  /** Names → IPv4 on one network, for its DNS server: container names, aliases and short IDs. */
  private lookup(networkName: string, name: string): string | undefined {
    const wanted = name.toLowerCase().replace(/\.$/, '');
    for (const c of this.o.containers()) {
      const ep = c.NetworkSettings?.Networks[networkName];
      if (!ep?.IPAddress || !c.State.Running) continue;
      const names = [c.Name.slice(1), c.Id.slice(0, 12), ...(ep.Aliases ?? [])].map((n) => n.toLowerCase());
      if (names.includes(wanted)) return ep.IPAddress;
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
  private async ensureNat(rec: NetworkRecord): Promise<void> {
    if (this.natReady.has(rec.Id)) return;
    await natRules(rec, 'ensure');
    this.natReady.add(rec.Id);
  }

  private async ensureDns(rec: NetworkRecord): Promise<void> {
    if (this.dns.has(rec.Id)) return;
    const gateway = rec.IPAM.Config[0]?.Gateway;
    if (!gateway) return;
    const server = new DnsServer(
      gateway,
      (name) => this.lookup(rec.Name, name),
      this.o.logger,
      53,
      (source) => this.upstreamsOf(rec.Name, source, gateway),
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

const MS_BIND = 4096;

function dnsNames(c: NetworkedContainer, ep: EndpointSettings): string[] {
  return [c.Name.slice(1), c.Id.slice(0, 12), ...(ep.Aliases ?? [])];
}

/** A bridge attachment as a CNI result, which the portmap plugin takes as its previous result. */
function cniResult(att: Attachment, netns: string): CniResult {
  return {
    cniVersion: CNI_VERSION,
    interfaces: [{ name: att.hostVeth }, { name: att.ifName, mac: att.mac, sandbox: netns }],
    ips: [{ address: `${att.address}/${att.prefix}`, gateway: att.gateway, interface: 1 }],
    routes: [{ dst: '0.0.0.0/0', gw: att.gateway }],
  };
}

/** The endpoint fields of a CNI result for one interface. */
function endpointFrom(result: CniResult, ifName: string): Partial<EndpointSettings> {
  const ifIndex = result.interfaces?.findIndex((i) => i.name === ifName && i.sandbox) ?? -1;
  const ip = result.ips?.find((i) => i.interface === ifIndex) ?? result.ips?.[0];
  const [address = '', prefix = '0'] = (ip?.address ?? '').split('/');
  return {
    EndpointID: randomBytes(32).toString('hex'),
    IPAddress: address,
    IPPrefixLen: Number(prefix),
    Gateway: ip?.gateway ?? '',
    MacAddress: result.interfaces?.[ifIndex]?.mac ?? '',
  };
}
