/**
 * A worker thread that unpacks layers (see `layerpool.ts`): each job arrives with a port carrying the
 * compressed layer in batches of chunks. Each chunk is unpacked here (native/layer.c) and, when the job
 * names a blob file, hashed and written to it on libuv's threadpool at the same time (native/blob.c) —
 * a download's bytes are then stored and unpacked off the daemon's event loop, and the main thread
 * only hands them on. The answer, with the blob and the diff ID checked, goes back on the port.
 */
import fs from 'node:fs';
import { parentPort, type MessagePort } from 'node:worker_threads';
import { ConfinedDir } from '../common/confined.js';
import { GantryError } from '../common/errors.js';
import { checkBlob, type BlobInfo } from '../content/store.js';
import type { ExtractLimits } from '../diff/apply.js';
import { LayerWriter } from '../diff/layer.js';
import { native, type BlobSink } from '../native/index.js';

export interface UnpackJob {
  dir: string;
  diffId: string;
  limits: ExtractLimits;
  /** A file to write the compressed bytes to, as they come (the blob being downloaded). */
  blobFile?: string;
  /** What the blob must hash to: checked before anything else is reported, as Docker verifies a download first. */
  expectedBlob?: { digest: string; size?: number };
  /** Shared memory the bytes arrive in, when they come as `ranges` rather than `chunks`. */
  ring?: SharedArrayBuffer;
  port: MessagePort;
}

/**
 * What the main thread sends on a job's port: chunks, transferred, not copied; or ranges (offset,
 * length) of the job's ring, which stay the worker's until it acknowledges them.
 */
export type ToWorker =
  | { type: 'chunks'; data: ArrayBuffer[] }
  | { type: 'ranges'; ranges: Array<[number, number]> }
  | { type: 'end' }
  | { type: 'error'; message: string };
/** What the worker answers: one `ack` per message of bytes, once they are unpacked and written, then `done` or `failed`. */
export type FromWorker =
  | { type: 'ack'; bytes: number }
  | { type: 'done'; size: number; blob?: BlobInfo }
  | { type: 'failed'; kind: GantryError['kind'] | undefined; message: string };

/**
 * The blob's file and its native sink: chunks are hashed and written in batches on libuv's threadpool
 * (one batch at a time, in order) while this thread unpacks them, and the file is synced as soon as
 * the promised size is written. The fd is closed only once nothing is writing or syncing it, so its
 * number is never reused under a write still running.
 */
class BlobFile {
  private readonly fd: number;
  private readonly sink: BlobSink;
  private queue: Buffer[] = [];
  /** Bytes written so far. */
  written = 0;
  private writing = false;
  private syncing: Promise<void> | undefined;
  /** A failed write or sync: the job fails with it at once (the rest would never be acknowledged). */
  error: Error | undefined;
  private closing = false;
  private closed = false;
  private idle: Array<() => void> = [];

  constructor(
    file: string,
    private readonly expectedSize: number | undefined,
    /** Called whenever a batch is written. */
    private readonly onWritten: () => void,
  ) {
    this.fd = fs.openSync(file, 'w', 0o644);
    try {
      this.sink = native.blobSink(this.fd);
    } catch (err) {
      fs.closeSync(this.fd);
      throw err;
    }
  }

  write(chunk: Buffer): void {
    if (this.error || this.closing) return;
    this.queue.push(chunk);
    this.pump();
  }

  private pump(): void {
    if (this.writing || !this.queue.length || this.error || this.closing) return;
    const batch = this.queue;
    this.queue = [];
    const bytes = batch.reduce((n, c) => n + c.length, 0);
    this.writing = true;
    native.blobWrite(this.sink, batch, (err) => {
      this.writing = false;
      this.written += bytes;
      if (err) this.error = err;
      else if (this.written === this.expectedSize) this.sync();
      this.pump();
      if (!this.writing) this.settle();
      this.onWritten();
    });
  }

  private sync(): Promise<void> {
    if (!this.syncing) {
      this.syncing = new Promise<void>((resolve, reject) =>
        fs.fdatasync(this.fd, (err) => (err ? reject(err) : resolve())),
      ).finally(() => this.settle());
      // Started early (at the promised size), its failure is heard by `end`, or by nobody if the job failed.
      this.syncing.catch(() => undefined);
    }
    return this.syncing;
  }

  private settle(): void {
    for (const wake of this.idle.splice(0)) wake();
    if (!this.closing || this.writing || this.closed) return;
    this.closed = true;
    const close = (): void => fs.closeSync(this.fd);
    void (this.syncing ?? Promise.resolve()).then(close, close);
  }

  /** Everything written and synced: the blob's digest and size. */
  async end(): Promise<BlobInfo> {
    while (this.writing || (this.queue.length && !this.error)) await new Promise<void>((wake) => this.idle.push(wake));
    if (this.error) throw this.error;
    const stored = native.blobEnd(this.sink);
    await this.sync();
    return stored;
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.queue = [];
    this.settle();
  }
}

function run(job: UnpackJob): void {
  const { port } = job;
  let root: ConfinedDir | undefined;
  let writer: LayerWriter | undefined;
  let blob: BlobFile | undefined;
  let over = false;
  // A layer that fails to unpack while its blob is written: the blob is still read to its end, so a
  // corrupted download is reported as such rather than as whatever the corruption broke in the tar.
  let unpackError: unknown;
  // Messages taken in, each acknowledged once the blob has written its bytes too (at once without a
  // blob): a ring's ranges are then free to be read into again, and a stream's window moves on.
  const unacked: Array<{ through: number; bytes: number }> = [];
  let taken = 0;
  const ack = (): void => {
    if (blob?.error) return fail(blob.error);
    while (unacked.length && (!blob || unacked[0]!.through <= blob.written)) {
      port.postMessage({ type: 'ack', bytes: unacked.shift()!.bytes } satisfies FromWorker);
    }
  };
  const take = (chunk: Buffer): void => {
    taken += chunk.length;
    blob?.write(chunk);
    if (unpackError) return;
    try {
      writer!.write(chunk);
    } catch (err) {
      if (!blob) throw err;
      unpackError = err;
    }
  };
  const finish = (answer: FromWorker): void => {
    if (over) return;
    over = true;
    port.postMessage(answer);
    for (const release of [() => writer?.close(), () => blob?.close(), () => root?.close()]) {
      try {
        release();
      } catch {
        // Releasing one must not keep the others held.
      }
    }
  };
  const fail = (err: unknown): void =>
    finish({
      type: 'failed',
      kind: err instanceof GantryError ? err.kind : undefined,
      message: err instanceof Error ? err.message : String(err),
    });
  const complete = async (): Promise<void> => {
    let res: ReturnType<LayerWriter['end']> | undefined;
    if (!unpackError) {
      try {
        res = writer!.end();
      } catch (err) {
        unpackError = err;
      }
    }
    // The blob is checked first, as Docker verifies a download before it unpacks.
    const stored = blob ? await blob.end() : undefined;
    if (stored && job.expectedBlob) checkBlob(job.expectedBlob, stored);
    if (unpackError) throw unpackError;
    if (res!.diffId !== job.diffId)
      throw new GantryError('invalid', `layer diff ID mismatch: expected ${job.diffId}, got ${res!.diffId}`);
    finish({ type: 'done', size: res!.size, blob: stored });
  };
  try {
    fs.mkdirSync(job.dir, { recursive: true });
    root = ConfinedDir.open(job.dir, 'beneath');
    writer = new LayerWriter(root, `layer ${job.diffId}`, job.limits);
    if (job.blobFile) blob = new BlobFile(job.blobFile, job.expectedBlob?.size, ack);
  } catch (err) {
    return fail(err);
  }
  port.on('message', (m: ToWorker) => {
    if (over) return;
    try {
      if (m.type === 'chunks' || m.type === 'ranges') {
        const before = taken;
        if (m.type === 'chunks') for (const data of m.data) take(Buffer.from(data));
        else for (const [offset, length] of m.ranges) take(Buffer.from(job.ring!, offset, length));
        unacked.push({ through: taken, bytes: taken - before });
        ack();
      } else if (m.type === 'end') {
        complete().catch(fail);
      } else {
        throw new Error(m.message);
      }
    } catch (err) {
      fail(err);
    }
  });
}

parentPort?.on('message', (job: UnpackJob) => run(job));
