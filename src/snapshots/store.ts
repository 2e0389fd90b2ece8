/**
 * Snapshot store (containerd's `snapshots` service, overlayfs flavour). A committed snapshot is one
 * unpacked layer, keyed by its chain ID, so a layer shared by several images exists once on disk.
 * Its directory holds `fs/` (the layer in overlay form) and `meta.json` (parent, diff ID, size).
 * Layers are unpacked into a staging directory and renamed into place only when complete and
 * verified, so a crash never leaves a half-unpacked snapshot that looks finished.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { digestHex } from '../common/digest.js';
import { notFound } from '../common/errors.js';
import { readJson, writeJsonAtomic } from '../common/fsutil.js';
import { MNT_DETACH, native } from '../native/index.js';

export interface SnapshotInfo {
  chainId: string;
  parent?: string;
  diffId: string;
  /** Bytes of file content in this layer alone. */
  size: number;
  created: string;
}

export interface Snapshotter {
  stat(chainId: string): Promise<SnapshotInfo | undefined>;
  /**
   * Create the snapshot `chainId` on top of `parent` by running `fill` on an empty directory.
   * Concurrent calls for one chain ID share one run; an existing snapshot is returned as is.
   */
  extract(
    chainId: string,
    parent: string | undefined,
    diffId: string,
    fill: (dir: string) => Promise<{ size: number }>,
  ): Promise<SnapshotInfo>;
  /** The `fs` directories of a snapshot and its ancestors, topmost first (overlay lowerdir order). */
  lowerDirs(chainId: string): Promise<string[]>;
  remove(chainId: string): Promise<void>;
  list(): Promise<SnapshotInfo[]>;
}

export class OverlaySnapshotter implements Snapshotter {
  private readonly inflight = new Map<string, Promise<SnapshotInfo>>();
  private readonly stagingDir: string;

  private constructor(readonly root: string) {
    this.stagingDir = path.join(root, '.staging');
  }

  static async open(root: string): Promise<OverlaySnapshotter> {
    const s = new OverlaySnapshotter(root);
    await fs.mkdir(root, { recursive: true });
    await fs.rm(s.stagingDir, { recursive: true, force: true });
    await fs.mkdir(s.stagingDir, { recursive: true });
    return s;
  }

  private dir(chainId: string): string {
    return path.join(this.root, digestHex(chainId));
  }

  fsDir(chainId: string): string {
    return path.join(this.dir(chainId), 'fs');
  }

  stat(chainId: string): Promise<SnapshotInfo | undefined> {
    return readJson<SnapshotInfo>(path.join(this.dir(chainId), 'meta.json'));
  }

  extract(
    chainId: string,
    parent: string | undefined,
    diffId: string,
    fill: (dir: string) => Promise<{ size: number }>,
  ): Promise<SnapshotInfo> {
    const running = this.inflight.get(chainId);
    if (running) return running;
    const p = (async () => {
      const existing = await this.stat(chainId);
      if (existing) return existing;
      const staging = path.join(this.stagingDir, randomBytes(8).toString('hex'));
      await fs.mkdir(path.join(staging, 'fs'), { recursive: true });
      try {
        const { size } = await fill(path.join(staging, 'fs'));
        const info: SnapshotInfo = { chainId, diffId, size, created: new Date().toISOString() };
        if (parent) info.parent = parent;
        await writeJsonAtomic(path.join(staging, 'meta.json'), info);
        await fs.rm(this.dir(chainId), { recursive: true, force: true });
        await fs.rename(staging, this.dir(chainId));
        return info;
      } catch (err) {
        await fs.rm(staging, { recursive: true, force: true });
        throw err;
      }
    })().finally(() => this.inflight.delete(chainId));
    this.inflight.set(chainId, p);
    return p;
  }

  async lowerDirs(chainId: string): Promise<string[]> {
    const dirs: string[] = [];
    for (let id: string | undefined = chainId; id;) {
      const info = await this.stat(id);
      if (!info) throw notFound(`snapshot ${id} does not exist`);
      dirs.push(this.fsDir(id));
      id = info.parent;
    }
    return dirs;
  }

  async remove(chainId: string): Promise<void> {
    // Rename first so a crash mid-delete never leaves a partial tree under the real name.
    const doomed = path.join(this.stagingDir, `rm-${randomBytes(8).toString('hex')}`);
    try {
      await fs.rename(this.dir(chainId), doomed);
    } catch {
      return;
    }
    await fs.rm(doomed, { recursive: true, force: true });
  }

  // Active (writable) snapshots: a container's upper layer over an image's committed chain.

  activeDirs(key: string): { dir: string; upper: string; work: string; merged: string } {
    const dir = path.join(this.root, 'active', key);
    return { dir, upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), merged: path.join(dir, 'merged') };
  }

  /** Create the writable layer of `key` on top of `parent` (containerd's prepare). */
  async prepare(key: string, parent: string): Promise<void> {
    if (!(await this.stat(parent))) throw notFound(`snapshot ${parent} does not exist`);
    const d = this.activeDirs(key);
    await fs.mkdir(d.upper, { recursive: true, mode: 0o755 });
    await fs.mkdir(d.work, { recursive: true, mode: 0o700 });
    await fs.mkdir(d.merged, { recursive: true, mode: 0o755 });
    await writeJsonAtomic(path.join(d.dir, 'parent.json'), { parent });
  }

  /** Mount the overlay of an active snapshot at its `merged` directory; returns that path. */
  async mount(key: string, parent: string): Promise<string> {
    const d = this.activeDirs(key);
    if (await isMountPoint(d.merged)) return d.merged;
    const lower = await this.lowerDirs(parent);
    const options = `lowerdir=${lower.join(':')},upperdir=${d.upper},workdir=${d.work},index=off`;
    native.mount('overlay', d.merged, 'overlay', 0, options);
    return d.merged;
  }

  async unmount(key: string): Promise<void> {
    const d = this.activeDirs(key);
    for (let i = 0; i < 10 && (await isMountPoint(d.merged)); i++) {
      try {
        native.umount2(d.merged, i === 0 ? 0 : MNT_DETACH);
      } catch (err) {
        if ((err as { errno?: number }).errno === 22) return; // EINVAL: not mounted
        if (i === 9) throw err;
      }
    }
  }

  async removeActive(key: string): Promise<void> {
    await this.unmount(key);
    await fs.rm(this.activeDirs(key).dir, { recursive: true, force: true });
  }

  async listActive(): Promise<string[]> {
    try {
      return await fs.readdir(path.join(this.root, 'active'));
    } catch {
      return [];
    }
  }

  async list(): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const name of await fs.readdir(this.root)) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const info = await readJson<SnapshotInfo>(path.join(this.root, name, 'meta.json'));
      if (info) out.push(info);
    }
    return out;
  }
}

/** Whether a path is a mount point, from /proc/self/mountinfo (field 5 is the mount point). */
export async function isMountPoint(p: string): Promise<boolean> {
  const escaped = p.replace(/ /g, '\\040');
  try {
    const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
    return info.split('\n').some((l) => l.split(' ')[4] === escaped);
  } catch {
    return false;
  }
}
