/**
 * `--change` instructions of `import` and `commit` (a subset of Dockerfile instructions that only
 * touch the image config): CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
 * WORKDIR. Parsed as Docker does: JSON array form, or shell form wrapped in `/bin/sh -c`.
 */
import { invalid } from '../common/errors.js';
import type { ContainerConfig } from './oci.js';

function jsonOrShell(args: string): string[] {
  const t = args.trim();
  if (t.startsWith('[')) {
    try {
      const parsed = JSON.parse(t) as unknown;
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed as string[];
    } catch {
      // Not JSON: Docker falls back to shell form.
    }
  }
  return ['/bin/sh', '-c', t];
}

function jsonOrWords(args: string): string[] {
  const t = args.trim();
  if (t.startsWith('[')) {
    try {
      const parsed = JSON.parse(t) as unknown;
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch {
      // Fall back to words.
    }
  }
  return t.split(/\s+/).filter(Boolean);
}

/** Split `k=v k2="v 2"` pairs, or the legacy single `k v` form. */
export function parseKeyValues(args: string, legacySingle: boolean): Array<[string, string]> {
  const t = args.trim();
  if (!/^[^\s=]+=/.test(t)) {
    if (!legacySingle) throw invalid(`key=value pairs required: ${t}`);
    const m = /^(\S+)\s+(.*)$/s.exec(t);
    if (!m) throw invalid(`ENV names can not be blank`);
    return [[m[1]!, m[2]!]];
  }
  const out: Array<[string, string]> = [];
  const re = /([^\s=]+)=("((?:[^"\\]|\\.)*)"|'([^']*)'|(\S*))/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t))) {
    const v = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[4] !== undefined ? m[4] : m[5]!;
    out.push([m[1]!, v]);
  }
  return out;
}

export function setEnv(env: string[], key: string, value: string): string[] {
  const out = env.filter((e) => e.split('=')[0] !== key);
  out.push(`${key}=${value}`);
  return out;
}

export function applyChanges(cfg: ContainerConfig, changes: string[]): ContainerConfig {
  const out: ContainerConfig = { ...cfg };
  for (const raw of changes) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^(\w+)\s*(.*)$/s.exec(line);
    if (!m) throw invalid(`dockerfile parse error: ${line}`);
    const instr = m[1]!.toUpperCase();
    const args = m[2]!;
    switch (instr) {
      case 'CMD':
        out.Cmd = jsonOrShell(args);
        break;
      case 'ENTRYPOINT':
        out.Entrypoint = jsonOrShell(args);
        break;
      case 'ENV':
        for (const [k, v] of parseKeyValues(args, true)) out.Env = setEnv(out.Env ?? [], k, v);
        break;
      case 'LABEL':
        out.Labels = { ...out.Labels };
        for (const [k, v] of parseKeyValues(args, false)) out.Labels[k] = v;
        break;
      case 'EXPOSE':
        out.ExposedPorts = { ...out.ExposedPorts };
        for (const p of args.trim().split(/\s+/).filter(Boolean))
          out.ExposedPorts[p.includes('/') ? p : `${p}/tcp`] = {};
        break;
      case 'VOLUME':
        out.Volumes = { ...out.Volumes };
        for (const v of jsonOrWords(args)) out.Volumes[v] = {};
        break;
      case 'WORKDIR':
        out.WorkingDir = args.trim();
        break;
      case 'USER':
        out.User = args.trim();
        break;
      case 'STOPSIGNAL':
        out.StopSignal = args.trim();
        break;
      case 'ONBUILD':
        out.OnBuild = [...(out.OnBuild ?? []), args.trim()];
        break;
      default:
        throw invalid(`${instr} is not a valid change command`);
    }
  }
  return out;
}
