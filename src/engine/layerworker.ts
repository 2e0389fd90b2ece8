/**
 * A worker thread that unpacks layers (see `layerpool.ts`): each job arrives with a port carrying the
 * compressed layer in batches of chunks. Each chunk is unpacked (native/layer.c) and, when the job
 * names a blob file, hashed and written to it (native/blob.c) — a download's bytes are then stored and
 * unpacked here, off the daemon's event loop, and the main thread only hands them on. The answer, with
 * the diff ID checked, goes back on the port.
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
  port: MessagePort;
}

/** What the main thread sends on a job's port: chunks are transferred, not copied. */
export type ToWorker = { type: 'chunks'; data: ArrayBuffer[] } | { type: 'end' } | { type: 'error'; message: string };
/** What the worker answers: one `ack` per batch taken in, then `done` or `failed`. */
export type FromWorker =
  | { type: 'ack' }
  | { type: 'done'; size: number; blob?: BlobInfo }
  | { type: 'failed'; kind: GantryError['kind'] | undefined; message: string };

/** The blob's file and its native sink, closed once whatever happens. */
class BlobFile {
  private readonly fd: number;
  readonly sink: BlobSink;
  constructor(file: string) {
    this.fd = fs.openSync(file, 'w', 0o644);
    try {
      this.sink = native.blobSink(this.fd);
    } catch (err) {
      fs.closeSync(this.fd);
      throw err;
    }
  }
  close(): void {
    fs.closeSync(this.fd);
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
  try {
    fs.mkdirSync(job.dir, { recursive: true });
    root = ConfinedDir.open(job.dir, 'beneath');
    writer = new LayerWriter(root, `layer ${job.diffId}`, job.limits);
    if (job.blobFile) blob = new BlobFile(job.blobFile);
  } catch (err) {
    return fail(err);
  }
  port.on('message', (m: ToWorker) => {
    if (over) return;
    try {
      if (m.type === 'chunks') {
        for (const data of m.data) {
          const chunk = Buffer.from(data);
          if (blob) native.blobWrite(blob.sink, chunk);
          if (unpackError) continue;
          try {
            writer!.write(chunk);
          } catch (err) {
            if (!blob) throw err;
            unpackError = err;
          }
        }
        port.postMessage({ type: 'ack' } satisfies FromWorker);
      } else if (m.type === 'end') {
        const stored = blob ? native.blobEnd(blob.sink) : undefined;
        if (stored && job.expectedBlob) checkBlob(job.expectedBlob, stored);
        if (unpackError) throw unpackError;
        const res = writer!.end();
        if (res.diffId !== job.diffId)
          throw new GantryError('invalid', `layer diff ID mismatch: expected ${job.diffId}, got ${res.diffId}`);
        finish({ type: 'done', size: res.size, blob: stored });
      } else {
        throw new Error(m.message);
      }
    } catch (err) {
      fail(err);
    }
  });
}

parentPort?.on('message', (job: UnpackJob) => run(job));
