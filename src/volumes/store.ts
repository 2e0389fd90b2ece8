/**
 * Volumes with Docker's `local` driver: a directory per volume under <dataRoot>/volumes/<name>/_data,
 * its metadata beside it in volume.json. Which containers use a volume is read from the container
 * records (their `Mounts`), so nothing here can go stale across restarts.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { conflict, invalid, notFound } from '../common/errors.js';
import { diskUsage, readJson, writeJsonAtomic } from '../common/fsutil.js';
import { labelsMatch } from '../common/labels.js';

export interface Volume {
  CreatedAt: string;
  Driver: 'local';
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: 'local';
}

/** A container's mount, in `inspect`'s `Mounts` shape (plus what the engine needs to mount it). */
export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** Copy the image's content at the destination into an empty volume (Docker's default; `nocopy` turns it off). */
  copyUp?: boolean;
  /** tmpfs options (size, mode). */
  tmpfsOptions?: string[];
  /** The part of the volume mounted (`VolumeOptions.Subpath`, API 1.45), relative to its root. */
  subpath?: string;
}

export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';
/** The longest file name Linux takes. */
const MAX_NAME = 255;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export class VolumeStore {
  private readonly volumes = new Map<string, Volume>();

  private constructor(
    private readonly root: string,
    private readonly usedBy: (name: string) => string[],
  ) {}

  static async open(root: string, usedBy: (name: string) => string[]): Promise<VolumeStore> {
    const s = new VolumeStore(root, usedBy);
    await fs.mkdir(root, { recursive: true, mode: 0o701 });
    for (const name of await fs.readdir(root)) {
      const v = await readJson<Volume>(path.join(root, name, 'volume.json'));
      if (v) s.volumes.set(v.Name, v);
    }
    return s;
  }

  list(): Volume[] {
    return [...this.volumes.values()];
  }

  get(name: string): Volume {
    const v = this.volumes.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return v;
  }

  has(name: string): boolean {
    return this.volumes.has(name);
  }

  /** Create a volume, or answer the existing one of that name (as Docker does). */
  async create(req: {
    Name?: string;
    Driver?: string;
    DriverOpts?: Record<string, string> | null;
    Labels?: Record<string, string> | null;
  }): Promise<Volume> {
    const anonymous = !req.Name;
    const name = req.Name || randomBytes(32).toString('hex');
    if (!NAME_RE.test(name))
      throw invalid(
        `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      );
    // The name is a directory's: longer than a file name may be, it could never be made.
    if (name.length > MAX_NAME)
      throw invalid(`create ${name.slice(0, 64)}...: a volume name is at most ${MAX_NAME} characters`);
    if (req.Driver && req.Driver !== 'local')
      throw notFound(`create ${name}: error looking up volume plugin ${req.Driver}: plugin "${req.Driver}" not found`);
    if (req.DriverOpts && Object.keys(req.DriverOpts).length)
      throw invalid(`create ${name}: driver options are not supported by this local driver`);
    const existing = this.volumes.get(name);
    if (existing) return existing;
    const dir = path.join(this.root, name);
    await fs.mkdir(path.join(dir, '_data'), { recursive: true, mode: 0o755 });
    const v: Volume = {
      CreatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      Driver: 'local',
      Labels: anonymous ? { ...req.Labels, [ANONYMOUS_LABEL]: '' } : (req.Labels ?? null),
      Mountpoint: path.join(dir, '_data'),
      Name: name,
      Options: null,
      Scope: 'local',
    };
    await writeJsonAtomic(path.join(dir, 'volume.json'), v);
    this.volumes.set(name, v);
    return v;
  }

  async remove(name: string, force = false): Promise<void> {
    const v = this.volumes.get(name);
    if (!v) {
      if (force) return;
      throw notFound(`get ${name}: no such volume`);
    }
    const users = this.usedBy(name);
    if (users.length) throw conflict(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    // Metadata first: a crash part-way leaves a directory without metadata, never a listed volume without data.
    await fs.rm(path.join(this.root, name, 'volume.json'), { force: true });
    this.volumes.delete(name);
    await fs.rm(path.join(this.root, name), { recursive: true, force: true });
  }

  /** Remove unused volumes: anonymous ones, or all with `all`; answers names and bytes freed. */
  async prune(opts: { all: boolean; label?: string[] }): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let space = 0;
    for (const v of this.list()) {
      if (this.usedBy(v.Name).length) continue;
      if (!opts.all && !(v.Labels && ANONYMOUS_LABEL in v.Labels)) continue;
      if (opts.label && !labelsMatch(v.Labels, opts.label)) continue;
      space += await this.size(v.Name);
      await this.remove(v.Name);
      deleted.push(v.Name);
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: space };
  }

  size(name: string): Promise<number> {
    return diskUsage(path.join(this.root, name, '_data')).catch(() => 0);
  }

  usedByCount(name: string): number {
    return this.usedBy(name).length;
  }
}
