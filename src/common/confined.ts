/**
 * A directory whose paths are always resolved beneath it (native/confined.c, openat2): the one way
 * Gantry writes what images, build contexts and `docker cp` bring, and reads files out of images and
 * containers. Nothing — a `..`, an absolute symlink, a symlink swapped in by a later archive entry or by
 * a running container — can lead an operation out of the directory.
 *
 * - `beneath`: no symlink may be crossed at all (fresh directories an archive is unpacked into, where a
 *   symlink on the way is always the archive's own trick);
 * - `in-root`: symlinks are followed as a process chrooted at the directory sees them (a container's
 *   root filesystem).
 */
import fs from 'node:fs';
import { native } from '../native/index.js';

const RESOLVE_NO_SYMLINKS = 0x04;
const RESOLVE_BENEATH = 0x08;
const RESOLVE_IN_ROOT = 0x10;

export type Resolution = 'beneath' | 'in-root';

/** Kinds of archive entries, as native/confined.c numbers them. */
export const EntryKind = {
  dir: 1,
  file: 2,
  symlink: 3,
  hardlink: 4,
  char: 5,
  block: 6,
  fifo: 7,
  whiteout: 8,
  opaque: 9,
} as const;
export type EntryKindName = keyof typeof EntryKind;

export interface EntrySpec {
  kind: EntryKindName;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  /** A file's content (absent: `applyEntry` answers an fd to write it through), a link's target. */
  payload?: Buffer | string;
  devMajor?: number;
  devMinor?: number;
  /** Alternating names and values. */
  xattrs?: Array<string | Buffer>;
  /** Apply uid/gid (else the entry belongs to whoever created it: root). */
  chown: boolean;
  /** Refuse to replace a directory with a non-directory or the reverse. */
  noOverwriteDirNonDir?: boolean;
}

const F_CHOWN = 1;
const F_NO_OVERWRITE_DIR_NON_DIR = 2;
const F_MKDIR_PARENTS = 4;

export class ConfinedDir {
  /** The openat2 RESOLVE_* bits of this root's resolution. */
  readonly resolve: number;
  private constructor(
    readonly path: string,
    readonly fd: number,
    readonly resolution: Resolution,
  ) {
    this.resolve = resolution === 'in-root' ? RESOLVE_IN_ROOT : RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  }

  /** Open `dir` (which must be a real directory, not a symlink) as a root. */
  static open(dir: string, resolution: Resolution): ConfinedDir {
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    return new ConfinedDir(dir, fd, resolution);
  }

  /** Run `fn` with `dir` opened as a root, closing it after. */
  static async with<T>(dir: string, resolution: Resolution, fn: (root: ConfinedDir) => Promise<T> | T): Promise<T> {
    const root = ConfinedDir.open(dir, resolution);
    try {
      return await fn(root);
    } finally {
      root.close();
    }
  }

  close(): void {
    // Opened with fs.openSync, so closed the same way (fs tracks the fds it opens on worker threads).
    fs.closeSync(this.fd);
  }

  /** Close an fd `applyEntry` or `open` answered. */
  static closeFd(fd: number): void {
    native.closeFd(fd);
  }

  /** Apply one archive entry at `rel`, creating missing parents; answers an fd when a file's content is for the caller to write. */
  applyEntry(rel: string, e: EntrySpec): number {
    const flags = (e.chown ? F_CHOWN : 0) | (e.noOverwriteDirNonDir ? F_NO_OVERWRITE_DIR_NON_DIR : 0) | F_MKDIR_PARENTS;
    return native.applyEntry(
      this.fd,
      rel,
      this.resolve,
      EntryKind[e.kind],
      e.mode,
      e.uid,
      e.gid,
      e.mtimeMs,
      e.payload,
      e.devMajor ?? 0,
      e.devMinor ?? 0,
      e.xattrs,
      flags,
    );
  }

  /** After writing the content of a file `applyEntry` answered with `fd`: owner, mode, xattrs and times. */
  static finishFile(fd: number, e: EntrySpec): void {
    native.finishFile(fd, e.mode, e.uid, e.gid, e.chown, e.mtimeMs, e.xattrs);
  }

  /** An fd for `rel` (open(2) flags; O_PATH is 0o10000000). */
  open(rel: string, flags: number, mode = 0): number {
    return native.openBeneath(this.fd, rel, this.resolve, flags, mode);
  }

  /** `rel` without following it when it is a symlink itself, or undefined when missing. */
  lstat(rel: string): fs.Stats | undefined {
    return this.statWith(rel, O_PATH | fs.constants.O_NOFOLLOW);
  }

  /** What `rel` leads to (a last symlink followed as the resolution allows), or undefined when missing. */
  stat(rel: string): fs.Stats | undefined {
    return this.statWith(rel, O_PATH);
  }

  private statWith(rel: string, flags: number): fs.Stats | undefined {
    let fd: number;
    try {
      fd = this.open(rel, flags);
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT' || (err as { code?: string }).code === 'ENOTDIR')
        return undefined;
      throw err;
    }
    try {
      return fs.fstatSync(fd);
    } finally {
      native.closeFd(fd);
    }
  }

  mkdirAll(rel: string, mode = 0o755): void {
    native.mkdirAll(this.fd, rel, this.resolve, mode);
  }

  /** Remove `rel` and everything beneath it; missing is fine. */
  remove(rel: string): void {
    native.removeBeneath(this.fd, rel, this.resolve);
  }

  utimes(rel: string, mtimeMs: number): void {
    native.utimesBeneath(this.fd, rel, this.resolve, mtimeMs);
  }

  /**
   * A regular file's content, or undefined when `rel` is missing or not a regular file (a FIFO or a
   * device is never opened); a file larger than `maxBytes` is an error.
   */
  readFile(rel: string, maxBytes: number): Buffer | undefined {
    return native.readFileBeneath(this.fd, rel, this.resolve, maxBytes) ?? undefined;
  }
}

/** open(2)'s O_PATH, which Node does not export. */
export const O_PATH = 0o10000000;

/** The path of `rel` inside a directory held open as `fd`, for calls that take paths (never following `rel` if the call does not). */
export function fdPath(fd: number, rel = ''): string {
  return rel ? `/proc/self/fd/${fd}/${rel}` : `/proc/self/fd/${fd}`;
}
