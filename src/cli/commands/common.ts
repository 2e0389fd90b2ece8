/** Shared CLI plumbing: the API client from global flags, error reporting as the docker CLI does. */
import type { Command } from 'commander';
import { ApiClient, ApiError, resolveHost } from '../../api/docker/client.js';
import { StreamError } from '../progress.js';
import { renderTemplate, TemplateError } from '../format/template.js';

export function clientOf(cmd: Command): ApiClient {
  let root = cmd;
  while (root.parent) root = root.parent;
  return new ApiClient(resolveHost((root.opts() as { host?: string }).host));
}

/** Exit status for a failed command: the daemon's message, prefixed as the docker CLI prefixes it. */
export function reportError(err: unknown): number {
  if (err instanceof ApiError) {
    process.stderr.write(err.status === 0 ? `${err.message}\n` : `Error response from daemon: ${err.message}\n`);
    return 1;
  }
  if (err instanceof StreamError) {
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
  if (err instanceof TemplateError) {
    process.stderr.write(`template parsing error: ${err.message}\n`);
    return 1;
  }
  process.stderr.write(`Error: ${(err as Error).message ?? String(err)}\n`);
  return 1;
}

/** Wrap an action so errors print Docker-style and set the exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      process.exitCode = reportError(err);
    }
  };
}

export const collect = (v: string, acc: string[]): string[] => [...acc, v];

/** `--label k=v` style flags to a map; a bare `k` maps to an empty value. */
export function keyValueMap(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const i = item.indexOf('=');
    out[i < 0 ? item : item.slice(0, i)] = i < 0 ? '' : item.slice(i + 1);
  }
  return out;
}

/**
 * Apply `fn` to each named object in turn, printing the name on success and the daemon's message on
 * failure, as the docker CLI's rm/stop/start do; answers whether any failed (and sets exit status 1).
 */
export async function forEachName(names: string[], fn: (name: string) => Promise<unknown>): Promise<boolean> {
  let failed = false;
  for (const n of names) {
    try {
      await fn(n);
      process.stdout.write(`${n}\n`);
    } catch (err) {
      process.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
      failed = true;
    }
  }
  if (failed) process.exitCode = 1;
  return failed;
}

/** `--filter k=v` flags to the API's JSON filter form. */
export function filtersJson(list: string[]): string | undefined {
  if (!list.length) return undefined;
  const out: Record<string, Record<string, boolean>> = {};
  for (const f of list) {
    const i = f.indexOf('=');
    if (i <= 0) throw new Error(`bad format of filter (expected name=value)`);
    const k = f.slice(0, i).trim().toLowerCase();
    out[k] = { ...out[k], [f.slice(i + 1)]: true };
  }
  return JSON.stringify(out);
}

/** Docker's stringutils.Ellipsis. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  if (chars.length <= max) return s;
  return chars.slice(0, max - 1).join('') + '…';
}

/** Register a command at the top level (`rmi`) and under its group (`image rm`), as the docker CLI has both. */
export function topAndGroup(
  program: Command,
  group: Command,
  top: string,
  sub: string,
  build: (c: Command) => void,
  groupAlias?: string,
): void {
  build(program.command(top));
  const c = group.command(sub);
  build(c);
  if (groupAlias) c.alias(groupAlias);
}

/**
 * `inspect`: fetch each object, print them all as indented JSON or each through `--format`; a name
 * that cannot be fetched is reported (`Error: ...`) and makes the exit status 1, the others still print.
 */
export async function inspectEach(
  names: string[],
  fetch: (name: string) => Promise<unknown>,
  format: string | undefined,
): Promise<void> {
  const found: unknown[] = [];
  let failed = false;
  for (const n of names) {
    try {
      found.push(await fetch(n));
    } catch (err) {
      process.stderr.write(`Error: ${(err as Error).message}\n`);
      failed = true;
    }
  }
  if (format) for (const f of found) process.stdout.write(renderTemplate(format, f) + '\n');
  else process.stdout.write(JSON.stringify(found, null, 4) + '\n');
  if (failed) process.exitCode = 1;
}
