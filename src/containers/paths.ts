/**
 * Resolve a path inside a container's root filesystem the way the container sees it: symlinks are
 * followed relative to the container's root (an absolute link target starts again at that root), `..`
 * never climbs above it, and a path beneath a volume or bind mount's destination lies in that mount's
 * source. So `docker cp` reaches volumes, running or stopped, and can never reach the host through a
 * link in the image.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { invalid, notFound } from '../common/errors.js';

const MAX_LINKS = 40;

/** A directory or file mounted into the container (volume or bind): where it is seen and what it is. */
export interface ViewMount {
  destination: string;
  source: string;
  rw: boolean;
  /** Only this part of the source is mounted (a volume's subpath), relative to it. */
  subpath?: string;
}

/** A container's files as its processes see them: the root filesystem and the mounts over it. */
export interface ContainerView {
  rootfs: string;
  mounts: ViewMount[];
}

/** Where a container path lies on the host: `rel` beneath `root`, which is the rootfs or a mount's source. */
export interface Located {
  /** The container path, symlinks resolved. */
  path: string;
  root: string;
  rel: string;
  /** The mount the path lies in, if any. */
  mount?: ViewMount;
  /** The host path (for stat and readlink; operations that write go through a ConfinedDir of `root`). */
  host: string;
}

/** The deepest mount holding container path `p` (absolute, clean), and `p` relative to its destination. */
function mountOf(view: ContainerView, p: string): { mount?: ViewMount; rel: string } {
  let best: ViewMount | undefined;
  for (const m of view.mounts) {
    const d = m.destination;
    if ((p === d || p.startsWith(`${d}/`)) && (!best || d.length > best.destination.length)) best = m;
  }
  return { mount: best, rel: best ? p.slice(best.destination.length + 1) : p.slice(1) };
}

function locate(view: ContainerView, containerPath: string): Located {
  const { mount, rel: beneath } = mountOf(view, containerPath);
  const root = mount ? mount.source : view.rootfs;
  const rel = [mount?.subpath, beneath].filter(Boolean).join('/');
  return { path: containerPath, root, rel, mount, host: rel ? path.join(root, rel) : root };
}

/** Where `p` lies in the container's view; its last component is not followed when `followLast` is false. */
export async function resolveInView(view: ContainerView, p: string, followLast = false): Promise<Located> {
  let pending = p.split('/').filter((c) => c && c !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = locate(view, `/${[...resolved, part].join('/')}`).host;
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
  return locate(view, `/${resolved.join('/')}`);
}

/** Host path of `p` inside `root`; the last component is not followed when `followLast` is false. */
export async function resolveInRoot(root: string, p: string, followLast = false): Promise<string> {
  return (await resolveInView({ rootfs: root, mounts: [] }, p, followLast)).host;
}

/** Where `p` lies in the container's view (its last component not followed) and its lstat. */
export async function statInView(view: ContainerView, p: string): Promise<Located & { stat: import('node:fs').Stats }> {
  const found = await resolveInView(view, p);
  try {
    return { ...found, stat: await fs.lstat(found.host) };
  } catch {
    throw notFound(`Could not find the file ${p} in container`);
  }
}
