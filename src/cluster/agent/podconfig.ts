/**
 * What a pod's containers are given besides their image: environment variables (literal values,
 * `valueFrom` ConfigMap and Secret keys and pod fields, `envFrom` whole ConfigMaps and Secrets) and
 * volumes (emptyDir shared by the pod's containers, hostPath, ConfigMaps, Secrets, downward-API and
 * projected volumes written out by the atomic writer and refreshed while the pod runs, and the
 * hostPath or local PersistentVolumes of bound claims), as bind mounts the engine makes; the
 * variables of the Services in the pod's namespace. Volume contents live under the agent's data dir,
 * one folder per pod, removed with the pod.
 */
import { isNotFound } from '../api/errors.js';
import { ConfigError } from './configerror.js';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { KObject } from '../api/object.js';
import { claimSpec, phaseOf, volumeSpec } from '../api/volume.js';
import { ConfinedDir } from '../../common/confined.js';
import { isDnsLabel, relativePathProblems } from '../api/validation.js';
import { currentDataDir, writeAtomic, type VolumeFile } from './atomicwriter.js';
import { serviceEnv } from './serviceenv.js';
import { fieldValue, VolumeContent, type ProjectedSource } from './volumecontent.js';
import { collectionPath, type KubeClient } from '../client/client.js';

type KeyRef = { name?: string; key: string; optional?: boolean };
type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef; fieldRef?: { fieldPath: string } };
};
type EnvFrom = {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
};
type Items = Array<{ key: string; path: string; mode?: number }>;
type Volume = {
  name: string;
  emptyDir?: object;
  hostPath?: { path: string };
  configMap?: { name: string; items?: Items; optional?: boolean; defaultMode?: number };
  secret?: { secretName: string; items?: Items; optional?: boolean; defaultMode?: number };
  downwardAPI?: {
    items?: Array<{ path: string; mode?: number; fieldRef?: { fieldPath: string } }>;
    defaultMode?: number;
  };
  projected?: { sources?: ProjectedSource[]; defaultMode?: number };
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
};

const DEFAULT_MODE = 0o644;
export type ContainerSpec = {
  name: string;
  env?: EnvVar[];
  envFrom?: EnvFrom[];
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
};

/** A volume as containers mount it: its host folder, and whether the atomic writer keeps it. */
export interface PodVolume {
  source: string;
  readOnly: boolean;
  atomic?: boolean;
}

export class PodConfig {
  private readonly content: VolumeContent;

  constructor(
    private readonly client: KubeClient,
    private readonly dataDir: string,
    /** The Services the agent knows, for the `<SVC>_SERVICE_HOST` variables. */
    private readonly services: () => KObject[] = () => [],
  ) {
    this.content = new VolumeContent(client, (kind, ns, name, optional) => this.source(kind, ns, name, optional));
  }

  /** A pod's folder; its uid must be one the API server made (a UUID), never a path. */
  podDir(uid: string): string {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uid))
      throw new ConfigError(`pod uid ${JSON.stringify(uid)} is not a UUID`);
    return path.join(this.dataDir, 'pods', uid);
  }

  removePod(uid: string): void {
    this.content.forgetPod(uid);
    rmSync(this.podDir(uid), { recursive: true, force: true });
  }

  /** The data of a ConfigMap (`configmaps`) or Secret (`secrets`, decoded), undefined when missing. */
  private async source(
    kind: 'configmaps' | 'secrets',
    ns: string,
    name: string,
    optional: boolean | undefined,
  ): Promise<Record<string, Buffer> | undefined> {
    let obj: KObject;
    try {
      obj = await this.client.request('GET', `${collectionPath('v1', kind, ns)}/${name}`);
    } catch (err) {
      if (isNotFound(err)) {
        if (optional) return undefined;
        throw new ConfigError(`${kind === 'configmaps' ? 'configmap' : 'secret'} "${name}" not found`);
      }
      throw err;
    }
    const out: Record<string, Buffer> = {};
    if (kind === 'secrets') {
      for (const [k, v] of Object.entries((obj.data as Record<string, string> | undefined) ?? {}))
        out[k] = Buffer.from(v, 'base64');
      for (const [k, v] of Object.entries((obj.stringData as Record<string, string> | undefined) ?? {}))
        out[k] = Buffer.from(v);
    } else {
      for (const [k, v] of Object.entries((obj.data as Record<string, string> | undefined) ?? {}))
        out[k] = Buffer.from(v);
      for (const [k, v] of Object.entries((obj.binaryData as Record<string, string> | undefined) ?? {}))
        out[k] = Buffer.from(v, 'base64');
    }
    return out;
  }

  /** The container's environment as `NAME=value` strings, in Kubernetes' order (envFrom, then env). */
  async env(pod: KObject, c: ContainerSpec): Promise<string[]> {
    const ns = pod.metadata!.namespace!;
    const vars = new Map<string, string>(serviceEnv(pod, this.services()));
    for (const from of c.envFrom ?? []) {
      const ref = from.configMapRef ?? from.secretRef;
      if (!ref) continue;
      const data = await this.source(from.configMapRef ? 'configmaps' : 'secrets', ns, ref.name, ref.optional);
      for (const [k, v] of Object.entries(data ?? {})) vars.set(`${from.prefix ?? ''}${k}`, v.toString());
    }
    for (const e of c.env ?? []) {
      const from = e.valueFrom;
      if (!from) vars.set(e.name, e.value ?? '');
      else if (from.fieldRef) vars.set(e.name, fieldValue(pod, from.fieldRef.fieldPath));
      else {
        const ref = (from.configMapKeyRef ?? from.secretKeyRef)!;
        const data = await this.source(
          from.configMapKeyRef ? 'configmaps' : 'secrets',
          ns,
          ref.name ?? '',
          ref.optional,
        );
        if (data && !(ref.key in data) && !ref.optional)
          throw new ConfigError(
            `couldn't find key ${ref.key} in ${from.configMapKeyRef ? 'ConfigMap' : 'Secret'} ${ns}/${ref.name}`,
          );
        if (data?.[ref.key] !== undefined) vars.set(e.name, data[ref.key]!.toString());
      }
    }
    return [...vars].map(([k, v]) => `${k}=${v}`);
  }

  /** The files of a ConfigMap, Secret, downward-API or projected volume. */
  private contents(pod: KObject, v: Volume): Promise<Map<string, VolumeFile>> {
    const ns = pod.metadata!.namespace!;
    if (v.configMap)
      return this.content.keyed(
        v.name,
        'configmaps',
        ns,
        v.configMap.name,
        v.configMap.items,
        v.configMap.optional,
        v.configMap.defaultMode ?? DEFAULT_MODE,
      );
    if (v.secret)
      return this.content.keyed(
        v.name,
        'secrets',
        ns,
        v.secret.secretName,
        v.secret.items,
        v.secret.optional,
        v.secret.defaultMode ?? DEFAULT_MODE,
      );
    if (v.downwardAPI)
      return Promise.resolve(
        this.content.downward(v.name, pod, v.downwardAPI.items, v.downwardAPI.defaultMode ?? DEFAULT_MODE),
      );
    return this.content.projected(v.name, pod, v.projected!.sources ?? [], v.projected!.defaultMode ?? DEFAULT_MODE);
  }

  /**
   * Write a running pod's ConfigMap, Secret, downward-API and projected volumes again when what they
   * show changed (tokens renewed), as the kubelet's periodic sync does; a source that went missing
   * leaves the last contents in place.
   */
  async refresh(pod: KObject): Promise<void> {
    for (const v of (pod.spec as { volumes?: Volume[] } | undefined)?.volumes ?? []) {
      if (!(v.configMap || v.secret || v.projected || v.downwardAPI) || !isDnsLabel(v.name)) continue;
      const dir = path.join(this.podDir(pod.metadata!.uid!), 'volumes', v.name);
      if (!currentDataDir(dir)) continue;
      try {
        writeAtomic(dir, await this.contents(pod, v));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
      }
    }
  }

  /** Prepare the pod's volumes on disk; answers each volume's host path by name. */
  async volumes(pod: KObject): Promise<Map<string, PodVolume>> {
    const uid = pod.metadata!.uid!;
    const ns = pod.metadata!.namespace!;
    const out = new Map<string, PodVolume>();
    for (const v of (pod.spec as { volumes?: Volume[] } | undefined)?.volumes ?? []) {
      if (!isDnsLabel(v.name)) throw new ConfigError(`volume name ${JSON.stringify(v.name)} is not a DNS label`);
      const dir = path.join(this.podDir(uid), 'volumes', v.name);
      if (v.hostPath) out.set(v.name, { source: v.hostPath.path, readOnly: false });
      else if (v.emptyDir) {
        mkdirSync(dir, { recursive: true });
        chmodSync(dir, 0o777);
        out.set(v.name, { source: dir, readOnly: false });
      } else if (v.configMap || v.secret || v.projected || v.downwardAPI) {
        writeAtomic(dir, await this.contents(pod, v));
        out.set(v.name, { source: dir, readOnly: true, atomic: true });
      } else if (v.persistentVolumeClaim) {
        const source = await this.claimSource(ns, v.persistentVolumeClaim.claimName);
        out.set(v.name, { source, readOnly: v.persistentVolumeClaim.readOnly === true });
      }
    }
    return out;
  }

  /**
   * The host folder of a claim's volume: the claim must be Bound, its volume a `hostPath` or `local`
   * one (what a node can mount without a driver); DirectoryOrCreate folders are made (world-writable,
   * as local-path-provisioner makes them, for containers running as any user).
   */
  private async claimSource(ns: string, claimName: string): Promise<string> {
    const notReady = (message: string): ConfigError => new ConfigError(message, 'ContainerCreating', 'FailedMount');
    let claim: KObject;
    try {
      claim = await this.client.request('GET', `${collectionPath('v1', 'persistentvolumeclaims', ns)}/${claimName}`);
    } catch (err) {
      if (isNotFound(err)) throw notReady(`persistentvolumeclaim "${claimName}" not found`);
      throw err;
    }
    const volumeName = claimSpec(claim).volumeName;
    if (!volumeName || phaseOf(claim) !== 'Bound')
      throw notReady(`persistentvolumeclaim "${claimName}" is not bound yet`);
    const pv = await this.client.request('GET', `${collectionPath('v1', 'persistentvolumes')}/${volumeName}`);
    const spec = volumeSpec(pv);
    const folder = spec.hostPath?.path ?? spec.local?.path;
    if (!folder) throw notReady(`persistentvolume "${volumeName}": only hostPath and local volumes can be mounted`);
    if (!path.isAbsolute(folder) || folder.split('/').includes('..') || folder.includes(':'))
      throw notReady(`persistentvolume "${volumeName}": path ${JSON.stringify(folder)} is not a clean absolute path`);
    if (spec.hostPath?.type === 'DirectoryOrCreate') {
      await mkdir(folder, { recursive: true });
      if ((await readdir(folder)).length === 0) await chmod(folder, 0o777);
    }
    const st = await lstat(folder).catch(() => undefined);
    if (!st?.isDirectory())
      throw notReady(`persistentvolume "${volumeName}": ${folder} is not a directory on this node`);
    return folder;
  }

  /** The engine bind mounts of one container. */
  binds(c: ContainerSpec, volumes: Map<string, PodVolume>): string[] {
    return (c.volumeMounts ?? []).map((m) => {
      const v = volumes.get(m.name);
      if (!v) throw new ConfigError(`volume "${m.name}" is not one of the pod's volumes`);
      // Bind specs are `source:target[:ro]`: a ':' in either would add options of its own.
      if (typeof m.mountPath !== 'string' || m.mountPath.includes(':') || v.source.includes(':'))
        throw new ConfigError(`volume "${m.name}": a mount path may not contain ':'`);
      // A subPath of a written-out volume is found through `..data` (and, as in Kubernetes, no longer updates).
      const root = v.atomic ? (currentDataDir(v.source) ?? v.source) : v.source;
      const source = m.subPath ? subPathSource(root, m.subPath) : v.source;
      return `${source}:${m.mountPath}${m.readOnly || v.readOnly ? ':ro' : ''}`;
    });
  }
}

/**
 * The host path of a volume's subPath: relative, no `..`, and through real directories only — a symlink
 * a container left in a shared volume (`x -> /`) must never turn the bind into one of the host's root.
 */
function subPathSource(volume: string, subPath: string): string {
  if (subPath.includes(':') || relativePathProblems('subPath', subPath).length)
    throw new ConfigError(`subPath ${JSON.stringify(subPath)} must be a relative path without '..'`);
  const rel = subPath
    .split('/')
    .filter((c) => c && c !== '.')
    .join('/');
  const root = ConfinedDir.open(volume, 'beneath');
  try {
    // Missing, it is made (as the kubelet does); present, it may not be a symlink nor lie beyond one.
    const st = root.lstat(rel);
    if (!st) root.mkdirAll(rel);
    else if (st.isSymbolicLink()) throw new ConfigError(`subPath ${JSON.stringify(subPath)} is a symlink`);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`subPath ${JSON.stringify(subPath)} leads through a symlink or out of the volume`);
  } finally {
    root.close();
  }
  return path.join(volume, rel);
}
