/**
 * A container's name resolution settings — hostname, extra hosts, DNS servers, search domains and
 * options — checked before they become lines of /etc/hostname, /etc/hosts and /etc/resolv.conf: with
 * moby's words where moby checks (opts.ValidateExtraHost, ValidateDNSSearch, ValidateIPAddress), and
 * never letting a line break or control character through where moby leaves it to the files.
 */
import net from 'node:net';
import { invalid } from '../common/errors.js';

/** `--add-host NAME:IP` (or `NAME=IP`) may name the host's gateway instead of an address. */
export const HOST_GATEWAY = 'host-gateway';
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** An extra host entry as name and address (brackets around an address removed), or an error in moby's words. */
export function parseExtraHost(entry: string): { name: string; address: string } {
  let cut = entry.indexOf('=');
  if (cut < 0) cut = entry.indexOf(':');
  const name = cut < 0 ? '' : entry.slice(0, cut);
  if (cut < 0 || !name || name.includes(':') || /\s/.test(name) || CONTROL.test(name))
    throw invalid(`bad format for add-host: ${JSON.stringify(entry)}`);
  let address = entry.slice(cut + 1);
  if (address !== HOST_GATEWAY) {
    if (address.length > 2 && address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
    if (!net.isIP(address)) throw invalid(`invalid IP address in add-host: ${JSON.stringify(address)}`);
  }
  return { name, address };
}

export function validateResolution(
  cfg: { Hostname?: string; Domainname?: string },
  hc: {
    ExtraHosts?: string[] | null;
    Dns?: string[] | null;
    DnsSearch?: string[] | null;
    DnsOptions?: string[] | null;
  },
): void {
  for (const [what, value] of [
    ['hostname', cfg.Hostname],
    ['domainname', cfg.Domainname],
  ] as const) {
    if (value && (Buffer.byteLength(value) > 255 || CONTROL.test(value) || /\s/.test(value)))
      throw invalid(`invalid ${what} format: ${JSON.stringify(value)}`);
  }
  for (const e of hc.ExtraHosts ?? []) parseExtraHost(e);
  for (const d of hc.Dns ?? []) if (!net.isIP(d)) throw invalid(`${d} is not an ip address`);
  for (const s of hc.DnsSearch ?? []) {
    const domain = s.replace(/\.$/, '');
    if (
      s !== '.' &&
      (!domain || domain.startsWith('.') || domain.length > 255 || /\s/.test(domain) || CONTROL.test(domain))
    )
      throw invalid(`${s} is not a valid domain`);
  }
  for (const o of hc.DnsOptions ?? [])
    if (!o || /\s/.test(o) || CONTROL.test(o)) throw invalid(`invalid DNS option: ${JSON.stringify(o)}`);
}
