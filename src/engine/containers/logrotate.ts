/** The json-file log's rotation (max-size, max-file) while a container runs. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type ContainerRecord } from '../../containers/types.js';
import type { ContainerService } from './service.js';
import { parseLogSize } from './util.js';

export const logrotateMethods = {
  /**
   * json-file's `max-size` and `max-file`: when the log grows past max-size it is renamed to `.1`
   * (older ones shift up, the oldest beyond max-file is dropped) and conmon is told through its control
   * FIFO to reopen the log path. `docker logs` reads the rotated files first.
   */
  startLogRotation(this: ContainerService, rec: ContainerRecord): void {
    const opts = rec.HostConfig.LogConfig?.Config ?? {};
    const maxSize = parseLogSize(opts['max-size']);
    if (!maxSize) return;
    const maxFile = Math.max(1, Number(opts['max-file'] ?? 1));
    const ctl = path.join(this.socketDir(), this.sessionId(rec.Id), 'ctl');
    let busy = false;
    const check = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        const st = await fs.stat(rec.LogPath).catch(() => undefined);
        if (!st || st.size < maxSize) return;
        if (maxFile === 1) {
          await fs.truncate(rec.LogPath, 0);
          return;
        }
        await fs.rm(`${rec.LogPath}.${maxFile - 1}`, { force: true });
        for (let i = maxFile - 2; i >= 1; i--)
          await fs.rename(`${rec.LogPath}.${i}`, `${rec.LogPath}.${i + 1}`).catch(() => undefined);
        await fs.rename(rec.LogPath, `${rec.LogPath}.1`);
        const fh = await fs.open(ctl, 'a');
        try {
          await fh.write('2 0 0\n');
        } finally {
          await fh.close();
        }
      } finally {
        busy = false;
      }
    };
    this.logTimers.set(
      rec.Id,
      setInterval(() => void check().catch(() => undefined), 200),
    );
  },

  stopLogRotation(this: ContainerService, id: string): void {
    const t = this.logTimers.get(id);
    if (t) clearInterval(t);
    this.logTimers.delete(id);
  },
};
