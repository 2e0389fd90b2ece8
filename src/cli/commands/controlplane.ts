/**
 * The controllers and the scheduler of `gantry server`, each run only while this server holds its
 * `coordination.k8s.io/v1` Lease in kube-system (`kube-controller-manager`, `kube-scheduler`), as
 * Kubernetes runs them beside several API servers: with Kubernetes' lease 15 s, renew deadline 10 s
 * and retry 2 s. A server that loses a lease stops that part and campaigns again rather than exiting,
 * since it also serves the API. The identity is kept in the data dir, so a restarted server takes its
 * own lease back at once instead of waiting for it to expire. A part marked `thread` (the scheduler)
 * runs on a worker thread of its own, as kube-scheduler runs on goroutines of its own in k3s: the API
 * server's event loop does not also carry the scheduling and binding of every pod.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../common/log.js';
import type { ClientOptions } from '../../cluster/client/client.js';
import { ApiClient } from '../../cluster/client/client.js';
import { LeaderElector } from '../../cluster/client/leaderelection.js';
import { ControllerManager } from '../../cluster/controllers/manager.js';
import { startManagerThread } from '../../cluster/controllers/managerthread.js';
import { addThreadMetrics } from '../../common/metrics.js';

type ManagerOptions = ConstructorParameters<typeof ControllerManager>[2];

export interface ElectedPart {
  /** The Lease in kube-system. */
  lease: string;
  options: ManagerOptions;
  /** Run on a worker thread (its metrics joined to `options.registry`). */
  thread?: boolean;
}

/** `<node name>_<uuid>` as Kubernetes names candidates, the uuid made once per data dir. */
export function serverIdentity(dataDir: string, nodeName: string): string {
  const file = path.join(dataDir, 'identity');
  const existing = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  if (/^[0-9a-f-]{36}$/.test(existing)) return `${nodeName}_${existing}`;
  const id = randomUUID();
  writeFileSync(file, id + '\n', { mode: 0o600 });
  return `${nodeName}_${id}`;
}

export function startElectedControlPlane(o: {
  client: ClientOptions;
  identity: string;
  logger: Logger;
  parts: ElectedPart[];
}): { stop(): Promise<void> } {
  const client = new ApiClient(o.client);
  const threads = o.parts
    .filter((part) => part.thread)
    .map((part) => {
      const thread = startManagerThread(
        {
          client: o.client,
          identity: o.identity,
          lease: part.lease,
          scheduler: part.options.scheduler,
          controllers: [...part.options.controllers],
          loggerName: 'gantry-server',
        },
        o.logger,
      );
      const unjoin = part.options.registry
        ? addThreadMetrics(part.options.registry, () => thread.metrics())
        : undefined;
      return {
        stop: () => {
          unjoin?.();
          return thread.stop();
        },
      };
    });
  const electors = o.parts
    .filter((part) => !part.thread)
    .map((part) => {
      const elector = new LeaderElector({
        client,
        namespace: 'kube-system',
        name: part.lease,
        identity: o.identity,
        logger: o.logger,
      });
      void elector.runRepeatedly(() => {
        const manager = new ControllerManager(o.client, o.logger, part.options);
        void manager.start().catch((err: unknown) => o.logger.error({ err: String(err) }, 'controllers not started'));
        return manager;
      });
      return elector;
    });
  return {
    async stop() {
      await Promise.all([...electors.map((e) => e.stop()), ...threads.map((t) => t.stop())]);
      client.close();
    },
  };
}
