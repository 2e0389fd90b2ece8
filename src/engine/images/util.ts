/** Helpers of the image service that hold no state: repository sources, reference and `until` filters, the image config as the API shows it. */
import { anchoredRegex } from '../../common/regex.js';
import { invalid } from '../../common/errors.js';
import { type ContainerConfig } from '../../images/oci.js';
import type { ImageRecord } from '../../images/store.js';

const MAX_SOURCES = 8;

/** Remember that blobs exist in a repository, so later pushes to the same registry can mount them. */
export function addSources(rec: ImageRecord, digests: string[], repo: string): void {
  const sources: Record<string, string[]> = { ...rec.sources };
  for (const d of digests) {
    const list = (sources[d] ?? []).filter((r) => r !== repo);
    list.unshift(repo);
    sources[d] = list.slice(0, MAX_SOURCES);
  }
  rec.sources = sources;
}

/** Docker's `reference` filter: a glob on the familiar name with optional tag. */
export function matchReference(pattern: string, tag: string): boolean {
  const matches = anchoredRegex(
    pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]'),
    'reference filter',
  );
  if (pattern.includes(':')) return matches(tag);
  return matches(tag.slice(0, tag.lastIndexOf(':')));
}

/** `until` filter values: unix seconds, RFC 3339, or a Go duration like `24h` before now. */
export function parseUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const dur = /^(\d+)(h|m|s)$/.exec(v);
  if (dur) return Date.now() - Number(dur[1]) * { h: 3600000, m: 60000, s: 1000 }[dur[2] as 'h' | 'm' | 's'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(`invalid filter 'until=${v}'`);
  return t;
}

/** The image config as the API shows it (Docker fills absent fields with empty values). */
export function containerConfigForApi(cfg: ContainerConfig): Record<string, unknown> {
  return {
    Hostname: '',
    Domainname: '',
    User: cfg.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(cfg.ExposedPorts ? { ExposedPorts: cfg.ExposedPorts } : {}),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: cfg.Env ?? null,
    Cmd: cfg.Cmd ?? null,
    ...(cfg.Healthcheck ? { Healthcheck: cfg.Healthcheck } : {}),
    ...(cfg.ArgsEscaped ? { ArgsEscaped: true } : {}),
    Image: '',
    Volumes: cfg.Volumes ?? null,
    WorkingDir: cfg.WorkingDir ?? '',
    Entrypoint: cfg.Entrypoint ?? null,
    OnBuild: cfg.OnBuild ?? null,
    Labels: cfg.Labels ?? null,
    ...(cfg.StopSignal ? { StopSignal: cfg.StopSignal } : {}),
    ...(cfg.Shell ? { Shell: cfg.Shell } : {}),
  };
}

// Docker downloads three layers at a time; unpacking overlaps with downloading, so allow four.
export const PULL_CONCURRENCY = 4;

export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return results;
}
