/**
 * Registry authentication as Docker does it: credentials (AuthConfig, the JSON that travels base64url
 * encoded in X-Registry-Auth), the `WWW-Authenticate` challenge, and the bearer-token endpoint flow.
 */

export interface AuthConfig {
  username?: string;
  password?: string;
  /** base64("user:password"), as stored in config.json. */
  auth?: string;
  email?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

export function credentials(auth: AuthConfig | undefined): { username: string; password: string } | undefined {
  if (!auth) return undefined;
  if (auth.username && auth.password !== undefined) return { username: auth.username, password: auth.password };
  if (auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  return undefined;
}

/** A base64url (or base64) JSON object header; undefined when absent or malformed. */
function decodeJsonHeader(value: string | undefined): object | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(
      Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'),
    ) as unknown;
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Decode the X-Registry-Auth header (base64url JSON; empty or `{}` means anonymous). */
export function decodeAuthHeader(value: string | undefined): AuthConfig | undefined {
  return decodeJsonHeader(value) as AuthConfig | undefined;
}

/** Decode the X-Registry-Config header of builds: credentials by registry. */
export function decodeRegistryConfig(value: string | undefined): Record<string, AuthConfig> {
  return (decodeJsonHeader(value) ?? {}) as Record<string, AuthConfig>;
}

export function encodeAuthHeader(auth: AuthConfig | undefined): string {
  return Buffer.from(JSON.stringify(auth ?? {})).toString('base64url');
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` (RFC 7235). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (!header) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const v of values) {
    const re = /\s*([A-Za-z][\w-]*)\s*/y;
    let pos = 0;
    while (pos < v.length) {
      re.lastIndex = pos;
      const m = re.exec(v);
      if (!m) break;
      const ch: Challenge = { scheme: m[1]!.toLowerCase(), params: {} };
      pos = re.lastIndex;
      const paramRe = /\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/y;
      while (pos < v.length) {
        paramRe.lastIndex = pos;
        const pm = paramRe.exec(v);
        if (!pm) break;
        ch.params[pm[1]!.toLowerCase()] = pm[2] !== undefined ? pm[2].replace(/\\(.)/g, '$1') : pm[3]!;
        pos = paramRe.lastIndex;
      }
      out.push(ch);
    }
  }
  return out;
}
