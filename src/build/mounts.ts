/** An image's filesystem mounted read-only for a build step to read (COPY --from, user lookups, COPY's destination). */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { chainIds } from '../common/digest.js';
import { MNT_DETACH, native } from '../native/index.js';
import type { OverlaySnapshotter } from '../snapshots/store.js';

const MS_RDONLY = 1;
const MS_BIND = 4096;

export interface ImageMount {
  dir: string;
  /** Unmounts and removes the directory. */
  release(): Promise<void>;
}

/** The layers of `diffIds` mounted under `<dataRoot>/build/mnt` (an empty directory for no layers). */
export async function mountLayers(
  dataRoot: string,
  snapshots: OverlaySnapshotter,
  diffIds: string[],
): Promise<ImageMount> {
  const dir = path.join(dataRoot, 'build', 'mnt', randomBytes(8).toString('hex'));
  await fs.mkdir(dir, { recursive: true });
  const chain = chainIds(diffIds).at(-1);
  if (!chain) return { dir, release: () => fs.rm(dir, { recursive: true, force: true }) };
  const lowers = await snapshots.lowerDirs(chain);
  // Overlay needs two lower directories for a mount without an upper one; one layer is bound as it is.
  if (lowers.length === 1) native.mount(lowers[0]!, dir, 'none', MS_BIND, '');
  else native.mount('overlay', dir, 'overlay', MS_RDONLY, `lowerdir=${lowers.join(':')}`);
  return {
    dir,
    release: async () => {
      native.umount2(dir, MNT_DETACH);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
