/**
 * A local cluster's kubeconfig: written beside its state and merged into the user's ~/.kube/config
 * (entries named after the cluster replace older ones of that name, the rest stay), as minikube does;
 * taken out again when the cluster goes.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';

const home = (): string => path.join(os.homedir(), '.kube', 'config');

/**
 * The cluster's kubeconfig at `file`: the server's admin one (`serverFile`), named after the cluster,
 * pointing at `at.server`; merged into ~/.kube/config and made current there when `mergeIntoHome`.
 */
export function writeKubeconfig(
  serverFile: string,
  at: { name: string; server: string },
  file: string,
  mergeIntoHome: boolean,
): string {
  const server = YAML.parse(readFileSync(serverFile, 'utf8')) as KubeConfig;
  const cluster = { ...server.clusters[0]!.cluster, server: at.server };
  const config: KubeConfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: at.name, cluster }],
    contexts: [{ name: at.name, context: { cluster: at.name, user: at.name } }],
    'current-context': at.name,
    preferences: {},
    users: [{ name: at.name, user: server.users[0]!.user }],
  };
  writeFileSync(file, YAML.stringify(config), { mode: 0o600 });
  if (mergeIntoHome) mergeKubeconfig(config, home());
  return file;
}

interface Named {
  name: string;
  [k: string]: unknown;
}

interface KubeConfig {
  apiVersion: string;
  kind: string;
  clusters: Array<Named & { cluster: Record<string, unknown> }>;
  contexts: Named[];
  users: Array<Named & { user: Record<string, unknown> }>;
  'current-context': string;
  [k: string]: unknown;
}

/** Put the cluster's entries into a kubeconfig file (replacing ones of the same name) and make it current. */
function mergeKubeconfig(add: KubeConfig, file: string): void {
  const existing = existsSync(file) ? ((YAML.parse(readFileSync(file, 'utf8')) ?? {}) as Partial<KubeConfig>) : {};
  const merge = <T extends Named>(have: T[] | undefined, extra: T[]): T[] => [
    ...(have ?? []).filter((e) => !extra.some((x) => x.name === e.name)),
    ...extra,
  ];
  const merged = {
    apiVersion: 'v1',
    kind: 'Config',
    ...existing,
    clusters: merge(existing.clusters, add.clusters),
    contexts: merge(existing.contexts, add.contexts),
    users: merge(existing.users, add.users),
    'current-context': add['current-context'],
  };
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, YAML.stringify(merged), { mode: 0o600 });
}

/** The cluster's entries out of ~/.kube/config (its current context cleared if it was the cluster's). */
export function forgetKubeconfig(name: string): void {
  const file = home();
  if (!existsSync(file)) return;
  const config = (YAML.parse(readFileSync(file, 'utf8')) ?? {}) as Partial<KubeConfig>;
  const without = <T extends Named>(list: T[] | undefined): T[] => (list ?? []).filter((e) => e.name !== name);
  if (![config.clusters, config.contexts, config.users].some((l) => l?.some((e) => e.name === name))) return;
  const next = {
    ...config,
    clusters: without(config.clusters),
    contexts: without(config.contexts),
    users: without(config.users),
  };
  if (next['current-context'] === name) next['current-context'] = '';
  writeFileSync(file, YAML.stringify(next), { mode: 0o600 });
}
