/**
 * Detach keys: the key sequence (Docker's default ctrl-p,ctrl-q) that, typed on an attached stdin,
 * disconnects the client and leaves the container running. Bytes that could be the start of the
 * sequence are held back until the next byte shows whether they are.
 */
import { invalid } from '../../common/errors.js';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** Parse Docker's notation: comma-separated single characters or `ctrl-<a-z @ [ \ ] ^ _>`. */
export function parseDetachKeys(spec: string): Buffer {
  const bytes: number[] = [];
  for (const key of spec.split(',')) {
    const lower = key.toLowerCase();
    if (key.length === 1) bytes.push(key.charCodeAt(0));
    else if (lower.startsWith('ctrl-') && key.length === 6) {
      const c = lower.charCodeAt(5);
      if (c >= 0x61 && c <= 0x7a) bytes.push(c - 0x60);
      else if ('@[\\]^_'.includes(lower[5]!)) bytes.push(lower.charCodeAt(5) - 0x40);
      else throw invalid(`Invalid detach keys (${spec}) provided: unknown character: '${key}'`);
    } else throw invalid(`Invalid detach keys (${spec}) provided: unknown character: '${key}'`);
  }
  return Buffer.from(bytes);
}

/** Filters a stdin byte stream: `feed` returns what to pass on, and whether the sequence was typed. */
export class DetachDetector {
  private matched = 0;

  constructor(private readonly keys: Buffer) {}

  feed(chunk: Buffer): { data: Buffer; detached: boolean } {
    if (this.keys.length === 0) return { data: chunk, detached: false };
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { data: Buffer.from(out), detached: true };
        continue;
      }
      // A broken prefix was ordinary input: pass it on, then look at this byte afresh.
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i]!);
      this.matched = 0;
      if (byte === this.keys[0]) this.matched = 1;
      else out.push(byte);
    }
    return { data: Buffer.from(out), detached: false };
  }
}
