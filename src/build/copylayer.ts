/**
 * The layer COPY and ADD make: their sources (context or stage files, archives ADD unpacks, URLs it
 * downloads, heredocs) packed into a tar at the destination as the image resolves it, with the parent
 * directories the image lacks, so a COPY needs no container.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Pack } from 'tar-stream';
import { resolveInRoot } from '../containers/paths.js';
import { addEntry } from '../diff/archive.js';
import type { IgnoreMatcher, Source } from './context.js';
import { download, isArchive, isDir, packArchive, packFile, packTree } from './copysources.js';

export interface CopyLayer {
  /** The image being built on, mounted: where the destination's symlinks and existing parents are seen. */
  imageRoot: string;
  /** The destination, absolute; a trailing `/` names a directory. */
  dest: string;
  /** More than one source: the destination is a directory. */
  multiple: boolean;
  /** Where `sources` are: the context or another stage's mounted image. */
  root: string;
  sources: Source[];
  ignored: IgnoreMatcher;
  /** ADD's URLs. */
  remote: string[];
  heredocs: Array<{ name: string; body: string }>;
  isAdd: boolean;
  owner: { uid: number; gid: number };
  chmod: number | undefined;
}

/** Packs the step's files into `pack` and finalizes it. */
export async function packCopy(pack: Pack, o: CopyLayer): Promise<void> {
  const made = new Set<string>();
  const parents = async (p: string): Promise<void> => {
    const parts = p.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (made.has(dir) || (await fs.lstat(path.join(o.imageRoot, dir)).catch(() => undefined))) continue;
      made.add(dir);
      await addEntry(pack, { name: `${dir}/`, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: new Date() });
    }
  };
  // The destination as the image sees it: its symlinks are followed inside the image's root, so
  // the layer names real directories (and never shadows an image's symlink with a directory).
  const resolvedDest = await resolveInRoot(o.imageRoot, o.dest, true);
  const destIsDir = o.dest.endsWith('/') || o.multiple || (await isDir(resolvedDest));
  const base = path.relative(o.imageRoot, resolvedDest);
  for (const src of o.sources) {
    const abs = path.join(o.root, src.path);
    const st = await fs.lstat(abs);
    if (st.isDirectory()) {
      // A directory's contents are copied, not the directory itself.
      await parents(`${base}/x`);
      if (base)
        await addEntry(pack, {
          name: `${base}/`,
          type: 'directory',
          mode: o.chmod ?? st.mode & 0o7777,
          uid: o.owner.uid,
          gid: o.owner.gid,
          mtime: st.mtime,
        });
      await packTree(pack, abs, base, o.ignored, src.path, o.owner.uid, o.owner.gid, o.chmod);
      continue;
    }
    if (o.isAdd && st.isFile() && (await isArchive(abs))) {
      await parents(`${base}/x`);
      await packArchive(pack, abs, base);
      continue;
    }
    const name = destIsDir ? `${base}/${path.basename(src.rel)}` : base;
    await parents(name);
    await packFile(pack, abs, name, st, o.owner.uid, o.owner.gid, o.chmod);
  }
  for (const url of o.remote) {
    const body = await download(url);
    const name = destIsDir ? `${base}/${path.basename(new URL(url).pathname) || 'index.html'}` : base;
    await parents(name);
    await addEntry(
      pack,
      {
        name,
        type: 'file',
        mode: o.chmod ?? 0o600,
        uid: o.owner.uid,
        gid: o.owner.gid,
        mtime: new Date(),
        size: body.length,
      },
      body,
    );
  }
  for (const h of o.heredocs) {
    const name = destIsDir ? `${base}/${h.name}` : base;
    await parents(name);
    const body = Buffer.from(h.body);
    await addEntry(
      pack,
      {
        name,
        type: 'file',
        mode: o.chmod ?? 0o644,
        uid: o.owner.uid,
        gid: o.owner.gid,
        mtime: new Date(),
        size: body.length,
      },
      body,
    );
  }
  pack.finalize();
}
