/**
 * `gantry lb`: a TCP load balancer on this machine in front of several API servers, for kubeconfigs
 * (kubectl names one server per cluster) and anything else that cannot take a list. `gantry cluster up
 * --servers N` runs one on the host's loopback and points its kubeconfig at it.
 */
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { backendOf, LoadBalancer } from '../../cluster/loadbalancer/loadbalancer.js';
import { createLogger, logUncaught } from '../../common/log.js';

/** `IP:PORT` (an IPv6 address in brackets) to listen on. */
function listenAddress(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  const host = text.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(text.slice(i + 1));
  if (i <= 0 || !isIP(host) || !/^\d+$/.test(text.slice(i + 1)) || port > 65535)
    throw new Error(`invalid --listen ${JSON.stringify(text)}: give IP:PORT`);
  return { host, port };
}

export function registerLoadBalancerCommand(program: Command): void {
  program
    .command('lb')
    .description('Balance TCP connections over several API servers, for clients that name one (kubectl)')
    .option('--listen <ip:port>', 'where clients connect', '127.0.0.1:6444')
    .requiredOption(
      '-s, --server <urls>',
      'the API servers, comma-separated, e.g. https://10.0.0.1:6443,https://10.0.0.2:6443',
    )
    .action(async (o: { listen: string; server: string }) => {
      const logger = createLogger('gantry-lb', 'info');
      logUncaught(logger);
      const listen = listenAddress(o.listen);
      const backends = o.server.split(',').map((url) => backendOf(url.trim()));
      const lb = new LoadBalancer({ backends, logger });
      const port = await lb.listen(listen.host, listen.port);
      logger.info({ listen: `${listen.host}:${port}`, servers: o.server }, 'load balancer started');
      const stop = (): void => void lb.close().finally(() => process.exit(0));
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}
