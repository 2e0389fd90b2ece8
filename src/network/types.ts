/** The network service's records and shapes: networks and endpoints as Docker shows them, and what the engine keeps per container about its wiring. */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../common/log.js';
import type { Attachment } from './bridge.js';
import { CNI_VERSION, type CniResult } from './cni.js';
import type { IpamPool } from './ipam.js';
import type { PortBindings, PortMapping } from './ports.js';

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
  /** The IPv6 subnet was given at create; not shown. */
  userSubnet6?: boolean;
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
export const ZERO_ENDPOINT: Omit<EndpointSettings, 'NetworkID' | 'Aliases'> = {
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

export function dnsNames(c: NetworkedContainer, ep: EndpointSettings): string[] {
  return [c.Name.slice(1), c.Id.slice(0, 12), ...(ep.Aliases ?? [])];
}

/** A bridge attachment as a CNI result, which the portmap plugin takes as its previous result. */
export function cniResult(att: Attachment, netns: string): CniResult {
  return {
    cniVersion: CNI_VERSION,
    interfaces: [{ name: att.hostVeth }, { name: att.ifName, mac: att.mac, sandbox: netns }],
    ips: [{ address: `${att.address}/${att.prefix}`, gateway: att.gateway, interface: 1 }],
    routes: [{ dst: '0.0.0.0/0', gw: att.gateway }],
  };
}

/** The endpoint fields of a CNI result for one interface. */
export function endpointFrom(result: CniResult, ifName: string): Partial<EndpointSettings> {
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
