/**
 * What a streamed archive upload (`/images/load`, `/images/create?fromSrc=-`, a build context) can be
 * checked for before the engine answers 200 and starts streaming progress: that there is a body, that
 * it decompresses as its magic bytes say, and that it starts with a tar header whose checksum holds.
 * Once the 200 is out, an error can only travel in-band, which clients show less clearly.
 */
import type { Readable } from 'node:stream';
import { constants, gunzipSync } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { invalid } from '../common/errors.js';
import { detectCompression, peek } from './compression.js';

/** Enough compressed input to decompress a tar header from, even behind a large gzip header. */
const PEEK = 64 << 10;
const BLOCK = 512;

/** Whether a 512-byte block is a tar header: its checksum (bytes 148-155, octal) sums the block with itself as spaces. */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < BLOCK) return false;
  if (block.subarray(0, BLOCK).every((b) => b === 0)) return true; // an empty archive's end marker
  const field = block.subarray(148, 156).toString('latin1').replace(/\0.*$/s, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === parseInt(field, 8);
}

/** The start of the decompressed content, from a head that may end mid-stream. */
function decompressHead(head: Buffer, kind: 'gzip' | 'zstd'): Buffer {
  if (kind === 'gzip') return gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH });
  const out: Buffer[] = [];
  new ZstdDecompress((chunk) => out.push(Buffer.from(chunk))).push(new Uint8Array(head));
  return Buffer.concat(out);
}

/**
 * Check the start of an uploaded archive (`what` names it in errors) and give back the whole upload,
 * unread. Throws Docker-style invalid-parameter errors, before any answer is written.
 */
export async function checkArchiveUpload(body: Readable, what: string): Promise<Readable> {
  const head = await peek(body, PEEK);
  if (head.length === 0) throw invalid(`${what} is empty: send a tar archive`);
  const kind = detectCompression(head);
  let plain = head;
  if (kind !== 'none') {
    try {
      plain = decompressHead(head, kind);
    } catch (err) {
      throw invalid(`${what} is not valid ${kind}: ${(err as Error).message}`);
    }
  }
  // A head shorter than asked is the whole upload: then a missing header is a truncated archive.
  const whole = head.length < PEEK;
  if (plain.length >= BLOCK ? !isTarHeader(plain) : whole)
    throw invalid(`${what} is not a tar archive: archive/tar: invalid tar header`);
  return body;
}
