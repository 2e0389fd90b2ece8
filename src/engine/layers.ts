/**
 * Turning layer blobs into snapshots, and tar streams into layer blobs. Shared by pull, load, import
 * and (later) commit and build, so every path verifies diff IDs the same way.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { chainIds } from '../common/digest.js';
import type { ContentStore } from '../content/store.js';
import type { ExtractLimits } from '../diff/apply.js';
import type { Snapshotter } from '../snapshots/store.js';
import { MediaType, type Descriptor } from '../images/oci.js';
import { unpackInWorker } from './layerpool.js';

class CountingHash extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  constructor(
    private readonly onBytes?: (n: number) => void,
    highWaterMark?: number,
  ) {
    super({ highWaterMark });
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: (err?: Error | null, d?: Buffer) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    this.onBytes?.(this.size);
    cb(null, chunk);
  }
}

/** Make sure every layer of an image is unpacked, reading blobs from the content store. */
export async function ensureSnapshots(
  content: ContentStore,
  snapshots: Snapshotter,
  layers: Descriptor[],
  diffIds: string[],
  limits: ExtractLimits = {},
): Promise<void> {
  const chains = chainIds(diffIds);
  for (let i = 0; i < layers.length; i++) {
    const chain = chains[i]!;
    if (await snapshots.stat(chain)) continue;
    await snapshots.extract(chain, chains[i - 1], diffIds[i]!, async (dir) =>
      unpackInWorker(await content.reader(layers[i]!.digest), dir, diffIds[i]!, { limits }),
    );
  }
}

/**
 * Store an uncompressed tar stream as a gzip layer blob. Returns the blob descriptor and the diff ID
 * (digest of the uncompressed tar).
 */
export async function storeLayer(
  content: ContentStore,
  tar: Readable,
): Promise<{ desc: Descriptor; diffId: string; size: number }> {
  const hasher = new CountingHash();
  const gz = createGzip({ level: 6 });
  const out = new PassThrough();
  const stored = content.writeStream(out);
  await pipeline(tar, hasher, gz, out);
  const info = await stored;
  return {
    desc: { mediaType: MediaType.OciLayerGzip, digest: info.digest, size: info.size },
    diffId: 'sha256:' + hasher.hash.digest('hex'),
    size: hasher.size,
  };
}

export { CountingHash };
