/**
 * A sync run once for changes arriving together (within 100 ms), and again after a failure: what the
 * service proxy and the policy enforcer use to rewrite their iptables rules as informers report.
 */
import type { Logger } from '../../common/log.js';

const COALESCE_MS = 100;

export class CoalescedSync {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly sync: () => void,
    private readonly logger: Logger,
    private readonly failure: string,
  ) {}

  schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.sync();
      } catch (err) {
        this.logger.error({ err: String(err) }, this.failure);
        this.schedule();
      }
    }, COALESCE_MS);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
