/**
 * Client configuration in Docker's format: `$DOCKER_CONFIG/config.json` (default `~/.docker`), so
 * `gantry login` and `docker login` share credentials, as users of both would expect.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../common/fsutil.js';
import type { AuthConfig } from '../registry/auth.js';

export const INDEX_SERVER = 'https://index.docker.io/v1/';

interface ConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
  [k: string]: unknown;
}

function configPath(): string {
  return path.join(process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker'), 'config.json');
}

async function readConfig(): Promise<ConfigFile> {
  try {
    return JSON.parse(await fs.readFile(configPath(), 'utf8')) as ConfigFile;
  } catch {
    return {};
  }
}

/** The config.json key for a registry: Docker Hub's legacy URL, else the host. */
export function serverKey(domain: string): string {
  return domain === 'docker.io' ? INDEX_SERVER : domain;
}

export async function credentialsFor(domain: string): Promise<AuthConfig | undefined> {
  const cfg = await readConfig();
  const entry = cfg.auths?.[serverKey(domain)] ?? cfg.auths?.[`https://${domain}`] ?? cfg.auths?.[`http://${domain}`];
  if (!entry) return undefined;
  const out: AuthConfig = { serveraddress: serverKey(domain) };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    out.username = decoded.slice(0, i);
    out.password = decoded.slice(i + 1);
  }
  if (entry.identitytoken) out.identitytoken = entry.identitytoken;
  return out;
}

export async function storeCredentials(domain: string, username: string, password: string): Promise<string> {
  const cfg = await readConfig();
  cfg.auths = {
    ...cfg.auths,
    [serverKey(domain)]: { auth: Buffer.from(`${username}:${password}`).toString('base64') },
  };
  await fs.mkdir(path.dirname(configPath()), { recursive: true, mode: 0o700 });
  await writeFileAtomic(configPath(), JSON.stringify(cfg, null, '\t'));
  await fs.chmod(configPath(), 0o600);
  return configPath();
}

export async function removeCredentials(domain: string): Promise<boolean> {
  const cfg = await readConfig();
  const key = serverKey(domain);
  if (!cfg.auths?.[key]) return false;
  delete cfg.auths[key];
  await writeFileAtomic(configPath(), JSON.stringify(cfg, null, '\t'));
  return true;
}
