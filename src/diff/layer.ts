/**
 * Image layers unpacked in overlay form (OCI whiteouts `.wh.name` become 0/0 character devices, opaque
 * markers `.wh..wh..opq` the `trusted.overlay.opaque` xattr) by native/layer.c: inflating, hashing for
 * the diff ID, reading the tar and creating each entry through the confined primitives happen in one
 * pass in C, chunk by chunk. The JavaScript path (gunzip and hash streams into tar-stream into
 * `extractTar`) cost about four times the CPU for the same layer, and a pull is CPU-bound.
 * Callers run this off the event loop (engine/layerworker.ts): each chunk is unpacked synchronously.
 * zstd layers (rare) are inflated by fzstd in JavaScript and read as plain tars.
 */
import { ConfinedDir } from '../common/confined.js';
import { GantryError, invalid } from '../common/errors.js';
import { Decompress as ZstdDecompress } from 'fzstd';
import { native, type LayerFailure, type LayerUnpacker } from '../native/index.js';
import { entryError, type ApplyResult, type ExtractLimits } from './apply.js';
import { detectCompression } from './compression.js';

export interface LayerResult extends ApplyResult {
  /** `sha256:` digest of the uncompressed tar: what the image config lists as the layer's diff ID. */
  diffId: string;
}

/**
 * A layer written chunk by chunk beneath `root` (gzip, zstd or a plain tar, known from its first
 * bytes). Each `write` unpacks what the chunk completes, synchronously; `close` releases what is held.
 */
export class LayerWriter {
  private head: Buffer[] = [];
  private headBytes = 0;
  private unpacker: LayerUnpacker | undefined;
  private zstd: ZstdDecompress | undefined;

  constructor(
    private readonly root: ConfinedDir,
    private readonly what: string,
    private readonly limits: ExtractLimits = {},
  ) {}

  /** Take the next bytes: the caller may reuse `chunk`'s memory once this returns (a pull's ring does). */
  write(chunk: Buffer): void {
    try {
      if (!this.unpacker) {
        // The compression is known from the first four bytes, which may come in more than one chunk.
        this.head.push(chunk);
        this.headBytes += chunk.length;
        if (this.headBytes < 4) {
          // Kept past this call, so copied.
          this.head = [Buffer.concat(this.head)];
          return;
        }
        this.start();
        return;
      }
      this.feed(chunk);
    } catch (err) {
      throw layerError(this.what, this.root, err, this.limits);
    }
  }

  end(): LayerResult {
    try {
      if (!this.unpacker) this.start();
      if (this.zstd) this.zstd.push(new Uint8Array(0), true);
      return native.layerEnd(this.unpacker!);
    } catch (err) {
      throw layerError(this.what, this.root, err, this.limits);
    }
  }

  close(): void {
    if (this.unpacker) native.layerClose(this.unpacker);
  }

  private start(): void {
    const head = Buffer.concat(this.head, this.headBytes);
    this.head = [];
    const kind = detectCompression(head);
    const { maxBytes = -1, maxEntries = -1 } = this.limits;
    this.unpacker = native.layerUnpacker(this.root.fd, this.root.resolve, kind === 'gzip', maxBytes, maxEntries);
    if (kind === 'zstd') {
      // zstd is rare in layers: fzstd (JavaScript) inflates it and the unpacker reads the plain tar.
      const unpacker = this.unpacker;
      this.zstd = new ZstdDecompress((out) =>
        native.layerWrite(unpacker, Buffer.from(out.buffer, out.byteOffset, out.byteLength)),
      );
    }
    if (head.length) this.feed(head);
  }

  private feed(chunk: Buffer): void {
    // fzstd may keep a chunk past the call, so it gets a copy.
    if (this.zstd) this.zstd.push(Uint8Array.prototype.slice.call(chunk));
    else native.layerWrite(this.unpacker!, chunk);
  }
}

/** The native unpacker's failure worded as `extractTar` words the same failure. */
function layerError(what: string, root: ConfinedDir, err: unknown, limits: ExtractLimits): Error {
  const failure = err as Partial<LayerFailure>;
  if (err instanceof GantryError || !failure.reason) return err as Error;
  const rel = failure.rel ?? '';
  switch (failure.reason) {
    case 'escape':
      return invalid(`archive entry ${JSON.stringify(rel)} escapes the extraction root`);
    case 'entries':
      return invalid(`${what} has more than ${limits.maxEntries} entries`);
    case 'bytes':
      return invalid(`${what} is larger than the limit of ${limits.maxBytes} bytes`);
    case 'whiteout':
      return invalid(`${what}: invalid whiteout ${JSON.stringify(rel)}`);
    case 'entry':
      return entryError(what, root, rel, err);
    default:
      return invalid(`${what}: ${failure.message}`);
  }
}
