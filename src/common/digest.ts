import { createHash } from 'node:crypto';
import { invalid } from './errors.js';

export const SHA256_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: string): boolean {
  return SHA256_RE.test(s);
}

export function assertDigest(s: string): string {
  if (!isDigest(s)) throw invalid(`invalid digest: ${JSON.stringify(s)}`);
  return s;
}

export function sha256(data: string | Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/** The hex part of a sha256 digest (for display: it does not check the digest). */
export function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/**
 * The hex part of a digest that becomes a file name: checked first, so a digest from an image, a
 * manifest or a request (`sha256:../../etc`) can never name a path outside its directory.
 */
export function digestHex(digest: string): string {
  return hexOf(assertDigest(digest));
}

/** Docker's 12-character short ID. */
export function shortId(id: string): string {
  return hexOf(id).slice(0, 12);
}

/** The OCI chain ID of a list of diff IDs: ChainID(n) = sha256(ChainID(n-1) + " " + DiffID(n)). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    assertDigest(d);
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : sha256(`${prev} ${d}`));
  }
  return out;
}
