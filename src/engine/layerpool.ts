/**
 * Layers unpacked on worker threads: decompressing, hashing, parsing the tar and creating every file
 * is CPU and syscall work that, on the main thread, held the daemon's event loop and ran one layer at
 * a time; a pool of four workers (as many as a pull downloads layers at once; they mostly wait on zlib
 * and the filesystem) unpacks the layers of a pull side by side.
 * The compressed bytes go to the worker over a MessagePort, transferred, with a window of batches in
 * flight, or — a download read raw — through a ring of shared memory the socket reads into; a
 * download's blob is written there too (`blobFile`), so the main thread only receives.
 */
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { GantryError } from '../common/errors.js';
import type { BlobInfo } from '../content/store.js';
import type { ExtractLimits } from '../diff/apply.js';
import { RawBody } from '../registry/rawbody.js';
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

/** Batches sent and not yet taken in by the worker: enough to ride out a slow file write. */
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

export interface UnpackResult {
  /** Bytes of file content unpacked. */
  size: number;
  /** The blob written beside the unpack (`blobFile`), as it hashed. */
  blob?: BlobInfo;
}

export interface UnpackOptions {
  limits?: ExtractLimits;
  /** Also write the compressed bytes to this file, hashing them: the answer then carries `blob`. */
  blobFile?: string;
  /** What that blob must hash to (and its size): a mismatch fails the unpack with the store's error. */
  expectedBlob?: { digest: string; size?: number };
  /** Called with each chunk's length as it is taken (a pull's progress). */
  onBytes?: (n: number) => void;
}

/** Shared memory a raw body is read into and the worker reads from. */
const RING_BYTES = 16 << 20;

/**
 * Unpack a layer into `dir` on a worker, checking its diff ID. From a stream, which must have no other
 * reader: its chunks are handed to the worker (transferred when a chunk owns its whole ArrayBuffer, as
 * HTTP bodies and file reads do; copied otherwise), so they are unusable here afterwards. From a raw
 * body (registry/rawbody.ts): the socket reads into a ring of shared memory, and the worker is told
 * which ranges to take and frees them as it is done — no copy and no allocation on this thread.
 */
export async function unpackInWorker(
  source: Readable | RawBody,
  dir: string,
  diffId: string,
  opts: UnpackOptions = {},
): Promise<UnpackResult> {
  // An error before the worker is ready is kept, not thrown where nobody listens (the listener stays
  // until another takes its place: an errored stream may emit its error after `errored` is set).
  let early: Error | undefined;
  const keep = (err: Error): void => void (early ??= err);
  if (!(source instanceof RawBody)) source.on('error', keep);
  const worker = await acquire();
  const { port1, port2 } = new MessageChannel();
  const ring = source instanceof RawBody ? new SharedArrayBuffer(RING_BYTES) : undefined;
  const job: UnpackJob = {
    dir,
    diffId,
    limits: opts.limits ?? {},
    blobFile: opts.blobFile,
    expectedBlob: opts.expectedBlob,
    ring,
    port: port2,
  };
  worker.postMessage(job, [port2]);
  return new Promise((resolve, reject) => {
    let settled = false;
    const send = (m: ToWorker, transfer: ArrayBuffer[] = []): void => {
      if (!settled) port1.postMessage(m, transfer);
    };
    let feeding: Feeding | undefined;
    const settle = (err: Error | undefined, answer?: UnpackResult): void => {
      if (settled) return;
      settled = true;
      worker.off('error', crashed);
      port1.close();
      feeding?.stop();
      if (err) reject(err);
      else resolve(answer!);
    };
    const crashed = (err: Error): void => {
      discard(worker);
      settle(err);
    };
    port1.on('message', (m: FromWorker) => {
      if (m.type === 'ack') return feeding?.onAck(m.bytes);
      release(worker);
      if (m.type === 'done') settle(undefined, { size: m.size, blob: m.blob });
      // The source's own error, when it failed, keeps its code (a retry tells a reset connection by it).
      else settle(sourceError ?? (m.kind ? new GantryError(m.kind, m.message) : new Error(m.message)));
    });
    worker.once('error', crashed);
    let sourceError: Error | undefined;
    const failed = (err: Error): void => {
      sourceError ??= err;
      send({ type: 'error', message: err.message });
    };
    const feed = { send, failed, onBytes: opts.onBytes ?? (() => undefined) };
    if (source instanceof RawBody) {
      feeding = feedRing(source, ring!, feed);
    } else {
      if (early || source.errored) return failed(early ?? (source.errored as Error));
      feeding = feedStream(source, feed);
      source.off('error', keep);
    }
  });
}

interface Feed {
  send(m: ToWorker, transfer?: ArrayBuffer[]): void;
  failed(err: Error): void;
  onBytes(n: number): void;
}

/** A source being fed to the worker: told of each acknowledgement, stopped when the job is over. */
interface Feeding {
  onAck(bytes: number): void;
  stop(): void;
}

/** A stream's chunks, in batches of about 1 MiB (one message per batch, not per network read). */
function feedStream(compressed: Readable, feed: Feed): Feeding {
  let inFlight = 0;
  let batch: ArrayBuffer[] = [];
  let batched = 0;
  const flush = (): void => {
    if (!batch.length) return;
    const data = batch;
    batch = [];
    batched = 0;
    feed.send({ type: 'chunks', data }, data);
    if (++inFlight >= WINDOW) compressed.pause();
  };
  const onData = (chunk: Buffer): void => {
    feed.onBytes(chunk.length);
    const owned = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
    batch.push(
      (owned ? chunk.buffer : chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength)) as ArrayBuffer,
    );
    batched += chunk.length;
    if (batched >= BATCH_BYTES) flush();
  };
  compressed.on('data', onData);
  compressed.once('end', () => {
    flush();
    feed.send({ type: 'end' });
  });
  compressed.on('error', (err) => {
    flush();
    feed.failed(err);
  });
  return {
    onAck: () => {
      if (--inFlight < WINDOW / 2) compressed.resume();
    },
    // What the worker no longer reads is drained here, so the source (a download, a file) finishes.
    stop: () => {
      compressed.off('data', onData);
      compressed.resume();
    },
  };
}

/** A raw body read into the ring; the worker is sent each filled range and frees it with its ack. */
function feedRing(body: RawBody, ring: SharedArrayBuffer, feed: Feed): Feeding {
  const bytes = new Uint8Array(ring);
  // Positions counted from the start of the body: filled up to `head`, sent up to `sent`, freed up to `tail`.
  let head = 0;
  let sent = 0;
  let tail = 0;
  const post = (): void => {
    const ranges: Array<[number, number]> = [];
    for (let from = sent; from < head;) {
      const offset = from % RING_BYTES;
      const length = Math.min(head - from, RING_BYTES - offset);
      ranges.push([offset, length]);
      from += length;
    }
    sent = head;
    if (ranges.length) feed.send({ type: 'ranges', ranges });
  };
  body.pipe({
    space: () => {
      const free = RING_BYTES - (head - tail);
      if (!free) return undefined;
      const offset = head % RING_BYTES;
      return bytes.subarray(offset, offset + Math.min(free, RING_BYTES - offset));
    },
    written: (n) => {
      head += n;
      feed.onBytes(n);
      if (head - sent >= BATCH_BYTES) post();
    },
    end: () => {
      post();
      feed.send({ type: 'end' });
    },
    error: (err) => {
      post();
      feed.failed(err);
    },
  });
  return {
    onAck: (n) => {
      tail += n;
      body.resume();
    },
    stop: () => body.destroy(),
  };
}
