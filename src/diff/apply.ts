/**
 * The confined extraction primitive for archives other than layers (build contexts, `docker cp` into
 * containers, ...); image layers are unpacked by `diff/layer.ts` through the same confined primitives.
 * Each entry is applied completely (created, owner, mode, xattrs, times, device numbers) in one call
 * beneath a `ConfinedDir` (openat2), when the entry is read: nothing is queued to run later through a
 * path that a later entry could have replaced with a symlink, and no path can lead out of the root.
 *
 * With `whiteouts: 'overlay'`, OCI whiteouts (`.wh.name`) become 0/0 character devices and opaque
 * markers (`.wh..wh..opq`) the `trusted.overlay.opaque` xattr, as `diff/layer.ts` unpacks layers.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { extract as tarExtract, type Header } from 'tar-stream';
import { ConfinedDir, type EntryKindName, type EntrySpec } from '../common/confined.js';
import { GantryError, invalid } from '../common/errors.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
const SMALL_FILE = 256 << 10;
const writeFd = promisify(fs.write);

/** Writes of one file's body in flight at once, each at its own offset. */
const WRITES_IN_FLIGHT = 4;

/** Write a large file's body to `fd` as it streams, a few chunks at a time, at their offsets. */
async function writeBody(fd: number, body: AsyncIterable<unknown>, onChunk: (buf: Buffer) => void): Promise<void> {
  const pending = new Set<Promise<void>>();
  let failed: unknown;
  let position = 0;
  const writeAt = async (buf: Buffer, at: number): Promise<void> => {
    for (let off = 0; off < buf.length;) off += (await writeFd(fd, buf, off, buf.length - off, at + off)).bytesWritten;
  };
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      onChunk(buf);
      const p: Promise<void> = writeAt(buf, position).then(
        () => void pending.delete(p),
        (err: unknown) => {
          failed ??= err;
          pending.delete(p);
        },
      );
      pending.add(p);
      position += buf.length;
      if (pending.size >= WRITES_IN_FLIGHT) await Promise.race(pending);
      if (failed) throw failed;
    }
  } finally {
    // The caller closes `fd` next: no write may still be using it (or a number reused for another file).
    await Promise.all(pending);
  }
  if (failed) throw failed;
}

/** The body of one tar entry (a streamx stream). */
type EntryStream = AsyncIterable<unknown> & { resume(): unknown };

export interface ApplyResult {
  /** Bytes of regular file content written. */
  size: number;
  entries: number;
}

/** Caps against decompression bombs: an archive over either is refused. */
export interface ExtractLimits {
  maxBytes?: number;
  maxEntries?: number;
}

export interface ExtractOptions extends ExtractLimits {
  /** `overlay`: whiteouts and opaque markers in overlayfs form (layers); else `.wh.` names are plain files. */
  whiteouts?: 'overlay' | 'plain';
  /** Where under the root the archive's names start (`docker cp`'s destination directory). */
  prefix?: string;
  /** Apply the entries' owners (default); without it, what is created belongs to root. */
  chown?: boolean;
  noOverwriteDirNonDir?: boolean;
  /** Filled with each regular file's path and sha256 of its content (build contexts, for the cache). */
  digests?: Map<string, string>;
  /** What the archive is, for error messages ("layer sha256:...", "build context"). */
  what?: string;
}

/** Normalise a tar entry name to a relative path inside the root, refusing escapes. */
export function cleanEntryName(name: string): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw invalid(`archive entry ${JSON.stringify(name)} escapes the extraction root`);
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return parts.join('/');
}

const KINDS: Partial<Record<Header['type'] & string, EntryKindName>> = {
  directory: 'dir',
  file: 'file',
  'contiguous-file': 'file',
  symlink: 'symlink',
  link: 'hardlink',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
};

/** The error of an entry the confined primitives refused, worded for the archive it came from. */
export function entryError(
  what: string,
  root: ConfinedDir,
  rel: string,
  err: unknown,
  noOverwriteDirNonDir = false,
): GantryError {
  if (err instanceof GantryError) return err;
  const e = err as { code?: string; message: string };
  if (e.code === 'ELOOP' && root.resolution === 'beneath')
    return invalid(`${what}: entry ${JSON.stringify(rel)} is written through a symlink`);
  if (e.code === 'EXDEV') return invalid(`${what}: entry ${JSON.stringify(rel)} leads out of the extraction root`);
  if (e.code === 'EEXIST' && noOverwriteDirNonDir)
    return invalid(`${what}: cannot overwrite ${JSON.stringify(rel)}: a directory and a non-directory`);
  return invalid(`${what}: ${e.message}`);
}

/** Unpack a tar stream beneath `root`; see the file comment. */
export async function extractTar(
  tarStream: Readable,
  root: ConfinedDir,
  opts: ExtractOptions = {},
): Promise<ApplyResult> {
  const what = opts.what ?? 'archive';
  const prefix = opts.prefix ? cleanEntryName(opts.prefix) : '';
  const chown = opts.chown ?? true;
  const dirTimes: Array<{ rel: string; mtimeMs: number }> = [];
  let size = 0;
  let entries = 0;

  const fail = (rel: string, err: unknown): GantryError => entryError(what, root, rel, err, opts.noOverwriteDirNonDir);

  const handle = async (header: Header, stream: EntryStream): Promise<void> => {
    if (++entries > (opts.maxEntries ?? Infinity)) throw invalid(`${what} has more than ${opts.maxEntries} entries`);
    const name = cleanEntryName(header.name);
    const rel = prefix && name ? `${prefix}/${name}` : prefix || name;
    const slash = rel.lastIndexOf('/');
    const base = rel.slice(slash + 1);
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    const spec: EntrySpec = {
      kind: 'file',
      mode: (header.mode ?? 0o644) & 0o7777,
      uid: chown ? (header.uid ?? 0) : 0,
      gid: chown ? (header.gid ?? 0) : 0,
      mtimeMs: (header.mtime ?? new Date(0)).getTime(),
      chown,
      noOverwriteDirNonDir: opts.noOverwriteDirNonDir,
    };

    if (opts.whiteouts === 'overlay' && base.startsWith(WHITEOUT_PREFIX)) {
      stream.resume();
      try {
        if (base === OPAQUE_WHITEOUT) {
          root.mkdirAll(parent);
          root.applyEntry(parent, { ...spec, kind: 'opaque' });
        } else {
          const target = base.slice(WHITEOUT_PREFIX.length);
          if (target === '' || target === '.' || target === '..')
            throw invalid(`${what}: invalid whiteout ${JSON.stringify(rel)}`);
          root.applyEntry(parent ? `${parent}/${target}` : target, { ...spec, kind: 'whiteout' });
        }
      } catch (err) {
        throw fail(rel, err);
      }
      return;
    }

    const kind = header.type ? KINDS[header.type] : undefined;
    if (!kind) {
      // pax global headers and other metadata-only entries carry nothing to unpack.
      stream.resume();
      return;
    }
    const xattrs: Array<string | Buffer> = [];
    for (const [k, v] of Object.entries((header.pax ?? {}) as Record<string, unknown>)) {
      if (k.startsWith('SCHILY.xattr.')) xattrs.push(k.slice('SCHILY.xattr.'.length), Buffer.from(String(v), 'latin1'));
    }
    spec.kind = kind;
    if (xattrs.length) spec.xattrs = xattrs;

    if (kind === 'file') {
      if (size + header.size > (opts.maxBytes ?? Infinity))
        throw invalid(`${what} is larger than the limit of ${opts.maxBytes} bytes`);
      if (header.size <= SMALL_FILE) {
        // Small files: gather the body, then one native call (create, write, owner, mode, times).
        const parts: Buffer[] = [];
        for await (const chunk of stream) parts.push(chunk as Buffer);
        const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
        try {
          root.applyEntry(rel, { ...spec, payload: body });
        } catch (err) {
          throw fail(rel, err);
        }
        opts.digests?.set(rel, createHash('sha256').update(body).digest('hex'));
        size += body.length;
        return;
      }
      let fd: number;
      try {
        fd = root.applyEntry(rel, spec);
      } catch (err) {
        throw fail(rel, err);
      }
      const hash = opts.digests ? createHash('sha256') : undefined;
      try {
        await writeBody(fd, stream, (buf) => {
          hash?.update(buf);
          size += buf.length;
        });
        // Owner, mode and xattrs after the content: a write drops file capabilities.
        ConfinedDir.finishFile(fd, spec);
      } finally {
        ConfinedDir.closeFd(fd);
      }
      if (hash) opts.digests!.set(rel, hash.digest('hex'));
      return;
    }

    stream.resume();
    if (kind === 'symlink') spec.payload = header.linkname ?? '';
    if (kind === 'hardlink') {
      const target = cleanEntryName(header.linkname ?? '');
      spec.payload = prefix && target ? `${prefix}/${target}` : prefix || target;
    }
    if (kind === 'char' || kind === 'block') {
      spec.devMajor = header.devmajor ?? 0;
      spec.devMinor = header.devminor ?? 0;
    }
    try {
      root.applyEntry(rel, spec);
    } catch (err) {
      throw fail(rel, err);
    }
    if (kind === 'dir') dirTimes.push({ rel, mtimeMs: spec.mtimeMs });
  };

  await new Promise<void>((resolve, reject) => {
    const ex = tarExtract();
    ex.on('entry', (header, stream, next) => {
      handle(header, stream).then(
        () => next(),
        (err: unknown) => {
          // Stop here: reject, then tear the extractor down quietly and drain the input, rather than
          // handing the error to tar-stream (which would re-raise it where nobody listens).
          reject(err as Error);
          stream.resume();
          if (typeof tarStream.unpipe === 'function') tarStream.unpipe(ex as unknown as NodeJS.WritableStream);
          ex.destroy();
          tarStream.resume();
        },
      );
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
    if (tarStream.errored) reject(tarStream.errored);
    tarStream.on('error', reject);
    tarStream.pipe(ex as unknown as NodeJS.WritableStream);
  });

  // Directory times last, deepest first, since creating children changes them. A directory a later
  // entry replaced is skipped; resolution beneath the root keeps even a replaced path inside it.
  dirTimes.sort((a, b) => b.rel.length - a.rel.length);
  for (const { rel, mtimeMs } of dirTimes) {
    try {
      root.utimes(rel, mtimeMs);
    } catch {
      // Replaced by a later entry.
    }
  }
  return { size, entries };
}
