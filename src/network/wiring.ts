/**
 * A container's place on the networks: wiring at start (a veth on each bridge network, its published
 * ports on the first, its namespace pinned under the exec root), undoing it at stop or after a crash,
 * and connecting or disconnecting a network while it runs. Methods of NetworkService (service.ts).
 */
import { existsSync, promises as fs, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GantryError } from '../common/errors.js';
import { MNT_DETACH, native } from '../native/index.js';
import { addAddresses, type Attachment } from './bridge.js';
import { addNetworkList, delNetworkList } from './cni.js';
import type { EndpointRequest } from './ipam.js';
import { natMappings, PortReservation, portsView, wantedBindings } from './ports.js';
import type { NetworkService } from './service.js';
import {
  cniResult,
  dnsNames,
  endpointFrom,
  ZERO_ENDPOINT,
  type ContainerNetState,
  type EndpointSettings,
  type NetworkedContainer,
  type NetworkRecord,
} from './types.js';

const MS_BIND = 4096;

export const wiringMethods = {
  /**
   * Wire a created (not yet started) container: hold its host ports, pin its network namespace, and
   * add an interface on each of its bridge networks. On failure nothing stays wired.
   */
  async setUp(this: NetworkService, c: NetworkedContainer, pid: number): Promise<void> {
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
        const linkLocal = endpoints[name]!.IPAMConfig?.LinkLocalIPs ?? [];
        if (linkLocal.length) await addAddresses(netns, ifName, linkLocal);
        if (i === 0 && natMappings(ports.mappings).length)
          await addNetworkList(
            this.o.pluginDir,
            this.portmapList(rec),
            { containerId: c.Id, netns, ifName, capabilityArgs: { portMappings: natMappings(ports.mappings) } },
            result,
          );
        endpoints[name] = {
          ...endpoints[name]!,
          ...endpointFrom(result, ifName),
          ...ipv6Fields(att),
          NetworkID: rec.Id,
          DNSNames: rec.Name === 'bridge' ? null : dnsNames(c, endpoints[name]!),
        };
        if (i === 0) ports.forwardTo(proxyTargets(endpoints[name]!));
        if (rec.Name !== 'bridge') await this.ensureDns(rec);
      }
    } catch (err) {
      c.netState = state;
      await this.tearDown(c).catch(() => undefined);
      ports.release();
      throw err;
    }
    this.reservations.set(c.Id, ports);
    for (const a of state.attachments) this.o.publish('connect', this.networks.get(a.networkId)!, { container: c.Id });
    c.netState = state;
    c.NetworkSettings!.Ports = portsView(ports.mappings, c.Config.ExposedPorts);
  },

  /** Undo `setUp`: delete each interface through its plugins, unpin the namespace, free the ports. */
  async tearDown(this: NetworkService, c: NetworkedContainer): Promise<void> {
    const state = c.netState;
    this.reservations.get(c.Id)?.release();
    this.reservations.delete(c.Id);
    if (!state) return;
    const netnsPinned = existsSync(state.netns);
    let first: unknown;
    for (const a of [...state.attachments].reverse()) {
      const rec = this.networks.get(a.networkId);
      if (!rec) continue;
      if (a.ifName === 'eth0' && natMappings(state.ports).length) {
        await delNetworkList(
          this.o.pluginDir,
          this.portmapList(rec),
          {
            containerId: c.Id,
            netns: netnsPinned ? state.netns : '',
            ifName: a.ifName,
            capabilityArgs: { portMappings: natMappings(state.ports) },
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
    for (const a of state.attachments) {
      const rec = this.networks.get(a.networkId);
      if (rec) this.o.publish('disconnect', rec, { container: c.Id });
    }
    if (first) this.o.logger.warn({ id: c.Id.slice(0, 12), err: String(first) }, 'network teardown incomplete');
  },

  /**
   * The ids of containers holding something of the networks: a pinned namespace or an address. After
   * a crash some of them may have no record, or a record that never learnt what it holds.
   */
  async holders(this: NetworkService): Promise<Set<string>> {
    const ids = new Set<string>(await fs.readdir(this.netnsDir).catch(() => [] as string[]));
    for (const rec of this.list())
      if (rec.Driver === 'bridge') for (const id of await this.bridge.holders(this.bridgeNetwork(rec))) ids.add(id);
    return ids;
  },

  /**
   * Free whatever a container may hold of the networks, found by its id rather than its record: the
   * address leases, the host ends of its veths (named after the id), its namespace pin, its ports.
   * What `tearDown` undoes from the recorded state, this finds when the state was never recorded.
   */
  async purge(this: NetworkService, id: string): Promise<void> {
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
  },

  /** After a daemon restart: running containers get their ports held again and their DNS served. */
  async restore(this: NetworkService, c: NetworkedContainer): Promise<void> {
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
      const ports = await PortReservation.reserve(wanted);
      const first = c.netState.attachments[0] && this.networks.get(c.netState.attachments[0].networkId);
      const endpoint = first && c.NetworkSettings?.Networks[first.Name];
      if (endpoint) ports.forwardTo(proxyTargets(endpoint));
      this.reservations.set(c.Id, ports);
    } catch (err) {
      // The forwarding rules still work; only the guard against another program taking the port is lost.
      this.o.logger.warn({ id: c.Id.slice(0, 12), err: String(err) }, 'could not hold published ports again');
    }
  },

  /** Connect a container to another network: at once when it runs, else at its next start. */
  async connect(
    this: NetworkService,
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
      if (ep.IPAMConfig?.LinkLocalIPs?.length) await addAddresses(state.netns, ifName, ep.IPAMConfig.LinkLocalIPs);
      Object.assign(ep, endpointFrom(result, ifName), ipv6Fields(att), { DNSNames: dnsNames(c, ep) });
      await this.ensureDns(rec);
    }
    eps[rec.Name] = ep;
    this.o.publish('connect', rec, { container: c.Id });
    return rec;
  },

  /** Disconnect a container from a network, taking its interface away at once when it runs. */
  async disconnect(this: NetworkService, c: NetworkedContainer, ref: string): Promise<NetworkRecord> {
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
  },
};

/** An attachment's IPv6 address as the endpoint shows it. */
function ipv6Fields(att: Attachment): Partial<EndpointSettings> {
  return att.v6
    ? { GlobalIPv6Address: att.v6.address, GlobalIPv6PrefixLen: att.v6.prefix, IPv6Gateway: att.v6.gateway }
    : {};
}

/** The container addresses its published ports' proxies carry traffic to. */
function proxyTargets(ep: Partial<EndpointSettings>): { v4?: string; v6?: string } {
  return { v4: ep.IPAddress, v6: ep.GlobalIPv6Address };
}
