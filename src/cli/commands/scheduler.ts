/**
 * `gantry scheduler`: the scheduler as a process of its own, as kube-scheduler runs beside the API
 * server (`gantry server` runs it in-process unless `--disable-scheduler`); it talks to the API server
 * over HTTPS with a client certificate like any other client.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApiClient } from '../../cluster/client/client.js';
import { EventRecorder } from '../../cluster/client/events.js';
import { Informer } from '../../cluster/client/informer.js';
import { LeaderElector } from '../../cluster/client/leaderelection.js';
import { Scheduler } from '../../cluster/scheduler/scheduler.js';
import { DEFAULT_FILTERS, DEFAULT_SCORES } from '../../cluster/scheduler/plugins.js';
import { addLeaderElectionFlags, leaderElection, type LeaderFlags } from './leaderflags.js';
import { createLogger, logUncaught } from '../../common/log.js';
import { parseMetricsAddress, processRegistry, serveMetrics } from '../../common/metrics.js';

export function registerSchedulerCommand(program: Command): void {
  const cmd = program
    .command('scheduler')
    .description("Run the scheduler as its own process (the server's data dir holds the certificates in tls/)")
    .requiredOption('-s, --server <url>', 'the API server, e.g. https://127.0.0.1:6443')
    .requiredOption('--ca-file <file>', 'the cluster CA certificate')
    .requiredOption('--cert-file <file>', 'a client certificate allowed to bind pods (the admin one: tls/admin.crt)')
    .requiredOption('--key-file <file>', "the certificate's key")
    .option('--metrics-bind-address <host:port>', 'serve Prometheus metrics on this address (plain HTTP)');
  addLeaderElectionFlags(cmd, 'kube-scheduler').action(
    async (
      o: {
        server: string;
        caFile: string;
        certFile: string;
        keyFile: string;
        metricsBindAddress?: string;
      } & LeaderFlags,
    ) => {
      const logger = createLogger('gantry-scheduler', 'info');
      logUncaught(logger);
      if (o.metricsBindAddress) parseMetricsAddress(o.metricsBindAddress);
      const election = leaderElection(o);
      const client = new ApiClient({
        server: o.server,
        ca: readFileSync(o.caFile, 'utf8'),
        cert: readFileSync(o.certFile, 'utf8'),
        key: readFileSync(o.keyFile, 'utf8'),
        maxSockets: 64,
      });
      const pods = new Informer(client, '/api/v1/pods', logger);
      const nodes = new Informer(client, '/api/v1/nodes', logger);
      const namespaces = new Informer(client, '/api/v1/namespaces', logger);
      const budgets = new Informer(client, '/apis/policy/v1/poddisruptionbudgets', logger);
      const scheduler = new Scheduler(
        client,
        pods,
        nodes,
        logger,
        new EventRecorder(client, 'default-scheduler', logger),
        { filters: DEFAULT_FILTERS, scores: DEFAULT_SCORES },
        namespaces,
        budgets,
      );
      if (o.metricsBindAddress) {
        const registry = processRegistry();
        scheduler.instrument(registry);
        await serveMetrics(registry, o.metricsBindAddress, logger);
      }
      const schedule = (): void => {
        pods.start();
        nodes.start();
        namespaces.start();
        budgets.start();
        void Promise.all([
          pods.waitForSync(),
          nodes.waitForSync(),
          namespaces.waitForSync(),
          budgets.waitForSync(),
        ]).then(() => {
          logger.info('scheduler started');
          return scheduler.run();
        });
      };
      // As kube-scheduler: only the holder of the lease schedules; one that loses it exits.
      const elector = election ? new LeaderElector({ client, logger, ...election }) : undefined;
      if (elector)
        void elector.run(schedule).then(() => {
          if (!stopping) {
            logger.error('leaderelection lost');
            process.exit(1);
          }
        });
      else schedule();
      let stopping = false;
      const stop = (): void => {
        stopping = true;
        scheduler.queue.stop();
        pods.stop();
        nodes.stop();
        namespaces.stop();
        budgets.stop();
        void (elector?.stop() ?? Promise.resolve()).finally(() => {
          client.close();
          process.exit(0);
        });
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    },
  );
}
