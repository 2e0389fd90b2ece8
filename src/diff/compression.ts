/** Layer compression: detected from magic bytes, so a mislabelled layer still unpacks. */
import { Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';

export type Compression = 'gzip' | 'zstd' | 'none';

export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

class ZstdTransform extends Transform {
  private readonly dec = new ZstdDecompress((chunk) => {
    this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      this.dec.push(new Uint8Array(chunk));
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
  override _flush(cb: (err?: Error | null) => void): void {
    try {
      this.dec.push(new Uint8Array(0), true);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

/**
 * Split off at least the first `n` bytes of a stream (fewer if it is shorter) and return them with a
 * stream that yields the whole content again from the start.
 */
export async function peek(source: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    chunks.push(r.value);
    len += r.value.length;
  }
  async function* replay(): AsyncGenerator<Buffer> {
    yield* chunks;
    while (!done) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { head: Buffer.concat(chunks).subarray(0, n), stream: Readable.from(replay(), { objectMode: false }) };
}

/** Decompress a layer stream whatever its compression (gzip, zstd or none). */
export async function decompress(source: Readable): Promise<Readable> {
  const { head, stream } = await peek(source, 4);
  const kind = detectCompression(head);
  if (kind === 'none') return stream;
  // 256 KiB output chunks make gunzip about twice as fast as zlib's 16 KiB default.
  const dec = kind === 'gzip' ? createGunzip({ chunkSize: 256 << 10 }) : new ZstdTransform();
  stream.on('error', (err) => dec.destroy(err));
  return stream.pipe(dec);
}
