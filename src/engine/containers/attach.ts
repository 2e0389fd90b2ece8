/** Attach to a container's streams through conmon's socket, and terminal resizes. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { shortId } from '../../common/digest.js';
import { conflict } from '../../common/errors.js';
import { connectAttach, type AttachConnection } from '../../runtime/attach.js';
import type { ContainerService } from './service.js';
import type { OutputChunk, Attachment } from './types.js';
import { writeCtl } from './util.js';

export const attachMethods = {
  /**
   * Attach to a container's live output (and stdin when it was created with OpenStdin). Before start
   * the attachment waits and connects as soon as conmon's socket exists.
   */
  attach(this: ContainerService, ref: string, opts: { stdin: boolean; stdout: boolean; stderr: boolean }): Attachment {
    const rec = this.d.store.resolve(ref);
    const output = new PassThrough({ objectMode: true });
    const stdin = opts.stdin && rec.Config.OpenStdin ? new PassThrough() : undefined;
    let conn: AttachConnection | undefined;
    let closed = false;
    const connect = (socketPath: string): void => {
      if (closed) return;
      if (!socketPath) {
        output.end();
        return;
      }
      try {
        conn = connectAttach(socketPath);
      } catch (err) {
        this.d.logger.warn({ id: shortId(rec.Id), err: String(err) }, 'attach failed');
        output.end();
        return;
      }
      conn.onOutput((stream, data) => {
        if ((stream === 'stdout' && opts.stdout) || (stream === 'stderr' && opts.stderr))
          output.write({ stream, data } satisfies OutputChunk);
      });
      conn.onClose(() => output.end());
      if (stdin) {
        stdin.on('data', (c: Buffer) => conn?.write(c));
        stdin.on('end', () => {
          // Half-close: the container sees EOF on stdin (conmon closes it unless told to keep it).
          // Docker closes it only without a TTY: with one, end of input is a key typed, not a closed stream.
          if (rec.Config.StdinOnce && !rec.Config.Tty) conn?.endInput();
        });
      }
    };
    if (rec.State.Running && existsSync(this.attachSocketPath(rec.Id))) connect(this.attachSocketPath(rec.Id));
    else if (!rec.State.Running || this.starting.has(rec.Id)) {
      const list = this.pendingAttach.get(rec.Id) ?? [];
      list.push(connect);
      this.pendingAttach.set(rec.Id, list);
    } else output.end();
    return {
      output,
      stdin,
      close: () => {
        closed = true;
        conn?.destroy();
        if (!output.writableEnded) output.end();
      },
    };
  },

  /** Resize a container's TTY through conmon's control FIFO. */
  async resize(this: ContainerService, ref: string, height: number, width: number): Promise<void> {
    const rec = this.d.store.resolve(ref);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    await writeCtl(path.join(this.socketDir(), this.sessionId(rec.Id), 'ctl'), height, width);
  },
};
