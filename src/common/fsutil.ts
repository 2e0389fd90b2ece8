import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { isNodeError } from './errors.js';

/** Write data to a new file and fsync it, so a later rename publishes complete, durable content. */
export async function writeSynced(file: string, data: string | Uint8Array): Promise<void> {
  const fh = await fs.open(file, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Write a file so that readers see either the old or the new content, never a part, even after a crash. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = path.join(path.dirname(file), `.tmp-${path.basename(file)}-${randomBytes(6).toString('hex')}`);
  await writeSynced(tmp, data);
  await fs.rename(tmp, file);
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 1));
}

export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (err) {
    if (isNodeError(err, 'ENOENT')) return undefined;
    throw err;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Size on disk of a tree, counting each inode once (so hardlinks and shared files count once). */
export async function diskUsage(root: string, seen = new Set<string>()): Promise<number> {
  let total = 0;
  let st;
  try {
    st = await fs.lstat(root);
  } catch {
    return 0;
  }
  const key = `${st.dev}:${st.ino}`;
  if (seen.has(key)) return 0;
  seen.add(key);
  total += st.blocks * 512;
  if (st.isDirectory()) {
    for (const name of await fs.readdir(root)) total += await diskUsage(path.join(root, name), seen);
  }
  return total;
}
