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
 * The first `n` bytes of a stream (fewer if it is shorter), read and put back: the stream is then
 * consumed as it is, from its start, without another copy of its chunks.
 */
export function peek(source: Readable, n: number): Promise<Buffer> {
  // A stream that already failed or ended emits nothing more: answer now rather than wait forever.
  if (source.errored) return Promise.reject(source.errored);
  if (source.readableEnded) return Promise.resolve(Buffer.alloc(0));
  if (source.destroyed) return Promise.reject(new Error('the stream was destroyed before it was read'));
  return new Promise((resolve, reject) => {
    const done = (head: Buffer): void => {
      source.off('readable', onReadable);
      source.off('end', onEnd);
      source.off('error', reject);
      resolve(head);
    };
    const onReadable = (): void => {
      // null while fewer than `n` bytes have come and the stream goes on; at its end, what there is.
      const head = source.read(n) as Buffer | null;
      if (head === null) return;
      source.unshift(head);
      done(head);
    };
    const onEnd = (): void => done(Buffer.alloc(0));
    source.on('readable', onReadable);
    source.once('end', onEnd);
    source.once('error', reject);
  });
}

/** Decompress a layer stream whatever its compression (gzip, zstd or none). */
export async function decompress(stream: Readable): Promise<Readable> {
  const head = await peek(stream, 4);
  const kind = detectCompression(head);
  if (kind === 'none') return stream;
  // 256 KiB output chunks make gunzip about twice as fast as zlib's 16 KiB default.
  const dec = kind === 'gzip' ? createGunzip({ chunkSize: 256 << 10 }) : new ZstdTransform();
  stream.on('error', (err) => dec.destroy(err));
  return stream.pipe(dec);
}
