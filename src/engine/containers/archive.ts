/** A container's files: changes (`docker diff`), export, and `docker cp` (stat, get, put) resolved inside its root. */
import { readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Readable } from 'node:stream';
import { GantryError, invalid, notFound } from '../../common/errors.js';
import { ConfinedDir } from '../../common/confined.js';
import { extractTar } from '../../diff/apply.js';
import { type ContainerRecord } from '../../containers/types.js';
import { packDirectory, packPath } from '../../diff/archive.js';
import { resolveInView, statInView, type ContainerView, type Located } from '../../containers/paths.js';
import { changes, type Change } from '../../diff/overlay.js';

import type { ContainerService } from './service.js';
import type { PathStat } from './types.js';

/** What the engine mounts into every container, which Docker's init layer keeps out of `docker diff`. */
const ENGINE_MOUNTS = ['/dev', '/proc', '/sys', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/.dockerenv'];

/**
 * A container's changes without the mountpoints the engine made for itself (and a directory changed
 * only by them), as Docker shows them: its init layer holds those below the container's own layer.
 */
export function withoutEngineMounts(list: Change[]): Change[] {
  const isEngines = (p: string): boolean => ENGINE_MOUNTS.some((m) => p === m || p.startsWith(`${m}/`));
  const kept = list.filter((c) => !isEngines(c.Path));
  const touched = new Set(
    list.filter((c) => isEngines(c.Path)).map((c) => c.Path.slice(0, c.Path.lastIndexOf('/')) || '/'),
  );
  const below = (dir: string, c: Change): boolean => c.Path.startsWith(dir === '/' ? '/' : `${dir}/`) && c.Path !== dir;
  return kept.filter((c) => !(c.Kind === 0 && touched.has(c.Path) && !kept.some((o) => below(c.Path, o))));
}

export const archiveMethods = {
  async changes(this: ContainerService, ref: string): Promise<Change[]> {
    const rec = this.d.store.resolve(ref);
    return withoutEngineMounts(
      await changes(this.d.snapshots.activeDirs(rec.Id).upper, await this.d.snapshots.lowerDirs(rec.chainId)),
    );
  },

  /** The container's whole filesystem as a tar stream (mounted for the duration if stopped). */
  async export(this: ContainerService, ref: string): Promise<Readable> {
    const rec = this.d.store.resolve(ref);
    const merged = await this.mountRoot(rec);
    const tar = packDirectory(merged);
    if (!rec.State.Running) {
      const unmount = (): void => {
        const cur = this.d.store.get(rec.Id);
        if (cur && !cur.State.Running) void this.d.snapshots.unmount(rec.Id).catch(() => undefined);
      };
      tar.once('end', unmount);
      tar.once('error', unmount);
      tar.once('close', unmount);
    }
    this.d.events.publish('container', 'export', rec.Id, this.eventAttrs(rec));
    return tar;
  },

  /** Run `fn` with the container's root mounted (mounting it for the duration when stopped). */
  async mountRoot(this: ContainerService, rec: ContainerRecord): Promise<string> {
    if (this.removing.has(rec.Id)) throw notFound(`No such container: ${rec.Id}`);
    return this.d.snapshots.mount(rec.Id, rec.chainId);
  },

  async withRoot<T>(this: ContainerService, rec: ContainerRecord, fn: (root: string) => Promise<T>): Promise<T> {
    const running = rec.State.Running;
    const root = await this.mountRoot(rec);
    try {
      return await fn(root);
    } finally {
      const cur = this.d.store.get(rec.Id);
      if (!running && cur && !cur.State.Running && !this.starting.has(rec.Id))
        await this.d.snapshots.unmount(rec.Id).catch(() => undefined);
    }
  },

  async archiveStat(this: ContainerService, ref: string, p: string): Promise<PathStat> {
    const rec = this.d.store.resolve(ref);
    return this.withRoot(rec, async (rootfs) => pathStat(p, await statInView(containerView(rec, rootfs), p)));
  },

  /** A tar of one path of the container, and its stat. The root stays mounted until the tar is read. */
  async archiveGet(this: ContainerService, ref: string, p: string): Promise<{ stat: PathStat; tar: Readable }> {
    const rec = this.d.store.resolve(ref);
    const running = rec.State.Running;
    const rootfs = await this.mountRoot(rec);
    let root: ConfinedDir | undefined;
    const release = (): void => {
      root?.close();
      root = undefined;
      const cur = this.d.store.get(rec.Id);
      if (!running && cur && !cur.State.Running && !this.starting.has(rec.Id))
        void this.d.snapshots.unmount(rec.Id).catch(() => undefined);
    };
    try {
      const found = await statInView(containerView(rec, rootfs), p);
      const stat = pathStat(p, found);
      const name = path.posix.basename(p.replace(/\/+$/, '')) || '/';
      const at = confinedAt(found);
      root = ConfinedDir.open(at.dir, 'in-root');
      const tar = packPath(root, at.rel, name === '/' ? '.' : name);
      tar.once('close', release);
      tar.once('end', release);
      return { stat, tar };
    } catch (err) {
      release();
      throw err;
    }
  },

  /** Extract a tar into a directory of the container (`docker cp SRC CONTAINER:DIR`). */
  async archivePut(
    this: ContainerService,
    ref: string,
    p: string,
    tar: Readable,
    opts: { copyUIDGID: boolean; noOverwriteDirNonDir: boolean },
  ): Promise<void> {
    const rec = this.d.store.resolve(ref);
    await this.withRoot(rec, async (rootfs) => {
      const found = await resolveInView(containerView(rec, rootfs), p, true);
      if (found.mount && !found.mount.rw) throw new GantryError('forbidden', 'mounted volume is marked read-only');
      if (!found.mount && rec.HostConfig.ReadonlyRootfs)
        throw new GantryError('forbidden', 'container rootfs is marked read-only');
      const at = confinedAt(found);
      await ConfinedDir.with(at.dir, 'in-root', async (root) => {
        // The destination and every entry are resolved beneath the rootfs or the mount's source; nothing leads out.
        const st = root.stat(at.rel);
        if (!st) throw notFound(`Could not find the file ${p} in container ${rec.Name.slice(1)}`);
        if (!st.isDirectory()) throw invalid(`extraction point is not a directory`);
        await extractTar(tar, root, {
          prefix: at.rel,
          chown: opts.copyUIDGID,
          noOverwriteDirNonDir: opts.noOverwriteDirNonDir,
          what: `extracting into ${p}`,
        });
      });
    });
    this.d.events.publish('container', 'extract-to-dir', rec.Id, this.eventAttrs(rec, { path: p }));
  },
};

/** The container's files as its processes see them: the rootfs and its volumes and binds (tmpfs mounts are not reachable from the host, as in Docker). */
function containerView(rec: ContainerRecord, rootfs: string): ContainerView {
  const mounts = (rec.Mounts ?? [])
    .filter((m) => m.Type !== 'tmpfs')
    .map((m) => ({
      destination: path.posix.normalize(m.Destination).replace(/\/+$/, ''),
      source: m.Source,
      rw: m.RW,
      subpath: m.subpath,
    }));
  return { rootfs, mounts };
}

/** The directory to confine an operation to, and the path beneath it: a bind-mounted file is reached through its directory. */
function confinedAt(found: Located): { dir: string; rel: string } {
  if (found.mount && found.rel === '') {
    let isDir = true;
    try {
      isDir = statSync(found.root).isDirectory();
    } catch {
      throw notFound(`Could not find the file ${found.path} in container`);
    }
    if (!isDir) return { dir: path.dirname(found.root), rel: path.basename(found.root) };
  }
  return { dir: found.root, rel: found.rel };
}

/** Docker's container path stat, with Go's os.FileMode bits. */
function pathStat(p: string, found: { host: string; stat: import('node:fs').Stats }): PathStat {
  const st = found.stat;
  let mode = st.mode & 0o777;
  if (st.isDirectory()) mode += 2 ** 31;
  if (st.isSymbolicLink()) mode += 2 ** 27;
  if (st.isFIFO()) mode += 2 ** 25;
  if (st.isSocket()) mode += 2 ** 24;
  if (st.mode & 0o4000) mode += 2 ** 23;
  if (st.mode & 0o2000) mode += 2 ** 22;
  if (st.isCharacterDevice()) mode += 2 ** 21 + 2 ** 26;
  if (st.isBlockDevice()) mode += 2 ** 26;
  if (st.mode & 0o1000) mode += 2 ** 20;
  return {
    name: path.posix.basename(p.replace(/\/+$/, '')) || '/',
    size: st.size,
    mode,
    mtime: st.mtime.toISOString(),
    linkTarget: st.isSymbolicLink() ? readlinkSync(found.host) : '',
  };
}
