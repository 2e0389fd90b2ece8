/**
 * client-go's work queue metrics (`util/workqueue/metrics.go`), one series per queue `name`: how many
 * keys wait, how many were added and retried, how long keys waited and how long their sync took.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** client-go's buckets: 10 ns to 10 s, tenfold. */
const BUCKETS = Array.from({ length: 10 }, (_, i) => 1e-8 * 10 ** i);

/** What one queue reports: the handles of its own series. */
export interface QueueMetrics {
  depth: Gauge.Internal<'name'>;
  adds: Counter.Internal;
  retries: Counter.Internal;
  queueDuration: Histogram.Internal<'name'>;
  workDuration: Histogram.Internal<'name'>;
}

export class WorkQueueMetrics {
  private readonly depth: Gauge<'name'>;
  private readonly adds: Counter<'name'>;
  private readonly retries: Counter<'name'>;
  private readonly queueDuration: Histogram<'name'>;
  private readonly workDuration: Histogram<'name'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.depth = new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames: ['name'],
      registers,
    });
    this.adds = new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames: ['name'],
      registers,
    });
    this.retries = new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: ['name'],
      registers,
    });
    this.queueDuration = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested.',
      labelNames: ['name'],
      buckets: BUCKETS,
      registers,
    });
    this.workDuration = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames: ['name'],
      buckets: BUCKETS,
      registers,
    });
  }

  /** The series of queue `name`, present (at zero) from now on. */
  forQueue(name: string): QueueMetrics {
    const labels = { name };
    const m = {
      depth: this.depth.labels(labels),
      adds: this.adds.labels(labels),
      retries: this.retries.labels(labels),
      queueDuration: this.queueDuration.labels(labels),
      workDuration: this.workDuration.labels(labels),
    };
    m.depth.set(0);
    m.adds.inc(0);
    m.retries.inc(0);
    return m;
  }
}
