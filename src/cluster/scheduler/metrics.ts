/**
 * kube-scheduler's metrics (`pkg/scheduler/metrics`): attempts by result and their duration, and the
 * pods waiting in each of the scheduling queue's parts. One profile, `default-scheduler`.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { SchedulingQueue } from './queue.js';

export type AttemptResult = 'scheduled' | 'unschedulable' | 'error';

export interface SchedulerMetrics {
  /** One scheduling attempt ended with `result` after `seconds`. */
  attempt(result: AttemptResult, seconds: number): void;
}

const PROFILE = 'default-scheduler';

export function schedulerMetrics(registry: Registry, queue: SchedulingQueue): SchedulerMetrics {
  const registers = [registry];
  const attempts = new Counter({
    name: 'scheduler_schedule_attempts_total',
    help: "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, while 'error' means an internal scheduler problem.",
    labelNames: ['result', 'profile'],
    registers,
  });
  const durations = new Histogram({
    name: 'scheduler_scheduling_attempt_duration_seconds',
    help: 'Scheduling attempt latency in seconds (scheduling algorithm + binding)',
    labelNames: ['result', 'profile'],
    // kube-scheduler's: 1 ms doubling to about 16 s.
    buckets: Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i),
    registers,
  });
  new Gauge({
    name: 'scheduler_pending_pods',
    help: "Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods.",
    labelNames: ['queue'],
    registers,
    collect() {
      for (const [name, size] of Object.entries(queue.sizes())) this.set({ queue: name }, size);
    },
  });
  // Children made once: the scheduler's hot path only increments.
  const byResult = new Map(
    (['scheduled', 'unschedulable', 'error'] as const).map((result) => {
      const labels = { result, profile: PROFILE };
      const counter = attempts.labels(labels);
      counter.inc(0);
      return [result, { counter, histogram: durations.labels(labels) }];
    }),
  );
  return {
    attempt(result, seconds) {
      const m = byResult.get(result)!;
      m.counter.inc();
      m.histogram.observe(seconds);
    },
  };
}
