/**
 * Resolve a path inside a container's root filesystem the way the container sees it: symlinks are
 * followed relative to the container's root (an absolute link target starts again at that root), and
 * `..` never climbs above it. So `docker cp` can never reach the host through a link in the image.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { invalid, notFound } from '../common/errors.js';

const MAX_LINKS = 40;

/** Host path of `p` inside `root`; the last component is not followed when `followLast` is false. */
export async function resolveInRoot(root: string, p: string, followLast = false): Promise<string> {
  let pending = p.split('/').filter((c) => c && c !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(root, ...resolved, part);
    let st;
    try {
      st = await fs.lstat(candidate);
    } catch {
      resolved.push(part);
      continue;
    }
    if (st.isSymbolicLink() && (pending.length > 0 || followLast)) {
      if (++links > MAX_LINKS) throw invalid(`too many levels of symbolic links: ${p}`);
      const target = await fs.readlink(candidate);
      const parts = target.split('/').filter((c) => c && c !== '.');
      if (target.startsWith('/')) resolved.length = 0;
      pending = [...parts, ...pending];
      continue;
    }
    resolved.push(part);
  }
  return path.join(root, ...resolved);
}

export async function statInRoot(root: string, p: string): Promise<{ host: string; stat: import('node:fs').Stats }> {
  const host = await resolveInRoot(root, p);
  try {
    return { host, stat: await fs.lstat(host) };
  } catch {
    throw notFound(`Could not find the file ${p} in container`);
  }
}
