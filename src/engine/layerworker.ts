/**
 * A worker thread that unpacks layers (see `layerpool.ts`): each job arrives with a port carrying the
 * compressed layer in chunks; the layer is decompressed, checked against its diff ID and unpacked
 * here, off the daemon's event loop, and the answer goes back on the port.
 */
import { Readable } from 'node:stream';
import { parentPort, type MessagePort } from 'node:worker_threads';
import { GantryError } from '../common/errors.js';
import type { ExtractLimits } from '../diff/apply.js';
import { unpackVerified } from './layers.js';

export interface UnpackJob {
  dir: string;
  diffId: string;
  limits: ExtractLimits;
  port: MessagePort;
}

/** What the main thread sends on a job's port. */
export type ToWorker = { type: 'chunk'; data: ArrayBuffer } | { type: 'end' } | { type: 'error'; message: string };
/** What the worker answers: one `ack` per chunk taken in, then `done` or `failed`. */
export type FromWorker =
  | { type: 'ack' }
  | { type: 'done'; size: number }
  | { type: 'failed'; kind: GantryError['kind'] | undefined; message: string };

function run(job: UnpackJob): void {
  const { port } = job;
  const queue: Buffer[] = [];
  let ended = false;
  // Chunks are acknowledged as the stream takes them, so the sender holds back while unpacking lags.
  const pump = (): void => {
    while (queue.length) {
      port.postMessage({ type: 'ack' } satisfies FromWorker);
      if (!input.push(queue.shift())) return;
    }
    if (ended) input.push(null);
  };
  const input = new Readable({ highWaterMark: 4 << 20, read: pump });
  port.on('message', (m: ToWorker) => {
    if (m.type === 'chunk') queue.push(Buffer.from(m.data));
    else if (m.type === 'end') ended = true;
    else return void input.destroy(new Error(m.message));
    pump();
  });
  unpackVerified(input, job.dir, job.diffId, job.limits)
    .then(
      (r) => port.postMessage({ type: 'done', size: r.size } satisfies FromWorker),
      (err: unknown) =>
        port.postMessage({
          type: 'failed',
          kind: err instanceof GantryError ? err.kind : undefined,
          message: err instanceof Error ? err.message : String(err),
        } satisfies FromWorker),
    )
    .finally(() => input.destroy());
}

parentPort?.on('message', (job: UnpackJob) => run(job));
