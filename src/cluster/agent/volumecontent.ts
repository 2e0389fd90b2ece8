/**
 * The files of the volumes the agent writes out (ConfigMap, Secret, downward API, and projected ones
 * combining those with ServiceAccount tokens), as the kubelet computes them: all keys or the listed
 * items, `defaultMode` and per-item modes, `optional` sources, downward-API fields, and bound tokens
 * asked for through TokenRequest, kept until 80% of their lifetime has passed.
 */
import type { KObject } from '../api/object.js';
import { configKeyProblems, relativePathProblems } from '../api/validation.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { VolumeFile } from './atomicwriter.js';
import { ConfigError } from './configerror.js';

type Items = Array<{ key: string; path: string; mode?: number }>;
type FieldItem = { path: string; mode?: number; fieldRef?: { fieldPath: string } };
export type ProjectedSource = {
  configMap?: { name: string; items?: Items; optional?: boolean };
  secret?: { name: string; items?: Items; optional?: boolean };
  downwardAPI?: { items?: FieldItem[] };
  serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string };
};

/** The data of a ConfigMap or Secret (decoded), undefined when missing and optional. */
export type SourceReader = (
  kind: 'configmaps' | 'secrets',
  ns: string,
  name: string,
  optional: boolean | undefined,
) => Promise<Record<string, Buffer> | undefined>;

const TOKEN_DEFAULT_SECONDS = 3607;

/** A path inside a volume: relative, never climbing, never a `..`-named entry of the atomic writer. */
function checkedPath(volume: string, file: string): string {
  if (
    relativePathProblems('path', file).length ||
    configKeyProblems('key', file.split('/').at(-1)!).length ||
    file.startsWith('..')
  )
    throw new ConfigError(
      `volume ${volume}: item path ${JSON.stringify(file)} is not a relative path inside the volume`,
    );
  return file;
}

/** A downward-API field: one of the pod's own, or its labels and annotations (all, or one by key). */
export function fieldValue(pod: KObject, fieldPath: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[m[2]!] ?? '';
  if (fieldPath === 'metadata.labels' || fieldPath === 'metadata.annotations') {
    const all = (fieldPath === 'metadata.labels' ? pod.metadata?.labels : pod.metadata?.annotations) ?? {};
    return Object.keys(all)
      .sort()
      .map((k) => `${k}=${JSON.stringify(all[k])}`)
      .join('\n');
  }
  const spec = (pod.spec ?? {}) as { nodeName?: string; serviceAccountName?: string };
  const status = (pod.status ?? {}) as { podIP?: string; hostIP?: string };
  const fields: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name,
    'metadata.namespace': pod.metadata?.namespace,
    'metadata.uid': pod.metadata?.uid,
    'spec.nodeName': spec.nodeName,
    'spec.serviceAccountName': spec.serviceAccountName ?? 'default',
    'status.podIP': status.podIP,
    'status.hostIP': status.hostIP,
  };
  return fields[fieldPath] ?? '';
}

export class VolumeContent {
  /** Tokens by pod uid, volume and path, with when to ask again. */
  private readonly tokens = new Map<string, { token: string; renewAt: number }>();

  constructor(
    private readonly client: KubeClient,
    private readonly read: SourceReader,
  ) {}

  forgetPod(uid: string): void {
    for (const key of this.tokens.keys()) if (key.startsWith(`${uid}/`)) this.tokens.delete(key);
  }

  /** The files of a ConfigMap or Secret volume source. */
  async keyed(
    volume: string,
    kind: 'configmaps' | 'secrets',
    ns: string,
    name: string,
    items: Items | undefined,
    optional: boolean | undefined,
    mode: number,
    into = new Map<string, VolumeFile>(),
  ): Promise<Map<string, VolumeFile>> {
    const data = await this.read(kind, ns, name, optional);
    if (items?.length) {
      for (const i of items) {
        if (data?.[i.key] !== undefined)
          into.set(checkedPath(volume, i.path), { data: data[i.key]!, mode: i.mode ?? mode });
        else if (data && !optional)
          throw new ConfigError(
            kind === 'secrets'
              ? `secret references non-existent secret key: ${i.key}`
              : `configmap references non-existent config key: ${i.key}`,
          );
      }
    } else for (const [k, v] of Object.entries(data ?? {})) into.set(checkedPath(volume, k), { data: v, mode });
    return into;
  }

  downward(
    volume: string,
    pod: KObject,
    items: FieldItem[] | undefined,
    mode: number,
    into = new Map<string, VolumeFile>(),
  ): Map<string, VolumeFile> {
    for (const i of items ?? [])
      if (i.fieldRef)
        into.set(checkedPath(volume, i.path), {
          data: Buffer.from(fieldValue(pod, i.fieldRef.fieldPath)),
          mode: i.mode ?? mode,
        });
    return into;
  }

  async projected(
    volume: string,
    pod: KObject,
    sources: ProjectedSource[],
    mode: number,
  ): Promise<Map<string, VolumeFile>> {
    const ns = pod.metadata!.namespace!;
    const files = new Map<string, VolumeFile>();
    for (const s of sources) {
      if (s.configMap)
        await this.keyed(
          volume,
          'configmaps',
          ns,
          s.configMap.name,
          s.configMap.items,
          s.configMap.optional,
          mode,
          files,
        );
      else if (s.secret)
        await this.keyed(volume, 'secrets', ns, s.secret.name, s.secret.items, s.secret.optional, mode, files);
      else if (s.downwardAPI) this.downward(volume, pod, s.downwardAPI.items, mode, files);
      else if (s.serviceAccountToken) {
        const t = s.serviceAccountToken;
        files.set(checkedPath(volume, t.path), { data: Buffer.from(await this.token(volume, pod, t)), mode });
      }
    }
    return files;
  }

  /** A bound token for the pod's account, asked again once 80% of its lifetime has passed. */
  private async token(
    volume: string,
    pod: KObject,
    t: { audience?: string; expirationSeconds?: number; path: string },
  ): Promise<string> {
    const key = `${pod.metadata!.uid}/${volume}/${t.path}`;
    const known = this.tokens.get(key);
    if (known && Date.now() < known.renewAt) return known.token;
    const seconds = t.expirationSeconds ?? TOKEN_DEFAULT_SECONDS;
    const account = (pod.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName ?? 'default';
    const ns = pod.metadata!.namespace!;
    let answer: KObject;
    try {
      answer = await this.client.create(`${collectionPath('v1', 'serviceaccounts', ns)}/${account}/token`, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          ...(t.audience ? { audiences: [t.audience] } : {}),
          expirationSeconds: seconds,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata!.name, uid: pod.metadata!.uid },
        },
      });
    } catch (err) {
      throw new ConfigError(`failed to fetch token: ${(err as Error).message}`);
    }
    const token = (answer.status as { token?: string } | undefined)?.token ?? '';
    this.tokens.set(key, { token, renewAt: Date.now() + seconds * 800 });
    return token;
  }
}
