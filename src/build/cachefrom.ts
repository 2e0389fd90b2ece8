/**
 * `docker build --cache-from`: images whose layers may stand in for a build's RUN, COPY and ADD steps,
 * as the classic builder's image cache uses them. A step is found in a source image when the image's
 * layers begin with exactly the layers built so far, the config-only steps since the last of them are
 * the same (ENV, ARG, WORKDIR... change what a command does), and the history entry of its next layer was
 * made by the same command (which for COPY and ADD includes the checksum of what is copied).
 */
import type { Descriptor } from '../images/oci.js';
import type { HistoryEntry } from '../images/oci.js';

export interface CacheSource {
  diffIds: string[];
  layers: Descriptor[];
  history: HistoryEntry[];
}

/** The config-only steps (history entries without a layer) after the last layer of a history. */
export function stepsSinceLastLayer(history: HistoryEntry[]): string[] {
  const last = history.findLastIndex((h) => !h.empty_layer);
  return history.slice(last + 1).map((h) => h.created_by ?? '');
}

/** The layer a source image has for a step made by `createdBy` on top of `diffIds` and `configSteps`, if any has one. */
export function cachedLayer(
  sources: CacheSource[],
  diffIds: string[],
  configSteps: string[],
  createdBy: string,
): { desc: Descriptor; diffId: string } | undefined {
  for (const src of sources) {
    if (src.diffIds.length <= diffIds.length || !diffIds.every((d, i) => src.diffIds[i] === d)) continue;
    let layer = 0;
    let since: string[] = [];
    for (const h of src.history) {
      if (h.empty_layer) {
        since.push(h.created_by ?? '');
        continue;
      }
      if (layer === diffIds.length) {
        const sameSteps = since.length === configSteps.length && since.every((c, i) => c === configSteps[i]);
        if (sameSteps && h.created_by === createdBy && src.layers[layer])
          return { desc: src.layers[layer]!, diffId: src.diffIds[layer]! };
        break;
      }
      layer++;
      since = [];
    }
  }
  return undefined;
}
