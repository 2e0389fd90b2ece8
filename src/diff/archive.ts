/**
 * Pack a directory tree into a tar stream (the layer format): regular files, directories, symlinks,
 * hardlinks (each inode once), device nodes and fifos, with ownership, modes and mtimes. Entries are
 * sorted so the same tree always gives the same bytes, and so the same digest. Trees are read through
 * file descriptors (diff/walk), so a tree that changes while it is packed never leads out of itself.
 */
import fs, { promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pack as tarPack, type Header, type Pack } from 'tar-stream';
import { fdPath, type ConfinedDir } from '../common/confined.js';
import { fileBody, openDirAt, openFileAt, readlinkAt, walkTree, type TreeEntry } from './walk.js';

export type TarHeader = Partial<Header> & Pick<Header, 'name'>;

export interface PackOptions {
  /** Fixed mtime for every entry (reproducible base images); default: the files' own. */
  mtime?: Date;
  /** Prefix for entry names inside the archive; default none. */
  prefix?: string;
}

function major(dev: number): number {
  return ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff);
}
function minor(dev: number): number {
  return (dev & 0xff) | ((dev >> 12) & ~0xff);
}

/** Add one entry to a tar stream, its body a buffer or a stream; resolves once the entry is written. */
export function addEntry(pack: Pack, header: TarHeader, body?: Readable | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (body === undefined || Buffer.isBuffer(body)) {
      pack.entry(header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
      return;
    }
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    body.on('error', reject);
    body.pipe(sink as unknown as NodeJS.WritableStream);
  });
}

/**
 * One entry of a tree walk as a tar entry named `name`; an inode already packed under another name
 * becomes a hardlink to it. A file is read through the walk's directory fd (never followed, never
 * opened unless regular); one replaced while the walk ran is skipped.
 */
export async function packTreeEntry(
  pack: Pack,
  e: TreeEntry,
  name: string,
  inodes: Map<string, string>,
  mtime?: Date,
): Promise<void> {
  const { st } = e;
  const base: TarHeader = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: mtime ?? st.mtime };
  if (st.isDirectory()) return addEntry(pack, { ...base, name: `${name}/`, type: 'directory' });
  if (st.nlink > 1) {
    const key = `${st.dev}:${st.ino}`;
    const first = inodes.get(key);
    if (first !== undefined) return addEntry(pack, { ...base, type: 'link', linkname: first, size: 0 });
    inodes.set(key, name);
  }
  if (st.isFile()) {
    const opened = openFileAt(e.dirFd, e.name);
    if (!opened) return;
    return addEntry(pack, { ...base, type: 'file', size: opened.st.size }, await fileBody(opened.fd, opened.st.size));
  }
  if (st.isSymbolicLink())
    return addEntry(pack, { ...base, type: 'symlink', linkname: await readlinkAt(e.dirFd, e.name) });
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    return addEntry(pack, {
      ...base,
      type: st.isCharacterDevice() ? 'character-device' : 'block-device',
      devmajor: major(st.rdev),
      devminor: minor(st.rdev),
    });
  }
  if (st.isFIFO()) return addEntry(pack, { ...base, type: 'fifo' });
}

/** A tar stream filled by `fill`; an error destroys the stream with it. */
function packing(fill: (pack: Pack) => Promise<void>): Readable {
  const pack = tarPack();
  fill(pack).then(
    () => pack.finalize(),
    (err: Error) => pack.destroy(err),
  );
  return pack as unknown as Readable;
}

/**
 * Pack one path of a root under a given name: a file as one entry, a directory as `name/` and its
 * contents (what `docker cp` sends). The path's parents resolve inside the root as its processes see
 * them; the path itself is not followed when it is a symlink.
 */
export function packPath(root: ConfinedDir, rel: string, name: string): Readable {
  return packing(async (pack) => {
    const inodes = new Map<string, string>();
    const clean = path.posix.normalize(`/${rel}`).slice(1).replace(/\/+$/, '');
    const slash = clean.lastIndexOf('/');
    const dirFd = root.open(slash < 0 ? '' : clean.slice(0, slash), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const base = clean.slice(slash + 1);
      if (base === '') {
        await addEntry(pack, { name: `${name}/`, type: 'directory', ...headerStat(fs.fstatSync(dirFd)) });
        await walkTree(dirFd, (e) => packTreeEntry(pack, e, `${name}/${e.rel}`, inodes));
        return;
      }
      const st = await fsp.lstat(fdPath(dirFd, base));
      await packTreeEntry(pack, { rel: '', name: base, st, dirFd }, name, inodes);
      if (!st.isDirectory()) return;
      const fd = openDirAt(dirFd, base);
      if (fd === undefined) return;
      try {
        await walkTree(fd, (e) => packTreeEntry(pack, e, `${name}/${e.rel}`, inodes));
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      fs.closeSync(dirFd);
    }
  });
}

/** Pack the contents of a directory (not the directory itself), sorted, through fds (see diff/walk). */
export function packDirectory(root: string, opts: PackOptions = {}): Readable {
  return packing(async (pack) => {
    const inodes = new Map<string, string>();
    const fd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    try {
      await walkTree(fd, (e) => packTreeEntry(pack, e, (opts.prefix ?? '') + e.rel, inodes, opts.mtime));
    } finally {
      fs.closeSync(fd);
    }
  });
}

function headerStat(st: Stats): Pick<TarHeader, 'mode' | 'uid' | 'gid' | 'mtime'> {
  return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
}
