/**
 * Content store: blobs addressed by their sha256 digest (containerd's `content` service).
 *
 * A blob is written to a temporary file under `ingest/`, hashed while it streams, compared with the
 * digest (and size) it was promised, fsynced and only then renamed into `blobs/sha256/<hex>`. A crash
 * at any point leaves at most a stray file in `ingest/`, which is emptied on open; a blob that fails
 * verification is never visible. Concurrent writes of one digest share a single fetch.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs, type ReadStream } from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertDigest, digestHex, sha256 } from '../common/digest.js';
import { GantryError, isNodeError, notFound } from '../common/errors.js';
import { writeSynced } from '../common/fsutil.js';

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface ContentStore {
  info(digest: string): Promise<BlobInfo | undefined>;
  /** Stream a blob (optionally a byte range, `end` inclusive). */
  reader(digest: string, range?: { start: number; end?: number }): Promise<ReadStream>;
  readBytes(digest: string): Promise<Buffer>;
  /** Store bytes already in memory; returns their digest. */
  writeBytes(data: Uint8Array, expected?: string): Promise<BlobInfo>;
  /**
   * Store a stream that must hash to `expected`. `open` is called only if the blob is missing and no
   * other write of the same digest is in flight; concurrent callers wait for that one write.
   */
  ingest(expected: { digest: string; size?: number }, open: () => Promise<Readable> | Readable): Promise<BlobInfo>;
  /** Store a stream of unknown digest (import, build): the digest is computed as it streams. */
  writeStream(source: Readable): Promise<BlobInfo>;
  delete(digest: string): Promise<void>;
  walk(): AsyncIterable<BlobInfo>;
  /**
   * Move a complete file (on the same filesystem, already hashed by the caller as `digest`) into the
   * store: fsynced, then renamed, so it appears whole or not at all.
   */
  adoptFile(file: string, digest: string): Promise<BlobInfo>;
  /** A fresh path under the store's ingest directory (emptied on open) for a file to be adopted. */
  ingestPath(): string;
  /** Path of the blob file, for callers that must hand a path to another process. */
  blobPath(digest: string): string;
}

/** Raised when streamed content does not match the digest it was promised. */
export class DigestMismatchError extends GantryError {
  constructor(expected: string, actual: string, size: number) {
    super('invalid', `filesystem layer verification failed for digest ${expected}: got ${actual} (${size} bytes)`);
  }
}

/** Throw the store's error when `actual` is not the blob `expected` promised (size known or not). */
export function checkBlob(expected: { digest: string; size?: number }, actual: BlobInfo): void {
  if (actual.digest === expected.digest) return;
  const sizeKnown = expected.size !== undefined && expected.size >= 0;
  throw sizeKnown && actual.size !== expected.size
    ? new SizeMismatchError(expected.digest, expected.size!, actual.size)
    : new DigestMismatchError(expected.digest, actual.digest, actual.size);
}

export class SizeMismatchError extends GantryError {
  constructor(expected: string, want: number, got: number) {
    super('invalid', `blob ${expected}: size mismatch: expected ${want} bytes, got ${got}`);
  }
}

class Hasher extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
}

/** Bytes written between background flushes of a blob being stored. */
const FLUSH_EVERY = 16 << 20;

/**
 * Passes a blob's bytes on to its file and, every few MiB, starts an fdatasync of what is written so
 * far (one at a time, off the event loop): the disk takes the blob while it still streams, and the
 * fsync that makes it durable at the end has only the last few MiB left to write instead of all of it.
 */
class FlushAhead extends Transform {
  private unflushed = 0;
  private flushing: Promise<void> | undefined;
  private failed: Error | undefined;

  constructor(private readonly fh: fs.FileHandle) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    if (this.failed) return cb(this.failed);
    this.unflushed += chunk.length;
    if (this.unflushed >= FLUSH_EVERY && !this.flushing) {
      this.unflushed = 0;
      this.flushing = this.fh.datasync().then(
        () => (this.flushing = undefined),
        (err: Error) => {
          this.failed = err;
          this.flushing = undefined;
        },
      );
    }
    cb(null, chunk);
  }

  /** Waits for a flush in flight and reports its failure. */
  async settle(): Promise<void> {
    await this.flushing;
    if (this.failed) throw this.failed;
  }
}

export class FileContentStore implements ContentStore {
  private readonly blobsDir: string;
  private readonly ingestDir: string;
  private readonly inflight = new Map<string, Promise<BlobInfo>>();

  private constructor(readonly root: string) {
    this.blobsDir = path.join(root, 'blobs', 'sha256');
    this.ingestDir = path.join(root, 'ingest');
  }

  static async open(root: string): Promise<FileContentStore> {
    const store = new FileContentStore(root);
    await fs.mkdir(store.blobsDir, { recursive: true });
    // Leftovers of writes interrupted by a crash: never visible as blobs, safe to drop.
    await fs.rm(store.ingestDir, { recursive: true, force: true });
    await fs.mkdir(store.ingestDir, { recursive: true });
    return store;
  }

  blobPath(digest: string): string {
    return path.join(this.blobsDir, digestHex(digest));
  }

  async info(digest: string): Promise<BlobInfo | undefined> {
    try {
      const st = await fs.stat(this.blobPath(digest));
      return { digest, size: st.size };
    } catch (err) {
      if (isNodeError(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async reader(digest: string, range?: { start: number; end?: number }): Promise<ReadStream> {
    const p = this.blobPath(digest);
    try {
      const fh = await fs.open(p, 'r');
      return fh.createReadStream({ start: range?.start, end: range?.end, autoClose: true });
    } catch (err) {
      if (isNodeError(err, 'ENOENT')) throw notFound(`content ${digest}: not found`);
      throw err;
    }
  }

  async readBytes(digest: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.blobPath(digest));
    } catch (err) {
      if (isNodeError(err, 'ENOENT')) throw notFound(`content ${digest}: not found`);
      throw err;
    }
  }

  async writeBytes(data: Uint8Array, expected?: string): Promise<BlobInfo> {
    const digest = sha256(data);
    if (expected !== undefined && expected !== digest) throw new DigestMismatchError(expected, digest, data.length);
    const existing = await this.info(digest);
    if (existing) return existing;
    const tmp = this.ingestPath();
    await writeSynced(tmp, data);
    await fs.rename(tmp, this.blobPath(digest));
    return { digest, size: data.length };
  }

  ingest(expected: { digest: string; size?: number }, open: () => Promise<Readable> | Readable): Promise<BlobInfo> {
    assertDigest(expected.digest);
    const running = this.inflight.get(expected.digest);
    if (running) return running;
    const p = (async () => {
      const existing = await this.info(expected.digest);
      if (existing) return existing;
      const info = await this.writeVerified(await open(), expected);
      return info;
    })().finally(() => this.inflight.delete(expected.digest));
    this.inflight.set(expected.digest, p);
    return p;
  }

  async writeStream(source: Readable): Promise<BlobInfo> {
    return this.writeVerified(source, undefined);
  }

  ingestPath(): string {
    return path.join(this.ingestDir, randomBytes(12).toString('hex'));
  }

  private async writeVerified(
    source: Readable,
    expected: { digest: string; size?: number } | undefined,
  ): Promise<BlobInfo> {
    const tmp = this.ingestPath();
    const hasher = new Hasher();
    try {
      // Made here and flushed through this handle; the write stream has its own (fsync covers the file).
      const fh = await fs.open(tmp, 'w', 0o644);
      const flusher = new FlushAhead(fh);
      let actual: string;
      try {
        await pipeline(source, hasher, flusher, createWriteStream(tmp, { flags: 'r+' }));
        await flusher.settle();
        actual = 'sha256:' + hasher.hash.digest('hex');
        if (expected) checkBlob(expected, { digest: actual, size: hasher.size });
        await fh.sync();
      } finally {
        await flusher.settle().catch(() => undefined);
        await fh.close();
      }
      await fs.rename(tmp, this.blobPath(actual));
      return { digest: actual, size: hasher.size };
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  async adoptFile(file: string, digest: string): Promise<BlobInfo> {
    const fh = await fs.open(file, 'r+');
    let size: number;
    try {
      await fh.sync();
      size = (await fh.stat()).size;
    } finally {
      await fh.close();
    }
    await fs.chmod(file, 0o644);
    await fs.rename(file, this.blobPath(digest));
    return { digest, size };
  }

  async delete(digest: string): Promise<void> {
    await fs.rm(this.blobPath(digest), { force: true });
  }

  async *walk(): AsyncIterable<BlobInfo> {
    for (const name of await fs.readdir(this.blobsDir)) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const st = await fs.stat(path.join(this.blobsDir, name)).catch(() => undefined);
      if (st) yield { digest: `sha256:${name}`, size: st.size };
    }
  }
}
