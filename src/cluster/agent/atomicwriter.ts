/**
 * The kubelet's AtomicWriter: a volume's files live in a timestamped folder `..<time>.<random>`, the
 * symlink `..data` points at the current one, and each top-level name is a symlink through `..data`.
 * An update writes a new folder and renames a new `..data` over the old (one atomic step), so a
 * container reading the volume sees either all the old files or all the new ones; relative links
 * resolve the same inside the container's bind mount.
 */
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';

export interface VolumeFile {
  data: Buffer;
  mode: number;
}

const DATA = '..data';

/** `2026_12_02_16_58_01` */
const stamp = (): string => new Date().toISOString().slice(0, 19).replace(/[-T:]/g, '_');

/** The folder `..data` points at, when the volume was written before. */
export function currentDataDir(dir: string): string | undefined {
  try {
    return path.join(dir, readlinkSync(path.join(dir, DATA)));
  } catch {
    return undefined;
  }
}

function unchanged(current: string | undefined, files: Map<string, VolumeFile>): boolean {
  if (!current) return false;
  const listed = (root: string, rel = ''): string[] =>
    readdirSync(path.join(root, rel), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? listed(root, path.join(rel, e.name)) : [path.join(rel, e.name)],
    );
  try {
    const have = listed(current);
    if (have.length !== files.size) return false;
    for (const [rel, f] of files) {
      const p = path.join(current, rel);
      if (!readFileSync(p).equals(f.data) || (lstatSync(p).mode & 0o777) !== f.mode) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * Make the volume at `dir` hold exactly `files` (relative paths, already checked not to climb);
 * answers whether anything changed.
 */
export function writeAtomic(dir: string, files: Map<string, VolumeFile>): boolean {
  mkdirSync(dir, { recursive: true });
  const previous = currentDataDir(dir);
  if (unchanged(previous, files)) return false;
  const next = mkdtempSync(path.join(dir, `..${stamp()}.`));
  chmodSync(next, 0o755);
  for (const [rel, f] of files) {
    const target = path.join(next, rel);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, f.data, { mode: f.mode });
    chmodSync(target, f.mode);
  }
  const tmp = path.join(dir, `${DATA}_tmp`);
  rmSync(tmp, { force: true });
  symlinkSync(path.basename(next), tmp);
  renameSync(tmp, path.join(dir, DATA));
  const names = new Set([...files.keys()].map((rel) => rel.split('/')[0]!));
  for (const name of names) {
    const link = path.join(dir, name);
    let isLink = false;
    try {
      isLink = lstatSync(link).isSymbolicLink();
    } catch {
      // Not there yet.
    }
    if (!isLink) {
      rmSync(link, { recursive: true, force: true });
      symlinkSync(path.join(DATA, name), link);
    }
  }
  for (const entry of readdirSync(dir))
    if (!entry.startsWith('..') && !names.has(entry)) rmSync(path.join(dir, entry), { recursive: true, force: true });
  if (previous && previous !== next) rmSync(previous, { recursive: true, force: true });
  return true;
}
