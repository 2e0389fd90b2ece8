/** IPv4 subnets: parsing, membership, and choosing a free one from a pool. */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { invalid } from '../common/errors.js';

export interface Subnet {
  base: number;
  bits: number;
}

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): Subnet & { ip: number } {
  const [ip, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (!ip || net.isIPv4(ip) === false || !Number.isInteger(bits) || bits < 0 || bits > 32)
    throw invalid(`invalid CIDR address: ${cidr}`);
  const n = ipToInt(ip);
  return { ip: n, base: bits === 0 ? 0 : (n & (~0 << (32 - bits))) >>> 0, bits };
}

export function subnetText(s: Subnet): string {
  return `${intToIp(s.base)}/${s.bits}`;
}

export function contains(s: Subnet, ip: number): boolean {
  return s.bits === 0 || (ip & (~0 << (32 - s.bits))) >>> 0 === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return contains(a, b.base) || contains(b, a.base);
}

/** The first usable address of a subnet (Docker's default gateway). */
export function firstHost(s: Subnet): string {
  return intToIp(s.base + 1);
}

/** IPv4 routes of the host (from /proc/net/route), so new subnets do not shadow the host's own networks. */
export function hostRoutes(): Subnet[] {
  try {
    return readFileSync('/proc/net/route', 'utf8')
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f[1] !== '00000000')
      .map((f) => {
        const le = (hex: string): number => Buffer.from(hex, 'hex').readUInt32LE(0);
        const mask = le(f[7]!);
        return { base: le(f[1]!) >>> 0, bits: mask.toString(2).replace(/0/g, '').length };
      });
  } catch {
    return [];
  }
}

/** The first subnet of `size` bits in `pool` that overlaps nothing in `taken`. */
export function allocateSubnet(pool: Subnet, size: number, taken: Subnet[]): Subnet | undefined {
  const step = 2 ** (32 - size);
  const end = pool.base + 2 ** (32 - pool.bits);
  for (let base = pool.base; base < end; base += step) {
    const candidate = { base: base >>> 0, bits: size };
    if (!taken.some((t) => overlaps(t, candidate))) return candidate;
  }
  return undefined;
}
