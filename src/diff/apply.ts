/**
 * Apply a layer (an uncompressed tar stream) into an empty directory, laid out for overlayfs:
 * OCI whiteouts (`.wh.name`) become 0/0 character devices, opaque markers (`.wh..wh..opq`) become the
 * `trusted.overlay.opaque` xattr. Hardlinks, symlinks, device nodes, fifos, setuid/sticky modes,
 * ownership, xattrs and mtimes are kept.
 *
 * Each layer is unpacked into its own fresh directory, so the only symlinks an entry could be written
 * through are ones created earlier in this same tar; such entries are refused, which keeps every write
 * inside the target directory.
 */
import fsSync, { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { extract as tarExtract, type Header } from 'tar-stream';
import { invalid } from '../common/errors.js';
import { runSpecialOps, type SpecialOp } from './special.js';

export const WHITEOUT_PREFIX = '.wh.';
const SMALL_FILE = 256 << 10;
const UMASK = process.umask();
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

/** The body of one tar entry (a streamx stream). */
type EntryStream = AsyncIterable<unknown> & { resume(): unknown };

export interface ApplyResult {
  /** Bytes of regular file content written. */
  size: number;
  entries: number;
}

/** Normalise a tar entry name to a relative path inside the layer, refusing escapes. */
export function cleanEntryName(name: string): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw invalid(`layer entry ${JSON.stringify(name)} escapes the layer root`);
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return parts.join('/');
}

export async function applyLayer(tarStream: Readable, root: string): Promise<ApplyResult> {
  // Listen for stream errors before the first await, so none can go unhandled.
  let streamError: Error | undefined;
  const onEarlyError = (err: Error): void => {
    streamError = err;
  };
  tarStream.once('error', onEarlyError);
  await fs.mkdir(root, { recursive: true });
  const special: SpecialOp[] = [];
  const dirTimes: Array<{ p: string; mtime: Date }> = [];
  const symlinks = new Set<string>();
  /** Directories known to exist, so each is created once. */
  const dirs = new Set<string>(['.']);
  /** Paths this layer has created: only these can need replacing (the directory started empty). */
  const created = new Set<string>();
  let size = 0;
  let entries = 0;

  const ensureParent = (rel: string): void => {
    const parent = path.posix.dirname(rel);
    if (dirs.has(parent)) return;
    for (let p = parent; p !== '.'; p = path.posix.dirname(p)) {
      if (symlinks.has(p)) throw invalid(`layer entry ${JSON.stringify(rel)} is written through symlink ${JSON.stringify(p)}`);
    }
    fsSync.mkdirSync(path.join(root, parent), { recursive: true, mode: 0o755 });
    for (let p = parent; p !== '.' && !dirs.has(p); p = path.posix.dirname(p)) {
      dirs.add(p);
      created.add(p);
    }
  };

  const removeExisting = async (abs: string, keepDir: boolean): Promise<void> => {
    const rel = path.relative(root, abs);
    if (!created.has(rel)) return;
    let st;
    try {
      st = await fs.lstat(abs);
    } catch {
      return;
    }
    if (keepDir && st.isDirectory()) return;
    await fs.rm(abs, { recursive: true, force: true });
    for (const p of [...dirs]) if (p === rel || p.startsWith(rel + '/')) dirs.delete(p);
  };

  const handle = async (header: Header, stream: EntryStream): Promise<void> => {
    entries++;
    const rel = cleanEntryName(header.name);
    const base = path.posix.basename(rel);
    const abs = rel === '' ? root : path.join(root, rel);
    const mode = (header.mode ?? 0o644) & 0o7777;
    const uid = header.uid ?? 0;
    const gid = header.gid ?? 0;
    const mtime = header.mtime ?? new Date(0);

    if (base.startsWith(WHITEOUT_PREFIX)) {
      stream.resume();
      ensureParent(rel);
      const dir = path.join(root, path.posix.dirname(rel));
      if (base === OPAQUE_WHITEOUT) {
        special.push({ op: 'xattr', path: dir, name: 'trusted.overlay.opaque', value: Buffer.from('y') });
      } else {
        const target = path.join(dir, base.slice(WHITEOUT_PREFIX.length));
        await removeExisting(target, false);
        special.push({ op: 'mknod', path: target, type: 'c', major: 0, minor: 0, mode: 0, uid: 0, gid: 0 });
      }
      return;
    }

    if (rel !== '') {
      ensureParent(rel);
      created.add(rel);
    }
    const xattrs: Array<[string, Buffer]> = [];
    for (const [k, v] of Object.entries((header.pax ?? {}) as Record<string, unknown>)) {
      if (k.startsWith('SCHILY.xattr.')) xattrs.push([k.slice('SCHILY.xattr.'.length), Buffer.from(String(v), 'latin1')]);
    }

    switch (header.type) {
      case 'directory': {
        stream.resume();
        await removeExisting(abs, true);
        fsSync.mkdirSync(abs, { recursive: true });
        dirs.add(rel === '' ? '.' : rel);
        if (uid !== 0 || gid !== 0) fsSync.lchownSync(abs, uid, gid);
        fsSync.chmodSync(abs, mode);
        dirTimes.push({ p: abs, mtime });
        break;
      }
      case 'file':
      case 'contiguous-file': {
        await removeExisting(abs, false);
        if (header.size <= SMALL_FILE) {
          // Small files: gather the body, then a handful of synchronous syscalls. Far faster than a
          // promise per syscall, and each blocks the event loop only for microseconds.
          const parts: Buffer[] = [];
          for await (const chunk of stream) parts.push(chunk as Buffer);
          const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
          const fd = fsSync.openSync(abs, 'w', mode & 0o777);
          try {
            let off = 0;
            while (off < body.length) off += fsSync.writeSync(fd, body, off);
            if (uid !== 0 || gid !== 0) fsSync.fchownSync(fd, uid, gid);
            if (mode & ~0o755 || (mode & 0o777) !== (mode & ~UMASK & 0o777)) fsSync.fchmodSync(fd, mode);
            fsSync.futimesSync(fd, mtime, mtime);
          } finally {
            fsSync.closeSync(fd);
          }
          size += body.length;
          break;
        }
        const fh = await fs.open(abs, 'w', 0o600);
        try {
          for await (const chunk of stream) {
            await fh.write(chunk as Buffer);
            size += (chunk as Buffer).length;
          }
          await fh.chown(uid, gid);
          await fh.chmod(mode);
          await fh.utimes(mtime, mtime);
        } finally {
          await fh.close();
        }
        break;
      }
      case 'symlink': {
        stream.resume();
        await removeExisting(abs, false);
        await fs.symlink(header.linkname ?? '', abs);
        await fs.lchown(abs, uid, gid);
        await fs.lutimes(abs, mtime, mtime);
        symlinks.add(rel);
        break;
      }
      case 'link': {
        stream.resume();
        const target = cleanEntryName(header.linkname ?? '');
        await removeExisting(abs, false);
        try {
          await fs.link(path.join(root, target), abs);
        } catch (err) {
          throw invalid(`layer hardlink ${JSON.stringify(rel)} -> ${JSON.stringify(target)}: ${(err as Error).message}`);
        }
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        stream.resume();
        await removeExisting(abs, false);
        special.push({
          op: 'mknod',
          path: abs,
          type: header.type === 'fifo' ? 'p' : header.type === 'block-device' ? 'b' : 'c',
          major: header.devmajor ?? 0,
          minor: header.devminor ?? 0,
          mode,
          uid,
          gid,
          mtime,
        });
        break;
      }
      default:
        // pax global headers and other metadata-only entries carry nothing to unpack.
        stream.resume();
        return;
    }
    for (const [name, value] of xattrs) special.push({ op: 'xattr', path: abs, name, value });
  };

  await new Promise<void>((resolve, reject) => {
    tarStream.off('error', onEarlyError);
    if (streamError) {
      reject(streamError);
      return;
    }
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
    tarStream.on('error', reject);
    tarStream.pipe(ex as unknown as NodeJS.WritableStream);
  });

  await runSpecialOps(special);
  // Directory mtimes last, deepest first, since creating children changes them.
  dirTimes.sort((a, b) => b.p.length - a.p.length);
  for (const { p, mtime } of dirTimes) await fs.utimes(p, mtime, mtime);
  return { size, entries };
}
