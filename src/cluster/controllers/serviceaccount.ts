/**
 * The ServiceAccount controller: every active namespace has a `default` ServiceAccount, made again if
 * it is deleted (Kubernetes' `pkg/controller/serviceaccount`).
 */
import type { Logger } from '../../common/log.js';
import { ApiStatusError, type KubeClient } from '../client/client.js';
import type { Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';

export class ServiceAccountController {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly namespaces: Informer,
    private readonly serviceAccounts: Informer,
    private readonly logger: Logger,
  ) {
    namespaces.on({
      add: (o) => this.queue.add(o.metadata?.name ?? ''),
      update: (_old, o) => this.queue.add(o.metadata?.name ?? ''),
    });
    serviceAccounts.on({
      delete: (o) => {
        if (o.metadata?.name === 'default') this.queue.add(o.metadata.namespace ?? '');
      },
    });
  }

  run(): Promise<void> {
    return this.queue.run('serviceaccount', (name) => this.sync(name), this.logger);
  }

  async sync(namespace: string): Promise<void> {
    const ns = this.namespaces.get(namespace);
    if (!ns || ns.metadata?.deletionTimestamp || ns.status?.phase === 'Terminating') return;
    if (this.serviceAccounts.get(`${namespace}/default`)) return;
    await this.client
      .create(`/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts`, { metadata: { name: 'default' } })
      .catch((err: unknown) => {
        // Already there (the informer had not seen it), or the namespace began terminating meanwhile.
        if (err instanceof ApiStatusError && (err.code === 409 || err.code === 403)) return;
        throw err;
      });
  }
}
