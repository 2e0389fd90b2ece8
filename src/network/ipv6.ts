/** IPv6 prefixes: parsing, canonical text (RFC 5952), membership and ULA generation, over BigInt. */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { invalid } from '../common/errors.js';

export interface Prefix6 {
  base: bigint;
  bits: number;
}

const ALL = (1n << 128n) - 1n;

export function ip6ToBig(ip: string): bigint {
  if (!net.isIPv6(ip)) throw invalid(`invalid IPv6 address: ${ip}`);
  let text = ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -v4[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** RFC 5952 text: lower case, no leading zeros, the longest run (two or more) of zero groups as `::`. */
export function bigToIp6(n: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function parsePrefix6(cidr: string): Prefix6 & { ip: bigint } {
  const [ip = '', bitsText = ''] = cidr.split('/');
  const bits = Number(bitsText);
  if (!net.isIPv6(ip) || !/^\d{1,3}$/.test(bitsText) || bits > 128) throw invalid(`invalid CIDR address: ${cidr}`);
  const n = ip6ToBig(ip);
  const mask = bits === 0 ? 0n : (ALL << BigInt(128 - bits)) & ALL;
  return { ip: n, base: n & mask, bits };
}

export function prefix6Text(p: Prefix6): string {
  return `${bigToIp6(p.base)}/${p.bits}`;
}

export function contains6(p: Prefix6, ip: bigint): boolean {
  const mask = p.bits === 0 ? 0n : (ALL << BigInt(128 - p.bits)) & ALL;
  return (ip & mask) === p.base;
}

export function overlaps6(a: Prefix6, b: Prefix6): boolean {
  return contains6(a, b.base) || contains6(b, a.base);
}

/** A unique local /64 (RFC 4193: fd00::/8 and a random 40-bit global ID, subnet 0). */
export function randomUla(): Prefix6 {
  const id = BigInt(`0x${randomBytes(5).toString('hex')}`);
  return { base: ((0xfdn << 40n) | id) << 80n, bits: 64 };
}

/** IPv6 routes of the host (from /proc/net/ipv6_route), so a new prefix does not shadow the host's own. */
export function hostRoutes6(): Prefix6[] {
  try {
    return readFileSync('/proc/net/ipv6_route', 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f[0] && f[1] && f[1] !== '00' && !f[0].startsWith('fe80'))
      .map((f) => ({ base: BigInt(`0x${f[0]!}`), bits: parseInt(f[1]!, 16) }));
  } catch {
    return [];
  }
}
