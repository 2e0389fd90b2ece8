/**
 * What a pod's containers are given besides their image: environment variables (literal values,
 * `valueFrom` ConfigMap and Secret keys and pod fields, `envFrom` whole ConfigMaps and Secrets) and
 * volumes (emptyDir shared by the pod's containers, hostPath, ConfigMaps and Secrets written out as
 * files, and the hostPath or local PersistentVolumes of bound claims), as bind mounts the engine makes. Volume contents live under the agent's data dir, one folder
 * per pod, removed with the pod.
 */
import { isNotFound } from '../api/errors.js';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { KObject } from '../api/object.js';
import { claimSpec, phaseOf, volumeSpec } from '../api/volume.js';
import { ConfinedDir } from '../../common/confined.js';
import { configKeyProblems, isDnsLabel, relativePathProblems } from '../api/validation.js';
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
type Items = Array<{ key: string; path: string }>;
type Volume = {
  name: string;
  emptyDir?: object;
  hostPath?: { path: string };
  configMap?: { name: string; items?: Items; optional?: boolean };
  secret?: { secretName: string; items?: Items; optional?: boolean };
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
};
export type ContainerSpec = {
  name: string;
  env?: EnvVar[];
  envFrom?: EnvFrom[];
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
};

/**
 * A container cannot be configured yet (a missing ConfigMap or Secret, a claim not yet bound): it waits,
 * as in Kubernetes, in the `reason` state, and the event reported once says so.
 */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly reason = 'CreateContainerConfigError',
    readonly eventReason = 'Failed',
  ) {
    super(message);
  }
}

export class PodConfig {
  constructor(
    private readonly client: KubeClient,
    private readonly dataDir: string,
  ) {}

  /** A pod's folder; its uid must be one the API server made (a UUID), never a path. */
  podDir(uid: string): string {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uid))
      throw new ConfigError(`pod uid ${JSON.stringify(uid)} is not a UUID`);
    return path.join(this.dataDir, 'pods', uid);
  }

  removePod(uid: string): void {
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
    const vars = new Map<string, string>();
    for (const from of c.envFrom ?? []) {
      const ref = from.configMapRef ?? from.secretRef;
      if (!ref) continue;
      const data = await this.source(from.configMapRef ? 'configmaps' : 'secrets', ns, ref.name, ref.optional);
      for (const [k, v] of Object.entries(data ?? {})) vars.set(`${from.prefix ?? ''}${k}`, v.toString());
    }
    const fields: Record<string, string | undefined> = {
      'metadata.name': pod.metadata?.name,
      'metadata.namespace': ns,
      'metadata.uid': pod.metadata?.uid,
      'spec.nodeName': (pod.spec as { nodeName?: string } | undefined)?.nodeName,
      'spec.serviceAccountName':
        (pod.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName ?? 'default',
      'status.podIP': (pod.status as { podIP?: string } | undefined)?.podIP,
      'status.hostIP': (pod.status as { hostIP?: string } | undefined)?.hostIP,
    };
    for (const e of c.env ?? []) {
      const from = e.valueFrom;
      if (!from) vars.set(e.name, e.value ?? '');
      else if (from.fieldRef) vars.set(e.name, fieldValue(pod, fields, from.fieldRef.fieldPath));
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

  /** Prepare the pod's volumes on disk; answers each volume's host path by name. */
  async volumes(pod: KObject): Promise<Map<string, { source: string; readOnly: boolean }>> {
    const uid = pod.metadata!.uid!;
    const ns = pod.metadata!.namespace!;
    const out = new Map<string, { source: string; readOnly: boolean }>();
    for (const v of (pod.spec as { volumes?: Volume[] } | undefined)?.volumes ?? []) {
      if (!isDnsLabel(v.name)) throw new ConfigError(`volume name ${JSON.stringify(v.name)} is not a DNS label`);
      const dir = path.join(this.podDir(uid), 'volumes', v.name);
      if (v.hostPath) out.set(v.name, { source: v.hostPath.path, readOnly: false });
      else if (v.emptyDir) {
        mkdirSync(dir, { recursive: true });
        chmodSync(dir, 0o777);
        out.set(v.name, { source: dir, readOnly: false });
      } else if (v.configMap || v.secret) {
        const data = v.configMap
          ? await this.source('configmaps', ns, v.configMap.name, v.configMap.optional)
          : await this.source('secrets', ns, v.secret!.secretName, v.secret!.optional);
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        const items = (v.configMap ?? v.secret)!.items;
        const files = items?.length
          ? items.filter((i) => data?.[i.key] !== undefined).map((i) => [i.path, data![i.key]!] as const)
          : Object.entries(data ?? {});
        for (const [file, content] of files) {
          // Item paths and keys stay relative and never climb (the API server checks them; a stored object may predate that).
          if (relativePathProblems('path', file).length || configKeyProblems('key', file.split('/').at(-1)!).length)
            throw new ConfigError(
              `volume ${v.name}: item path ${JSON.stringify(file)} is not a relative path inside the volume`,
            );
          const target = path.join(dir, file);
          if (!target.startsWith(dir + path.sep))
            throw new ConfigError(`volume ${v.name}: item path ${file} leaves the volume`);
          mkdirSync(path.dirname(target), { recursive: true });
          writeFileSync(target, content, { mode: 0o644 });
        }
        out.set(v.name, { source: dir, readOnly: true });
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
  binds(c: ContainerSpec, volumes: Map<string, { source: string; readOnly: boolean }>): string[] {
    return (c.volumeMounts ?? []).map((m) => {
      const v = volumes.get(m.name);
      if (!v) throw new ConfigError(`volume "${m.name}" is not one of the pod's volumes`);
      // Bind specs are `source:target[:ro]`: a ':' in either would add options of its own.
      if (typeof m.mountPath !== 'string' || m.mountPath.includes(':') || v.source.includes(':'))
        throw new ConfigError(`volume "${m.name}": a mount path may not contain ':'`);
      const source = m.subPath ? subPathSource(v.source, m.subPath) : v.source;
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

/** A downward-API field: one of `fields`, or a label or annotation (`metadata.labels['app']`). */
function fieldValue(pod: KObject, fields: Record<string, string | undefined>, path: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[m[2]!] ?? '';
  return fields[path] ?? '';
}
