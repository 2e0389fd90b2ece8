/**
 * Reading a directory tree through file descriptors, for every tree Gantry packs (a container's
 * writable layer, its root for `docker cp` and `export`, an image being built). Each child is reached
 * as /proc/self/fd/<parent>/<name> and opened without following it, so a component that a running
 * container swaps for a symlink during the walk is never followed out of the tree; a file is opened
 * O_PATH and checked to be regular before it is read, so a FIFO or a device is never opened.
 */
import fs, { promises as fsp, type Stats } from 'node:fs';
import type { Readable } from 'node:stream';
import { fdPath, O_PATH } from '../common/confined.js';
import { invalid } from '../common/errors.js';

const MAX_DEPTH = 4096;
/** Files up to this size are read whole; larger ones are streamed. */
const SMALL_FILE = 1 << 20;

export interface TreeEntry {
  /** The path relative to where the walk started. */
  rel: string;
  name: string;
  st: Stats;
  /** The open directory holding the entry; valid while the entry is visited. */
  dirFd: number;
}

/** Visit every entry beneath the directory open as `dirFd`, sorted by name; `visit` answers false to skip a directory's contents. */
export async function walkTree(
  dirFd: number,
  visit: (e: TreeEntry) => Promise<boolean | void>,
  rel = '',
  depth = 0,
): Promise<void> {
  if (depth > MAX_DEPTH) throw invalid(`directory tree deeper than ${MAX_DEPTH} levels at ${rel}`);
  const names = (await fsp.readdir(fdPath(dirFd))).sort();
  for (const name of names) {
    const st = await fsp.lstat(fdPath(dirFd, name)).catch(() => undefined);
    if (!st) continue; // Removed while walking.
    const childRel = rel ? `${rel}/${name}` : name;
    const descend = await visit({ rel: childRel, name, st, dirFd });
    if (!st.isDirectory() || descend === false) continue;
    const fd = openDirAt(dirFd, name);
    if (fd === undefined) continue; // Replaced by a non-directory while walking.
    try {
      await walkTree(fd, visit, childRel, depth + 1);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** A directory opened for reading without following a symlink, or undefined when it is not one any more. */
export function openDirAt(dirFd: number, name: string): number | undefined {
  try {
    return fs.openSync(fdPath(dirFd, name), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
}

/** A regular file opened for reading, with its stat, or undefined when `name` is not a regular file (never opened then). */
export function openFileAt(dirFd: number, name: string): { fd: number; st: Stats } | undefined {
  let pathFd: number;
  try {
    pathFd = fs.openSync(fdPath(dirFd, name), O_PATH | fs.constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(pathFd);
    if (!st.isFile()) return undefined;
    return {
      fd: fs.openSync(fdPath(pathFd), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY),
      st,
    };
  } finally {
    fs.closeSync(pathFd);
  }
}

/** The first `size` bytes of an open file (it closes with the read): a buffer when small, else a stream. */
export async function fileBody(fd: number, size: number): Promise<Buffer | Readable> {
  if (size === 0) {
    fs.closeSync(fd);
    return Buffer.alloc(0);
  }
  if (size > SMALL_FILE) return fs.createReadStream('', { fd, start: 0, end: size - 1 });
  try {
    const buf = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      const { bytesRead } = await new Promise<{ bytesRead: number }>((resolve, reject) =>
        fs.read(fd, buf, off, size - off, off, (err, n) => (err ? reject(err) : resolve({ bytesRead: n }))),
      );
      if (bytesRead === 0) throw new Error(`file shrank while being read`);
      off += bytesRead;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

export function readlinkAt(dirFd: number, name: string): Promise<string> {
  return fsp.readlink(fdPath(dirFd, name));
}
