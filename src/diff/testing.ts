/**
 * For tests of the layer unpacker: a whole layer stream through `LayerWriter`, as the unpack worker
 * (engine/layerworker.ts) feeds it chunk by chunk from its messages.
 */
import { promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { ConfinedDir } from '../common/confined.js';
import type { ExtractLimits } from './apply.js';
import { LayerWriter, type LayerResult } from './layer.js';

/** Unpack a layer stream (gzip, zstd or a plain tar) into `dir` (created if missing). */
export async function applyLayer(
  layer: Readable,
  dir: string,
  limits: ExtractLimits & { what?: string } = {},
): Promise<LayerResult> {
  // Keep an early stream error from going unhandled while the directory is made; the loop below reads it.
  const quiet = (): void => undefined;
  layer.on('error', quiet);
  try {
    await fsp.mkdir(dir, { recursive: true });
    return await ConfinedDir.with(dir, 'beneath', async (root) => {
      const writer = new LayerWriter(root, limits.what ?? 'archive', limits);
      try {
        for await (const chunk of layer) writer.write(chunk as Buffer);
        return writer.end();
      } finally {
        writer.close();
      }
    });
  } finally {
    layer.off('error', quiet);
  }
}
