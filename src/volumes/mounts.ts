/**
 * A container's mounts from its create request, as Docker resolves them: `Binds` (`-v`), `Mounts`
 * (`--mount`), `VolumesFrom`, and an anonymous volume for each image or request `Volumes` path that
 * nothing else covers. Named volumes that do not exist yet are created.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { invalid } from '../common/errors.js';
import type { MountPoint, VolumeStore } from './store.js';

export interface MountRequest {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; Subpath?: string };
  BindOptions?: { Propagation?: string; CreateMountpoint?: boolean };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];

function checkTarget(dest: string | undefined, spec: string): string {
  if (!dest) throw invalid(`invalid mount config: mount path must be specified (${spec})`);
  if (!path.isAbsolute(dest))
    throw invalid(`invalid mount config for type "bind": invalid mount path: '${dest}' mount path must be absolute`);
  if (dest === '/') throw invalid(`invalid specification: destination can't be '/'`);
  return path.posix.normalize(dest);
}

/** `-v src:dst[:opts]`: a host path when src is absolute, else a named volume; `-v /dst` is anonymous. */
export async function parseBind(spec: string, volumes: VolumeStore): Promise<MountPoint> {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw invalid(`invalid volume specification: '${spec}'`);
  if (parts.length === 1) return volumeMount(await volumes.create({}), checkTarget(parts[0], spec), false, true);
  const [src, dst, opts = ''] = parts as [string, string, string?];
  const flags = opts ? opts.split(',') : [];
  for (const f of flags)
    if (!['ro', 'rw', 'z', 'Z', 'nocopy', ...PROPAGATIONS].includes(f)) throw invalid(`invalid mode: ${f}`);
  const ro = flags.includes('ro');
  const target = checkTarget(dst, spec);
  if (path.isAbsolute(src)) {
    // As Docker does for -v, a missing host directory is created.
    if (!existsSync(src)) mkdirSync(src, { recursive: true });
    return {
      Type: 'bind',
      Source: src,
      Destination: target,
      Mode: opts,
      RW: !ro,
      Propagation: flags.find((f) => PROPAGATIONS.includes(f)) ?? 'rprivate',
    };
  }
  const v = await volumes.create({ Name: src });
  return volumeMount(v, target, ro, !flags.includes('nocopy'), opts);
}

function volumeMount(
  v: { Name: string; Mountpoint: string },
  target: string,
  ro: boolean,
  copyUp: boolean,
  mode = '',
): MountPoint {
  return {
    Type: 'volume',
    Name: v.Name,
    Source: v.Mountpoint,
    Destination: target,
    Driver: 'local',
    Mode: mode || 'z',
    RW: !ro,
    Propagation: '',
    copyUp,
  };
}

/** `--mount type=...,source=...,target=...` as the API carries it. */
export async function parseMount(m: MountRequest, volumes: VolumeStore): Promise<MountPoint> {
  const target = checkTarget(m.Target, JSON.stringify(m));
  switch (m.Type) {
    case 'bind': {
      if (!m.Source || !path.isAbsolute(m.Source))
        throw invalid(
          `invalid mount config for type "bind": invalid mount path: '${m.Source ?? ''}' mount path must be absolute`,
        );
      if (!existsSync(m.Source)) {
        if (!m.BindOptions?.CreateMountpoint)
          throw invalid(`invalid mount config for type "bind": bind source path does not exist: ${m.Source}`);
        mkdirSync(m.Source, { recursive: true });
      }
      const propagation = m.BindOptions?.Propagation || 'rprivate';
      if (!PROPAGATIONS.includes(propagation)) throw invalid(`invalid propagation mode: ${propagation}`);
      return {
        Type: 'bind',
        Source: m.Source,
        Destination: target,
        Mode: '',
        RW: !m.ReadOnly,
        Propagation: propagation,
      };
    }
    case 'volume': {
      const subpath = m.VolumeOptions?.Subpath;
      if (subpath !== undefined && subpath !== '') {
        const clean = path.posix.normalize(subpath);
        if (path.posix.isAbsolute(subpath) || clean === '..' || clean.startsWith('../') || subpath.includes('\0'))
          throw invalid(`invalid mount config for type "volume": subpath must be a relative path within the volume`);
        if (!m.Source)
          throw invalid(`invalid mount config for type "volume": subpath can only be used with a named volume`);
      }
      const v = await volumes.create({ Name: m.Source || undefined, Labels: m.VolumeOptions?.Labels });
      // A part of a volume is mounted as it is: the image's content is never copied into it.
      const mp = volumeMount(v, target, !!m.ReadOnly, !m.VolumeOptions?.NoCopy && !subpath);
      return subpath ? { ...mp, subpath: path.posix.normalize(subpath) } : mp;
    }
    case 'tmpfs': {
      if (m.Source) throw invalid(`invalid mount config for type "tmpfs": source must not be specified`);
      const opts: string[] = [];
      if (m.TmpfsOptions?.SizeBytes) opts.push(`size=${m.TmpfsOptions.SizeBytes}`);
      if (m.TmpfsOptions?.Mode) opts.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
      return {
        Type: 'tmpfs',
        Source: '',
        Destination: target,
        Mode: '',
        RW: !m.ReadOnly,
        Propagation: '',
        tmpfsOptions: opts,
      };
    }
    default:
      throw invalid(`invalid mount config: mount type unknown: "${m.Type ?? ''}"`);
  }
}

/** All mounts of a new container; later entries for the same destination are refused, as Docker does. */
export async function resolveMounts(
  req: { binds: string[]; mounts: MountRequest[]; volumesFrom: string[]; imageVolumes: string[]; tmpfs: string[] },
  volumes: VolumeStore,
  mountsOf: (container: string) => MountPoint[],
): Promise<MountPoint[]> {
  const out: MountPoint[] = [];
  const add = (m: MountPoint): void => {
    if (out.some((o) => o.Destination === m.Destination) || req.tmpfs.includes(m.Destination))
      throw invalid(`Duplicate mount point: ${m.Destination}`);
    out.push(m);
  };
  for (const b of req.binds) add(await parseBind(b, volumes));
  for (const m of req.mounts) add(await parseMount(m, volumes));
  for (const from of req.volumesFrom) {
    const [ref = '', mode] = from.split(':');
    if (mode && mode !== 'ro' && mode !== 'rw') throw invalid(`invalid mode for volumes-from: ${mode}`);
    for (const m of mountsOf(ref)) {
      if (m.Type === 'tmpfs' || out.some((o) => o.Destination === m.Destination)) continue;
      out.push({ ...m, RW: mode ? mode === 'rw' : m.RW, copyUp: false });
    }
  }
  for (const dest of req.imageVolumes) {
    const target = path.posix.normalize(dest);
    if (out.some((o) => o.Destination === target) || req.tmpfs.includes(target)) continue;
    out.push(volumeMount(await volumes.create({}), target, false, true));
  }
  return out;
}
