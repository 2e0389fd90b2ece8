/** Helpers of the local-cluster tests: free address ranges, plain HTTP, leftovers on the host. */
import { randomInt } from 'node:crypto';
import http from 'node:http';
import { hostRoutes, overlaps, parseCidr } from '../../src/network/ipnet.js';
import { run } from './helpers.js';

/** A /24 node LAN and a /16 pod range no route of this host (or a parallel test's) touches. */
export function freeRanges(): { subnet: string; clusterCidr: string } {
  const routes = hostRoutes();
  for (;;) {
    const subnet = `192.168.${randomInt(100, 250)}.0/24`;
    const clusterCidr = `10.${randomInt(100, 250)}.0.0/16`;
    if (!routes.some((r) => overlaps(r, parseCidr(subnet)) || overlaps(r, parseCidr(clusterCidr))))
      return { subnet, clusterCidr };
  }
}

export function httpGet(url: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      // A connection per request: a kept-alive one stays with one backend of a Service.
      .get(url, { timeout: 5000, agent: false, headers }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject)
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error(`timeout: ${url}`));
      });
  });
}

/** Lines of `cmd` output mentioning `needle`, for "nothing left" checks. */
export const leftovers = (cmd: string, args: string[], needle: string): string[] =>
  run(cmd, args)
    .stdout.split('\n')
    .filter((l) => l.includes(needle));
