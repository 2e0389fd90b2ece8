/**
 * Registry credentials for a pod's images, as the kubelet finds them: the pod's `imagePullSecrets`
 * (the ServiceAccount's are copied there at admission), of type `kubernetes.io/dockerconfigjson` or
 * `kubernetes.io/dockercfg`, keyed by registry (`registry.example:5000`, `https://index.docker.io/v1/`).
 * Each credential for the image's registry is tried in turn; with none the pull is anonymous.
 */
import { isNotFound } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import { collectionPath, type KubeClient } from '../client/client.js';

export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

const DOCKER_HUB = 'docker.io';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** The registry an image reference names (`docker.io` when none does, as Docker reads it). */
export function registryOf(image: string): string {
  const first = image.split('/')[0]!;
  const named = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return named ? normalizeRegistry(first) : DOCKER_HUB;
}

/** A credentials key as a registry host: no scheme, no path, Docker Hub's names as one. */
export function normalizeRegistry(key: string): string {
  const host = key
    .replace(/^[a-z]+:\/\//i, '')
    .split('/')[0]!
    .toLowerCase();
  return HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

type Entry = { username?: string; password?: string; auth?: string };

/** The entries of a pull secret by registry key; empty when it is not one. */
export function secretEntries(secret: KObject): Record<string, Entry> {
  const data = (secret.data ?? {}) as Record<string, string>;
  const decode = (v: string | undefined): unknown => {
    if (!v) return undefined;
    try {
      return JSON.parse(Buffer.from(v, 'base64').toString('utf8'));
    } catch {
      return undefined;
    }
  };
  const json = decode(data['.dockerconfigjson']) as { auths?: Record<string, Entry> } | undefined;
  if (json?.auths && typeof json.auths === 'object') return json.auths;
  const legacy = decode(data['.dockercfg']) as Record<string, Entry> | undefined;
  return legacy && typeof legacy === 'object' ? legacy : {};
}

function toAuth(registry: string, e: Entry): RegistryAuth | undefined {
  let { username, password } = e;
  if ((!username || password === undefined) && e.auth) {
    const text = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon > 0) [username, password] = [text.slice(0, colon), text.slice(colon + 1)];
  }
  return username && password !== undefined ? { username, password, serveraddress: registry } : undefined;
}

/** The credentials to try for `image`, in the order the pod lists its secrets. */
export async function pullCredentials(client: KubeClient, pod: KObject, image: string): Promise<RegistryAuth[]> {
  const registry = registryOf(image);
  const ns = pod.metadata!.namespace!;
  const out: RegistryAuth[] = [];
  for (const ref of (pod.spec as { imagePullSecrets?: Array<{ name?: string }> } | undefined)?.imagePullSecrets ?? []) {
    if (!ref.name) continue;
    let secret: KObject;
    try {
      secret = await client.request('GET', `${collectionPath('v1', 'secrets', ns)}/${ref.name}`);
    } catch (err) {
      // A missing pull secret is skipped, as the kubelet skips it (with a warning event of its own).
      if (isNotFound(err)) continue;
      throw err;
    }
    for (const [key, entry] of Object.entries(secretEntries(secret)))
      if (normalizeRegistry(key) === registry) {
        const auth = toAuth(key, entry);
        if (auth) out.push(auth);
      }
  }
  return out;
}
