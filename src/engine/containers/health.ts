/** Health checks: the image's or the request's HEALTHCHECK run as execs on their interval, with Docker's states and log. */
import { type ContainerRecord } from '../../containers/types.js';
import type { ContainerService } from './service.js';
import type { OutputChunk } from './types.js';
import { sleep } from './util.js';

export const healthMethods = {
  /**
   * Run the container's health check (image HEALTHCHECK or --health-* flags) on its interval: each
   * probe is an exec; `retries` failures in a row make the container unhealthy. Status, the last five
   * results and `health_status` events as Docker reports them.
   */
  startHealth(this: ContainerService, rec: ContainerRecord): void {
    const hc = rec.Config.Healthcheck;
    const test = hc?.Test ?? [];
    if (!hc || test.length === 0 || test[0] === 'NONE') return;
    const argv =
      test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test.slice(1).join(' ')] : test[0] === 'CMD' ? test.slice(1) : test;
    const ms = (ns: number | undefined, dflt: number): number => (ns && ns > 0 ? ns / 1e6 : dflt);
    const interval = ms(hc.Interval, 30000);
    const timeout = ms(hc.Timeout, 30000);
    const startPeriod = ms(hc.StartPeriod, 0);
    const retries = hc.Retries && hc.Retries > 0 ? hc.Retries : 3;
    const startedAt = Date.now();
    rec.State.Health = { Status: 'starting', FailingStreak: 0, Log: [] };
    void this.d.store.save(rec);
    const probe = async (): Promise<void> => {
      const cur = this.d.store.get(rec.Id);
      if (!cur || !cur.State.Running) return;
      const start = new Date().toISOString();
      let exitCode = -1;
      let output = '';
      try {
        const id = this.execCreate(cur.Id, { Cmd: argv, AttachStdout: true, AttachStderr: true });
        const att = await this.execStart(id, false);
        att.output.on('data', (c: OutputChunk) => {
          if (output.length < 4096) output += c.data.toString();
        });
        const timedOut = await Promise.race([att.done.then(() => false), sleep(timeout).then(() => true)]);
        exitCode = timedOut ? -1 : (this.execs.get(id)?.exitCode ?? -1);
        if (timedOut) output = `Health check exceeded timeout (${timeout / 1000}s)`;
        this.execs.delete(id);
      } catch (err) {
        output = (err as Error).message;
      }
      const latest = this.d.store.get(rec.Id);
      if (!latest || !latest.State.Running) return;
      this.onHealthCheck?.(exitCode === 0);
      const h = latest.State.Health ?? { Status: 'starting', FailingStreak: 0, Log: [] };
      h.Log = [...h.Log, { Start: start, End: new Date().toISOString(), ExitCode: exitCode, Output: output }].slice(-5);
      const before = h.Status;
      if (exitCode === 0) {
        h.Status = 'healthy';
        h.FailingStreak = 0;
      } else if (Date.now() - startedAt > startPeriod) {
        h.FailingStreak++;
        if (h.FailingStreak >= retries) h.Status = 'unhealthy';
      }
      latest.State.Health = h;
      await this.d.store.save(latest);
      if (h.Status !== before || exitCode !== 0) {
        this.d.events.publish('container', `health_status: ${h.Status}`, latest.Id, this.eventAttrs(latest));
      }
      this.healthTimers.set(
        rec.Id,
        setTimeout(() => void probe(), interval),
      );
    };
    this.healthTimers.set(
      rec.Id,
      setTimeout(() => void probe(), Math.min(interval, hc.StartInterval ? hc.StartInterval / 1e6 : interval)),
    );
  },

  stopHealth(this: ContainerService, id: string): void {
    const t = this.healthTimers.get(id);
    if (t) clearTimeout(t);
    this.healthTimers.delete(id);
  },
};
