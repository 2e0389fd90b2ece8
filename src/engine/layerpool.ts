/**
 * Layers unpacked on worker threads: decompressing, hashing, parsing the tar and creating every file
 * is CPU and syscall work that, on the main thread, held the daemon's event loop and ran one layer at
 * a time; a pool of four workers (as many as a pull downloads layers at once; they mostly wait on zlib
 * and the filesystem) unpacks the layers of a pull side by side.
 * The compressed bytes stream to the worker over a MessagePort with a window of chunks in flight.
 */
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { GantryError } from '../common/errors.js';
import type { ExtractLimits } from '../diff/apply.js';
import type { FromWorker, ToWorker, UnpackJob } from './layerworker.js';

const here = fileURLToPath(import.meta.url);
/** The worker's file beside this one: `.js` when built, `.ts` when run from source under tsx. */
const WORKER = path.join(path.dirname(here), `layerworker${path.extname(here)}`);
const MAX_WORKERS = 4;
/**
 * A new worker. Run from source (tests under tsx), the worker registers tsx itself: Node 20 does not
 * carry the parent's `--import` loader hooks into worker threads.
 */
function spawnWorker(): Worker {
  if (!WORKER.endsWith('.ts')) return new Worker(WORKER);
  const url = JSON.stringify(pathToFileURL(WORKER).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${url}); });`, {
    eval: true,
  });
}

/** Batches sent and not yet taken in by the worker's stream: enough to ride out a slow file write. */
const WINDOW = 16;
const BATCH_BYTES = 1 << 20;

const idle: Worker[] = [];
let running = 0;
const waiting: Array<(w: Worker) => void> = [];

function acquire(): Promise<Worker> {
  const w = idle.pop();
  if (w) {
    w.ref();
    return Promise.resolve(w);
  }
  if (running < MAX_WORKERS) {
    running++;
    return Promise.resolve(spawnWorker());
  }
  return new Promise((resolve) => waiting.push(resolve));
}

function release(w: Worker): void {
  const next = waiting.shift();
  if (next) return next(w);
  // An idle worker does not keep the process alive.
  w.unref();
  idle.push(w);
}

function discard(w: Worker): void {
  running--;
  void w.terminate();
  const next = waiting.shift();
  if (next) {
    running++;
    next(spawnWorker());
  }
}

/**
 * Start a worker ahead of need if none is idle: a pull calls this as it begins, so the worker's start
 * (about a tenth of a second) overlaps the manifest and config requests instead of holding back the
 * first layer's bytes.
 */
export function prewarmUnpacker(): void {
  if (idle.length || running >= MAX_WORKERS) return;
  running++;
  release(spawnWorker());
}

/** `unpackVerified` on a worker thread: the same checks, errors and answer. */
export async function unpackInWorker(
  compressed: Readable,
  dir: string,
  diffId: string,
  limits: ExtractLimits = {},
): Promise<{ size: number }> {
  const worker = await acquire();
  const { port1, port2 } = new MessageChannel();
  const job: UnpackJob = { dir, diffId, limits, port: port2 };
  worker.postMessage(job, [port2]);
  return new Promise<{ size: number }>((resolve, reject) => {
    let inFlight = 0;
    let settled = false;
    const send = (m: ToWorker, transfer: ArrayBuffer[] = []): void => {
      if (!settled) port1.postMessage(m, transfer);
    };
    const settle = (err: Error | undefined, size = 0): void => {
      if (settled) return;
      settled = true;
      worker.off('error', crashed);
      port1.close();
      // What the worker no longer reads is drained here, so the source (a download, a file) finishes.
      compressed.off('data', onData);
      compressed.resume();
      if (err) reject(err);
      else resolve({ size });
    };
    const crashed = (err: Error): void => {
      discard(worker);
      settle(err);
    };
    // Chunks are gathered into batches of about 1 MiB: one message (and one copy) per batch rather than
    // per network read keeps the main thread's share of the work small.
    let batch: Buffer[] = [];
    let batched = 0;
    const flush = (): void => {
      if (!batched) return;
      const joined = Buffer.concat(batch, batched);
      batch = [];
      batched = 0;
      // A buffer of its own (concat may use the shared pool), so it can be handed over without a copy.
      const data =
        joined.byteOffset === 0 && joined.byteLength === joined.buffer.byteLength
          ? (joined.buffer as ArrayBuffer)
          : (joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer);
      send({ type: 'chunk', data }, [data]);
      if (++inFlight >= WINDOW) compressed.pause();
    };
    const onData = (chunk: Buffer): void => {
      batch.push(chunk);
      batched += chunk.length;
      if (batched >= BATCH_BYTES) flush();
    };
    port1.on('message', (m: FromWorker) => {
      if (m.type === 'ack') {
        if (--inFlight < WINDOW / 2 && !settled) compressed.resume();
        return;
      }
      release(worker);
      if (m.type === 'done') settle(undefined, m.size);
      else settle(m.kind ? new GantryError(m.kind, m.message) : new Error(m.message));
    });
    worker.once('error', crashed);
    compressed.on('data', onData);
    compressed.once('end', () => {
      flush();
      send({ type: 'end' });
    });
    compressed.on('error', (err) => send({ type: 'error', message: err.message }));
  });
}
