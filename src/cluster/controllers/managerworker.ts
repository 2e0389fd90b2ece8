/**
 * A worker thread running one elected part of the control plane (`gantry server` runs its scheduler
 * this way): its own leader election, ControllerManager, API client and metrics registry, so the part
 * has an event loop and a core of its own, as kube-scheduler's goroutines do beside the API server's
 * in k3s. The parent asks for metrics text and for a stop over the worker's port; see managerthread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { LeaderElector } from '../client/leaderelection.js';
import { ApiClient } from '../client/client.js';
import { createLogger } from '../../common/log.js';
import { ControllerManager } from './manager.js';
import type { FromManagerThread, ManagerThreadData, ToManagerThread } from './managerthread.js';

const data = workerData as ManagerThreadData;
const logger = createLogger(data.loggerName);
const registry = new Registry();
const client = new ApiClient(data.client);
const elector = new LeaderElector({
  client,
  namespace: 'kube-system',
  name: data.lease,
  identity: data.identity,
  logger,
});
const send = (m: FromManagerThread): void => parentPort!.postMessage(m);
const running = elector.runRepeatedly(() => {
  const manager = new ControllerManager(data.client, logger, {
    scheduler: data.scheduler,
    controllers: new Set(data.controllers),
    registry,
  });
  void manager.start().catch((err: unknown) => logger.error({ err: String(err) }, 'controllers not started'));
  return manager;
});

parentPort!.on('message', (m: ToManagerThread) => {
  if (m.type === 'metrics') {
    void registry.metrics().then((text) => send({ type: 'metrics', id: m.id, text }));
    return;
  }
  void elector
    .stop()
    .then(() => running)
    .finally(() => {
      client.close();
      send({ type: 'stopped' });
    });
});
