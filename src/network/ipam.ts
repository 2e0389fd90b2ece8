/**
 * A network's address configuration as moby validates it (api/types/network ValidateIPAM, and the
 * daemon's endpoint checks): subnet, gateway, ip-range and auxiliary addresses of a network; the static
 * address and MAC address a container asks for on one. Errors carry moby's words.
 */
import net from 'node:net';
import { invalid } from '../common/errors.js';
import { contains, ipToInt, parseCidr, subnetText, type Subnet } from './ipnet.js';
import { bigToIp6, contains6, ip6ToBig, parsePrefix6, prefix6Text, type Prefix6 } from './ipv6.js';

/** One IPAM pool of a network, in Docker's JSON shape (empty fields left out, as Docker leaves them). */
export interface IpamPool {
  Subnet: string;
  Gateway: string;
  IPRange?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

export interface IpamRequest {
  Subnet?: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string> | null;
}

function prefixOf(text: string): (Subnet & { ip: number }) | undefined {
  const [ip = '', bits = ''] = text.split('/');
  if (!net.isIPv4(ip) || !/^\d{1,2}$/.test(bits) || Number(bits) > 32) return undefined;
  return parseCidr(text);
}

function family(text: string): 'IPv4' | 'IPv6' {
  return text.includes(':') ? 'IPv6' : 'IPv4';
}

function addressError(address: string, subnet: Subnet): string | undefined {
  if (!net.isIP(address)) return 'invalid address';
  if (family(address) !== 'IPv4') return 'parent subnet is an IPv4 block';
  if (!contains(subnet, ipToInt(address)))
    return `parent subnet ${subnetText(subnet)} doesn't contain ip address ${address}`;
  return undefined;
}

/**
 * The IPv4 pools of a create request, checked as moby checks them; IPv6 pools are skipped unless
 * `enableIPv6`. Throws one error listing every problem.
 */
export function validateIpam(configs: IpamRequest[], enableIPv6: boolean): { v4: IpamRequest[]; v6: IpamRequest[] } {
  const errs: string[] = [];
  const v4: IpamRequest[] = [];
  const v6: IpamRequest[] = [];
  for (const cfg of configs) {
    const text = cfg.Subnet ?? '';
    if (family(text) === 'IPv6' && net.isIPv6(text.split('/')[0]!)) {
      if (!enableIPv6) continue;
      const problems = validateIpam6(cfg);
      errs.push(...problems);
      if (!problems.length) v6.push(cfg);
      continue;
    }
    const subnet = prefixOf(text);
    if (!subnet) {
      errs.push(`invalid subnet ${text}: invalid CIDR block notation`);
      continue;
    }
    if (subnet.ip !== subnet.base) errs.push(`invalid subnet ${text}: it should be ${subnetText(subnet)}`);
    if (cfg.IPRange) {
      const range = prefixOf(cfg.IPRange);
      if (!range) {
        errs.push(
          net.isIPv6(cfg.IPRange.split('/')[0]!)
            ? `invalid ip-range ${cfg.IPRange}: parent subnet is an IPv4 block`
            : `invalid ip-range ${cfg.IPRange}: invalid CIDR block notation`,
        );
      } else {
        if (range.bits < subnet.bits)
          errs.push(
            `invalid ip-range ${cfg.IPRange}: CIDR block is bigger than its parent subnet ${subnetText(subnet)}`,
          );
        if (range.ip !== range.base) errs.push(`invalid ip-range ${cfg.IPRange}: it should be ${subnetText(range)}`);
        if (!contains(subnet, range.base) && !contains(range, subnet.base))
          errs.push(`invalid ip-range ${cfg.IPRange}: parent subnet ${subnetText(subnet)} doesn't contain ip-range`);
      }
    }
    if (cfg.Gateway) {
      const e = addressError(cfg.Gateway, subnet);
      if (e) errs.push(`invalid gateway ${cfg.Gateway}: ${e}`);
    }
    for (const [name, aux] of Object.entries(cfg.AuxiliaryAddresses ?? {})) {
      const e = addressError(aux, subnet);
      if (e) errs.push(`invalid auxiliary address ${name}: ${e}`);
    }
    v4.push(cfg);
  }
  if (errs.length) throw invalid(`invalid network config:\n${errs.join('\n')}`);
  return { v4, v6 };
}

/** An IPv6 pool's problems, in moby's words. */
function validateIpam6(cfg: IpamRequest): string[] {
  const text = cfg.Subnet ?? '';
  let subnet: ReturnType<typeof parsePrefix6>;
  try {
    subnet = parsePrefix6(text);
  } catch {
    return [`invalid subnet ${text}: invalid CIDR block notation`];
  }
  const errs: string[] = [];
  if (subnet.ip !== subnet.base) errs.push(`invalid subnet ${text}: it should be ${prefix6Text(subnet)}`);
  if (subnet.bits > 124) errs.push(`invalid subnet ${text}: the prefix is too long to hold containers`);
  if (cfg.IPRange) {
    let range: ReturnType<typeof parsePrefix6> | undefined;
    try {
      range = parsePrefix6(cfg.IPRange);
    } catch {
      errs.push(
        net.isIPv4(cfg.IPRange.split('/')[0]!)
          ? `invalid ip-range ${cfg.IPRange}: parent subnet is an IPv6 block`
          : `invalid ip-range ${cfg.IPRange}: invalid CIDR block notation`,
      );
    }
    if (range) {
      if (range.bits < subnet.bits)
        errs.push(
          `invalid ip-range ${cfg.IPRange}: CIDR block is bigger than its parent subnet ${prefix6Text(subnet)}`,
        );
      if (range.ip !== range.base) errs.push(`invalid ip-range ${cfg.IPRange}: it should be ${prefix6Text(range)}`);
      if (!contains6(subnet, range.base))
        errs.push(`invalid ip-range ${cfg.IPRange}: parent subnet ${prefix6Text(subnet)} doesn't contain ip-range`);
    }
  }
  for (const [name, aux] of Object.entries(cfg.AuxiliaryAddresses ?? {})) {
    if (!net.isIP(aux)) errs.push(`invalid auxiliary address ${name}: invalid address`);
    else if (!net.isIPv6(aux)) errs.push(`invalid auxiliary address ${name}: parent subnet is an IPv6 block`);
    else if (!contains6(subnet, ip6ToBig(aux)))
      errs.push(
        `invalid auxiliary address ${name}: parent subnet ${prefix6Text(subnet)} doesn't contain ip address ${aux}`,
      );
  }
  if (cfg.Gateway) {
    if (!net.isIP(cfg.Gateway)) errs.push(`invalid gateway ${cfg.Gateway}: invalid address`);
    else if (!net.isIPv6(cfg.Gateway)) errs.push(`invalid gateway ${cfg.Gateway}: parent subnet is an IPv6 block`);
    else if (!contains6(subnet, ip6ToBig(cfg.Gateway)))
      errs.push(
        `invalid gateway ${cfg.Gateway}: parent subnet ${prefix6Text(subnet)} doesn't contain ip address ${cfg.Gateway}`,
      );
  }
  return errs;
}

/**
 * An IPv6 pool as the record keeps it: canonical subnet, gateway the first address unless given, and
 * the ip-range and auxiliary addresses asked for (validated beforehand), in canonical text.
 */
export function pool6Of(subnet: Prefix6, asked?: IpamRequest): IpamPool {
  const pool: IpamPool = {
    Subnet: prefix6Text(subnet),
    Gateway: asked?.Gateway ? bigToIp6(ip6ToBig(asked.Gateway)) : bigToIp6(subnet.base + 1n),
  };
  if (asked?.IPRange) pool.IPRange = prefix6Text(parsePrefix6(asked.IPRange));
  const aux = Object.entries(asked?.AuxiliaryAddresses ?? {});
  if (aux.length) pool.AuxiliaryAddresses = Object.fromEntries(aux.map(([k, v]) => [k, bigToIp6(ip6ToBig(v))]));
  return pool;
}

/** Whether a pool is an IPv6 one. */
export function isV6Pool(p: { Subnet: string }): boolean {
  return p.Subnet.includes(':');
}

/** A validated request as the network record keeps it. */
export function poolOf(cfg: IpamRequest, gateway: string): IpamPool {
  const subnet = parseCidr(cfg.Subnet!);
  const pool: IpamPool = { Subnet: subnetText(subnet), Gateway: gateway };
  if (cfg.IPRange) pool.IPRange = subnetText(parseCidr(cfg.IPRange));
  if (cfg.AuxiliaryAddresses && Object.keys(cfg.AuxiliaryAddresses).length)
    pool.AuxiliaryAddresses = { ...cfg.AuxiliaryAddresses };
  return pool;
}

/** The addresses a container may be given dynamically: the ip-range (else the subnet) without network, broadcast, gateway and auxiliary addresses. */
export function dynamicRange(pool: IpamPool): { first: number; last: number; reserved: Set<number> } {
  const subnet = parseCidr(pool.Subnet);
  const range = pool.IPRange ? parseCidr(pool.IPRange) : subnet;
  const subnetLast = subnet.base + 2 ** (32 - subnet.bits) - 1;
  const first = Math.max(range.base, subnet.base + 1);
  const last = Math.min(range.base + 2 ** (32 - range.bits) - 1, subnetLast - 1);
  const reserved = new Set([ipToInt(pool.Gateway), ...Object.values(pool.AuxiliaryAddresses ?? {}).map(ipToInt)]);
  return { first, last, reserved };
}

export interface EndpointRequest {
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] | null } | null;
  Aliases?: string[] | null;
  MacAddress?: string;
}

/** A MAC address as Go's net.ParseMAC takes a 6-byte one, lower-cased; undefined when malformed. */
export function normalizeMac(mac: string): string | undefined {
  const m = /^([0-9a-f]{2})([:-])([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/i.exec(mac);
  return m ? [m[1], m[3], m[4], m[5], m[6], m[7]].join(':').toLowerCase() : undefined;
}

/**
 * An endpoint request on a network, checked as moby's validateEndpointSettings does: static addresses
 * only on user-defined networks with a configured subnet and inside it, aliases only on user-defined
 * networks, a well-formed MAC address.
 */
export function validateEndpoint(
  network: { Name: string; IPAM: { Config: IpamPool[] }; userSubnet: boolean; userSubnet6?: boolean },
  ep: EndpointRequest,
): void {
  const errs: string[] = [];
  const ipam = ep.IPAMConfig ?? {};
  const predefined = network.Name === 'bridge';
  if (predefined && (ipam.IPv4Address || ipam.IPv6Address))
    errs.push('user specified IP address is supported on user defined networks only');
  if (predefined && ep.Aliases?.length)
    errs.push('network-scoped alias is supported only for containers in user defined networks');
  const v4 = ipam.IPv4Address;
  if (v4 && (!net.isIPv4(v4) || v4 === '0.0.0.0')) errs.push(`invalid IPv4 address: ${v4}`);
  if (ipam.IPv6Address && (!net.isIPv6(ipam.IPv6Address) || /^[:0]+$/.test(ipam.IPv6Address)))
    errs.push(`invalid IPv6 address: ${ipam.IPv6Address}`);
  for (const ll of ipam.LinkLocalIPs ?? [])
    if (!net.isIP(ll) || ll === '0.0.0.0' || /^[:0]+$/.test(ll)) errs.push(`invalid link-local IP address: ${ll}`);
  if (!predefined && v4 && net.isIPv4(v4)) {
    if (!network.userSubnet)
      errs.push('user specified IP address is supported only when connecting to networks with user configured subnets');
    else if (!network.IPAM.Config.some((p) => !isV6Pool(p) && contains(parseCidr(p.Subnet), ipToInt(v4))))
      errs.push(`no configured subnet or ip-range contain the IP address ${v4}`);
  }
  const v6 = ipam.IPv6Address;
  if (!predefined && v6 && net.isIPv6(v6)) {
    const pools6 = network.IPAM.Config.filter(isV6Pool);
    if (!network.userSubnet6 || !pools6.length)
      errs.push('user specified IP address is supported only when connecting to networks with user configured subnets');
    else if (!pools6.some((p) => contains6(parsePrefix6(p.Subnet), ip6ToBig(v6))))
      errs.push(`no configured subnet or ip-range contain the IP address ${v6}`);
  }
  if (ep.MacAddress && !normalizeMac(ep.MacAddress)) throw invalid(`invalid MAC address ${ep.MacAddress}`);
  if (errs.length) throw invalid(`invalid endpoint settings:\n${errs.join('\n')}`);
}
