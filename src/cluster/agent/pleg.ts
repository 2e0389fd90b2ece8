/**
 * The pod lifecycle event generator, as the kubelet's evented PLEG: the runtime's container events
 * (start, die, oom, destroy, ...) for this node become syncs of their pods, so the agent never polls
 * containers to notice an exit or a restart. When the stream breaks it is opened again and every pod
 * is synced once (events may have been missed meanwhile).
 */
import type { Logger } from '../../common/log.js';
import type { Runtime } from './runtime.js';

const RECONNECT_MS = 1000;

export class Pleg {
  private readonly stopper = new AbortController();

  constructor(
    private readonly runtime: Runtime,
    /** The pod key of a pod UID on this node, if it is one of them. */
    private readonly keyOfUid: (uid: string) => string | undefined,
    private readonly sync: (key: string) => void,
    /** Sync every pod: after the stream broke, events may have been missed. */
    private readonly relist: () => void,
    /** Look for containers of pods this node no longer has. */
    private readonly sweep: () => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopper.abort();
  }

  private async run(): Promise<void> {
    let first = true;
    while (!this.stopper.signal.aborted) {
      try {
        const stream = this.runtime.events((e) => {
          const key = this.keyOfUid(e.podUid);
          if (key) this.sync(key);
          // A container of a pod this node no longer has: the orphan sweep removes it.
          else if (e.action === 'start') this.sweep();
        }, this.stopper.signal);
        if (!first) this.relist();
        first = false;
        await stream;
      } catch (err) {
        if (this.stopper.signal.aborted) return;
        this.logger.warn({ err: String(err) }, 'runtime event stream broke; reopening');
      }
      if (!this.stopper.signal.aborted) await new Promise((r) => setTimeout(r, RECONNECT_MS));
    }
  }
}
