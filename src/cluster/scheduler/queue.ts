/**
 * The scheduling queue, after kube-scheduler's three queues: *active* pods wait their turn (higher
 * priority first, then the oldest), a pod whose attempt failed waits out a *backoff* (1 s doubling to
 * 10 s), and a pod no node could take waits among the *unschedulable* until the cluster changes (a
 * node added or changed, a pod gone) or a minute passes.
 */
export const BACKOFF_INITIAL_MS = 1000;
export const BACKOFF_MAX_MS = 10_000;
export const UNSCHEDULABLE_FLUSH_MS = 60_000;

interface Entry {
  key: string;
  priority: number;
  seq: number;
}

/** A binary heap: higher priority first, then first in. */
class Heap {
  private readonly items: Entry[] = [];

  get size(): number {
    return this.items.length;
  }

  private before(a: Entry, b: Entry): boolean {
    return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
  }

  push(e: Entry): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): Entry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (!a.length || !last) return top;
    a[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < a.length && this.before(a[l]!, a[best]!)) best = l;
      if (r < a.length && this.before(a[r]!, a[best]!)) best = r;
      if (best === i) break;
      [a[i], a[best]] = [a[best]!, a[i]!];
      i = best;
    }
    return top;
  }
}

export class SchedulingQueue {
  private readonly active = new Heap();
  /** Keys in the active heap (a key is there at most once). */
  private readonly inActive = new Set<string>();
  private readonly backoff = new Map<string, NodeJS.Timeout>();
  private readonly unschedulable = new Map<string, number>();
  private readonly attempts = new Map<string, number>();
  private readonly priorities = new Map<string, number>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private seq = 0;
  private stopped = false;
  private readonly flusher: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.flusher = setInterval(() => this.flushUnschedulable(), UNSCHEDULABLE_FLUSH_MS / 4);
    this.flusher.unref();
  }

  /** A pending pod to schedule (new, or changed), unless it already waits. */
  add(key: string, priority = 0): void {
    if (this.stopped || this.backoff.has(key) || this.unschedulable.has(key)) return;
    this.priorities.set(key, priority);
    this.activate(key);
  }

  private activate(key: string): void {
    this.unschedulable.delete(key);
    if (this.inActive.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) return waiter(key);
    this.inActive.add(key);
    this.active.push({ key, priority: this.priorities.get(key) ?? 0, seq: this.seq++ });
  }

  /** The next pod to try; waits while none is active; undefined once stopped. */
  pop(): Promise<string | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    const e = this.active.pop();
    if (e) {
      this.inActive.delete(e.key);
      return Promise.resolve(e.key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The attempt failed for a reason that passes (a conflict, an error): try again after a backoff. */
  retryLater(key: string): void {
    if (this.stopped) return;
    const n = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, n);
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** (n - 1));
    clearTimeout(this.backoff.get(key));
    const timer = setTimeout(() => {
      this.backoff.delete(key);
      this.activate(key);
    }, delay);
    this.backoff.set(key, timer);
  }

  /** No node could take the pod: wait for the cluster to change. */
  markUnschedulable(key: string): void {
    if (this.stopped) return;
    this.attempts.set(key, (this.attempts.get(key) ?? 0) + 1);
    this.unschedulable.set(key, this.now());
  }

  /** The cluster changed so that waiting pods may now fit: they go back to the active queue. */
  moveAllToActive(): void {
    for (const key of [...this.unschedulable.keys()]) this.activate(key);
  }

  private flushUnschedulable(): void {
    const t = this.now();
    for (const [key, since] of [...this.unschedulable]) if (t - since >= UNSCHEDULABLE_FLUSH_MS) this.activate(key);
  }

  /** The pod is bound or gone: forget it. */
  done(key: string): void {
    this.attempts.delete(key);
    this.priorities.delete(key);
    this.unschedulable.delete(key);
    clearTimeout(this.backoff.get(key));
    this.backoff.delete(key);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.flusher);
    for (const t of this.backoff.values()) clearTimeout(t);
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  /** Pods waiting in each queue (`scheduler_pending_pods`). */
  sizes(): { active: number; backoff: number; unschedulable: number } {
    return { active: this.active.size, backoff: this.backoff.size, unschedulable: this.unschedulable.size };
  }
}
