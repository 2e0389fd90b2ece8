/**
 * The TTL-after-finished controller (Kubernetes' `pkg/controller/ttlafterfinished`): a finished Job
 * with `ttlSecondsAfterFinished` is deleted that long after it finished, its pods with it (foreground
 * propagation, as Kubernetes does).
 */
import type { Logger } from '../../common/log.js';
import { isNotFound } from '../api/errors.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import { keyOf, type Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';
import { jobFinished, jobSpec } from './job.js';

export class TtlAfterFinishedController {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly jobs: Informer,
    private readonly logger: Logger,
  ) {
    jobs.on({ add: (o) => this.queue.add(keyOf(o)), update: (_old, o) => this.queue.add(keyOf(o)) });
  }

  run(): Promise<void> {
    return this.queue.run('ttlafterfinished', (key) => this.sync(key), this.logger);
  }

  async sync(key: string): Promise<void> {
    const job = this.jobs.get(key);
    const ttl = job && jobSpec(job).ttlSecondsAfterFinished;
    const finished = job && jobFinished(job);
    if (!job || ttl === undefined || !finished || job.metadata?.deletionTimestamp) return;
    const at = Date.parse(finished.lastTransitionTime ?? '') + ttl * 1000;
    const wait = at - Date.now();
    if (wait > 0) {
      this.queue.addAfter(key, wait);
      return;
    }
    const path = `${collectionPath('batch/v1', 'jobs', job.metadata!.namespace)}/${job.metadata!.name}`;
    await this.client
      .delete(path, { propagationPolicy: 'Foreground', preconditions: { uid: job.metadata!.uid } })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }
}
