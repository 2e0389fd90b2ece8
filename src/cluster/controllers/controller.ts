/**
 * The one shape every controller has, as in Kubernetes: informers feed keys into a work queue, and a
 * reconcile function brings the object with that key to its desired state, reading the informers'
 * copies and writing through the API. A key is never reconciled twice at once; one added while it is
 * being reconciled runs again afterwards; a failed reconcile is retried with a growing delay.
 */
import type { Logger } from '../../common/log.js';
import type { QueueMetrics } from './workqueuemetrics.js';

const BASE_DELAY_MS = 200;
const MAX_DELAY_MS = 30_000;

export class WorkQueue {
  private readonly queue: string[] = [];
  /** Keys waiting, with when they were added (for the queue-duration metric). */
  private readonly queued = new Map<string, number>();
  private readonly active = new Set<string>();
  private readonly again = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly idle: Array<() => void> = [];
  private stopped = false;
  private metrics?: QueueMetrics;

  /** Report this queue's depth, adds, retries and durations from now on. */
  instrument(metrics: QueueMetrics): void {
    this.metrics = metrics;
    metrics.depth.set(this.queue.length);
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      if (!this.again.has(key)) this.metrics?.adds.inc();
      this.again.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.metrics?.adds.inc();
    this.queued.set(key, performance.now());
    this.queue.push(key);
    this.metrics?.depth.set(this.queue.length);
    this.idle.shift()?.();
  }

  addAfter(key: string, ms: number): void {
    setTimeout(() => this.add(key), ms).unref();
  }

  stop(): void {
    this.stopped = true;
    for (const wake of this.idle.splice(0)) wake();
  }

  /** Reconcile keys until stopped, `workers` at a time. */
  async run(name: string, reconcile: (key: string) => Promise<void>, logger: Logger, workers = 2): Promise<void> {
    const worker = async (): Promise<void> => {
      while (!this.stopped) {
        const key = this.queue.shift();
        if (key === undefined) {
          await new Promise<void>((resolve) => this.idle.push(resolve));
          continue;
        }
        const addedAt = this.queued.get(key) ?? performance.now();
        this.queued.delete(key);
        this.active.add(key);
        const startedAt = performance.now();
        if (this.metrics) {
          this.metrics.depth.set(this.queue.length);
          this.metrics.queueDuration.observe((startedAt - addedAt) / 1000);
        }
        try {
          await reconcile(key);
          this.failures.delete(key);
        } catch (err) {
          this.metrics?.retries.inc();
          const n = (this.failures.get(key) ?? 0) + 1;
          this.failures.set(key, n);
          logger.warn({ controller: name, key, err: String(err) }, 'reconcile failed; will retry');
          this.addAfter(key, Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (n - 1)));
        } finally {
          this.metrics?.workDuration.observe((performance.now() - startedAt) / 1000);
          this.active.delete(key);
          if (this.again.delete(key)) this.add(key);
        }
      }
    };
    await Promise.all(Array.from({ length: workers }, worker));
  }
}

export { controllerOf } from '../api/object.js';
