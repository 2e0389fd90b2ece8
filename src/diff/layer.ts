/**
 * Image layers unpacked in overlay form (OCI whiteouts `.wh.name` become 0/0 character devices, opaque
 * markers `.wh..wh..opq` the `trusted.overlay.opaque` xattr) by native/layer.c: inflating, hashing for
 * the diff ID, reading the tar and creating each entry through the confined primitives happen in one
 * pass in C, chunk by chunk. The JavaScript path (gunzip and hash streams into tar-stream into
 * `extractTar`) cost about four times the CPU for the same layer, and a pull is CPU-bound.
 * Callers run this off the event loop (engine/layerpool.ts): each chunk is unpacked synchronously.
 */
import { promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { ConfinedDir } from '../common/confined.js';
import { GantryError, invalid } from '../common/errors.js';
import { native, type LayerFailure } from '../native/index.js';
import { entryError, type ApplyResult, type ExtractLimits } from './apply.js';
import { decompress, detectCompression, peek } from './compression.js';

export interface LayerResult extends ApplyResult {
  /** `sha256:` digest of the uncompressed tar: what the image config lists as the layer's diff ID. */
  diffId: string;
}

/** Unpack a layer stream (gzip, zstd or a plain tar) into `dir` (created if missing). */
export async function applyLayer(
  layer: Readable,
  dir: string,
  limits: ExtractLimits & { what?: string } = {},
): Promise<LayerResult> {
  const what = limits.what ?? 'archive';
  // Keep an early stream error from going unhandled while the directory is made; the loop below reads it.
  const quiet = (): void => undefined;
  layer.on('error', quiet);
  try {
    await fsp.mkdir(dir, { recursive: true });
    const kind = detectCompression(await peek(layer, 4));
    // zstd is rare in layers and fzstd is JavaScript; it is decompressed before the native unpacker.
    const input = kind === 'zstd' ? await decompress(layer) : layer;
    return await ConfinedDir.with(dir, 'beneath', async (root) => {
      const unpacker = native.layerUnpacker(
        root.fd,
        root.resolve,
        kind === 'gzip',
        limits.maxBytes ?? -1,
        limits.maxEntries ?? -1,
      );
      try {
        for await (const chunk of input) native.layerWrite(unpacker, chunk as Buffer);
        return native.layerEnd(unpacker);
      } catch (err) {
        throw layerError(what, root, err, limits);
      } finally {
        native.layerClose(unpacker);
      }
    });
  } finally {
    layer.off('error', quiet);
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
