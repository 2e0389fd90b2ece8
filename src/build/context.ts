/**
 * The build context: the tar the client sends (plain or compressed) unpacked into a private
 * directory by the confined extraction primitive, `.dockerignore` applied with Docker's rules (`@balena/dockerignore`, a port of moby's
 * matcher, `!` exceptions included), and COPY/ADD sources resolved in it with Docker's wildcards.
 */
import dockerignoreLib from '@balena/dockerignore';
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ConfinedDir } from '../common/confined.js';
import { GantryError, invalid } from '../common/errors.js';
import { anchoredRegex, type Matcher } from '../common/regex.js';
import { resolveInRoot } from '../containers/paths.js';
import { extractTar, type ExtractLimits } from '../diff/apply.js';
import { decompress } from '../diff/compression.js';

/** Content digests of a context's regular files, taken while unpacking, for the build cache. */
export type FileDigests = Map<string, string>;

/** Largest Dockerfile or .dockerignore read from a context. */
const MAX_CONTEXT_FILE = 8 << 20;

/**
 * Unpack a context tar into `dir` with the confined extraction primitive (nothing is written through a
 * symlink or outside `dir`), hashing files on the way so the cache never reads them back.
 */
export async function unpackContext(body: Readable, dir: string, limits: ExtractLimits = {}): Promise<FileDigests> {
  const digests: FileDigests = new Map();
  const plain = await decompress(body);
  await ConfinedDir.with(dir, 'beneath', (root) =>
    extractTar(plain, root, { ...limits, digests, chown: false, what: 'build context' }),
  );
  return digests;
}

/**
 * A file of the context (the Dockerfile, .dockerignore) resolved inside it, as Docker does: a symlink
 * in the context that points elsewhere resolves against the context, never the host. Undefined when
 * missing or not a regular file.
 */
export async function readContextFile(contextDir: string, rel: string): Promise<string | undefined> {
  return ConfinedDir.with(contextDir, 'in-root', (root) => {
    try {
      return root.readFile(rel, MAX_CONTEXT_FILE)?.toString('utf8');
    } catch (err) {
      throw invalid(`${rel} in the build context: ${(err as Error).message}`);
    }
  });
}

/**
 * Whether a context path is excluded; `descend` tells whether an excluded directory must still be walked
 * because an exception (`!dir/file`) may bring back something beneath it, as moby's walk decides.
 */
export interface IgnoreMatcher {
  (relPath: string): boolean;
  descend(dir: string): boolean;
}

export const NOTHING_IGNORED: IgnoreMatcher = Object.assign(() => false, { descend: () => true });

/** The exception patterns of a .dockerignore text, cleaned as moby's ignorefile.ReadAll cleans them. */
function exceptionPatterns(lines: string[]): string[] {
  return lines
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.trim())
    .filter((l) => l.startsWith('!'))
    .map((l) => path.posix.normalize(l.slice(1).trim()).replace(/^\/(?=.)/, ''));
}

/** Docker's `.dockerignore` matcher for a context directory (nothing ignored without the file). */
export async function dockerignore(contextDir: string): Promise<IgnoreMatcher> {
  const text = await readContextFile(contextDir, '.dockerignore');
  if (text === undefined) return NOTHING_IGNORED;
  // moby drops a UTF-8 byte order mark before anything else, so a first `#` line stays a comment.
  const lines = text.replace(/^\ufeff/, '').split(/\r?\n/);
  // A CommonJS module whose function is its `default` export.
  const ig = dockerignoreLib.default().add(lines);
  const exceptions = exceptionPatterns(lines);
  return Object.assign((rel: string) => rel !== '' && ig.ignores(rel), {
    descend: (dir: string) => exceptions.some((p) => `${p}/`.startsWith(`${dir}/`)),
  });
}

/** Go's filepath.Match for one path segment pattern. */
function segmentRegex(pattern: string): Matcher {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw invalid(`syntax error in pattern: ${pattern}`);
      re += `[${pattern
        .slice(i + 1, end)
        .replace(/^\^/, '^')
        .replace(/^!/, '^')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return anchoredRegex(re, 'COPY source pattern');
}

/** A COPY/ADD source: the path as written or matched, and where it leads inside the root. */
export interface Source {
  rel: string;
  /** `rel` with every symlink resolved inside the root (relative to it, never leaving it). */
  path: string;
}

const notInContext = (p: string): GantryError =>
  invalid(`COPY failed: file not found in build context or excluded by .dockerignore: stat ${p}: file does not exist`);

/** Resolve `rel` inside `root` as Docker does for COPY sources: symlinks, the last one too, stay inside the root. */
async function resolveSource(root: string, rel: string): Promise<Source> {
  const resolved = path.relative(root, await resolveInRoot(root, rel, true));
  if (!(await fs.lstat(path.join(root, resolved)).catch(() => undefined))) throw notInContext(rel);
  return { rel, path: resolved };
}

/**
 * Sources of a COPY/ADD in a root directory: a path, or a pattern with `*`, `?`, `[...]` matched against
 * the tree without following symlinks (as Docker walks it); each found source is then resolved inside the
 * root. A source that matches nothing is an error, as Docker has it.
 */
export async function resolveSources(root: string, src: string, ignored: IgnoreMatcher): Promise<Source[]> {
  const clean = path.posix.normalize(`/${src}`).slice(1).replace(/\/$/, '');
  if (clean.startsWith('..')) throw invalid(`forbidden path outside the build context: ${src}`);
  if (!/[*?[]/.test(clean)) {
    if (ignored(clean)) throw notInContext(clean);
    return [await resolveSource(root, clean)];
  }
  let found = [''];
  const segments = clean.split('/');
  for (const [i, seg] of segments.entries()) {
    const next: string[] = [];
    const matches = /[*?[]/.test(seg) ? segmentRegex(seg) : undefined;
    const last = i === segments.length - 1;
    for (const base of found) {
      const names = matches
        ? (await fs.readdir(path.join(root, base)).catch(() => [] as string[])).sort().filter(matches)
        : [seg];
      for (const name of names) {
        const rel = base ? `${base}/${name}` : name;
        const st = await fs.lstat(path.join(root, rel)).catch(() => undefined);
        // Only real directories are walked into, so a pattern never lists what a symlink points at.
        if (st && (last || st.isDirectory())) next.push(rel);
      }
    }
    found = next;
  }
  const existing: Source[] = [];
  for (const f of found) if (!ignored(f)) existing.push(await resolveSource(root, f));
  if (!existing.length) throw invalid(`COPY failed: no source files were specified`);
  return existing;
}

/**
 * A checksum of sources for the build cache: every file's path, mode and content (and link targets),
 * in order, so any change to what would be copied changes it.
 */
export async function checksumSources(
  root: string,
  sources: Source[],
  ignored: IgnoreMatcher,
  known?: FileDigests,
): Promise<string> {
  const h = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const abs = path.join(root, rel);
    if (ignored(rel)) {
      // An excluded directory is still walked when an exception may bring back something beneath it.
      if (!ignored.descend(rel) || !(await fs.lstat(abs)).isDirectory()) return;
      for (const n of (await fs.readdir(abs)).sort()) await walk(`${rel}/${n}`);
      return;
    }
    const st = await fs.lstat(abs);
    h.update(`${rel}\0${st.mode}\0`);
    if (st.isDirectory()) {
      for (const n of (await fs.readdir(abs)).sort()) await walk(rel ? `${rel}/${n}` : n);
    } else if (st.isSymbolicLink()) h.update(await fs.readlink(abs));
    else if (st.isFile()) {
      const digest = known?.get(rel);
      if (digest) h.update(digest);
      else for await (const c of createReadStream(abs)) h.update(c as Buffer);
    }
    h.update('\0');
  };
  for (const s of sources) {
    h.update(`${s.rel}\0`);
    await walk(s.path);
  }
  return h.digest('hex');
}
