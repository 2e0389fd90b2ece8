/**
 * The build context: the tar the client sends (plain or compressed) unpacked into a private
 * directory, `.dockerignore` applied with Docker's rules (`@balena/dockerignore`, a port of moby's
 * matcher, `!` exceptions included), and COPY/ADD sources resolved in it with Docker's wildcards.
 */
import dockerignoreLib from '@balena/dockerignore';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, createReadStream, fchmodSync, futimesSync, linkSync, mkdirSync, openSync, promises as fs, rmSync, symlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { extract as tarExtract } from 'tar-stream';
import { invalid } from '../common/errors.js';
import { decompress } from '../diff/compression.js';

/** Content digests of a context's regular files, taken while unpacking, for the build cache. */
export type FileDigests = Map<string, string>;

/**
 * Unpack a context tar into `dir`; entries are confined to it. Files are written with synchronous calls
 * (contexts are many small files, where one promise per syscall costs more than the write) and hashed
 * on the way, so the cache never reads them back.
 */
export async function unpackContext(body: Readable, dir: string): Promise<FileDigests> {
  const digests: FileDigests = new Map();
  const plain = await decompress(body);
  const ex = tarExtract();
  const inside = (name: string): string | undefined => {
    const rel = path.posix.normalize(name).replace(/^(\.\.(\/|$))+/, '').replace(/^\/+/, '').replace(/\/$/, '');
    const target = path.join(dir, rel);
    return target.startsWith(dir) ? target : undefined;
  };
  await new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const target = inside(h.name);
      const mode = (h.mode ?? 0o644) & 0o7777;
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('error', reject);
      stream.on('end', () => {
        try {
          if (target && target !== dir) {
            mkdirSync(path.dirname(target), { recursive: true });
            if (h.type === 'directory') {
              mkdirSync(target, { recursive: true });
              chmodSync(target, mode || 0o755);
            } else if (h.type === 'symlink') {
              rmSync(target, { force: true, recursive: true });
              symlinkSync(h.linkname ?? '', target);
            } else if (h.type === 'link') {
              const src = inside(h.linkname ?? '');
              rmSync(target, { force: true, recursive: true });
              if (src) linkSync(src, target);
            } else if (h.type === 'file' || h.type === 'contiguous-file') {
              const data = Buffer.concat(chunks);
              rmSync(target, { force: true, recursive: true });
              const fd = openSync(target, 'w', mode);
              try {
                writeSync(fd, data);
                fchmodSync(fd, mode);
                const mtime = h.mtime ?? new Date();
                futimesSync(fd, mtime, mtime);
              } finally {
                closeSync(fd);
              }
              digests.set(path.relative(dir, target), createHash('sha256').update(data).digest('hex'));
            }
          }
          next();
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
    plain.on('error', reject);
    plain.pipe(ex as unknown as NodeJS.WritableStream);
  });
  return digests;
}

export type IgnoreMatcher = (relPath: string) => boolean;

/** Docker's `.dockerignore` matcher for a context directory (nothing ignored without the file). */
export async function dockerignore(contextDir: string): Promise<IgnoreMatcher> {
  let text: string;
  try {
    text = await fs.readFile(path.join(contextDir, '.dockerignore'), 'utf8');
  } catch {
    return () => false;
  }
  // A CommonJS module whose function is its `default` export.
  const ig = dockerignoreLib.default().add(text.split(/\r?\n/));
  return (rel) => rel !== '' && ig.ignores(rel);
}

/** Go's filepath.Match for one path segment pattern. */
function segmentRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw invalid(`syntax error in pattern: ${pattern}`);
      re += `[${pattern.slice(i + 1, end).replace(/^\^/, '^').replace(/^!/, '^')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Sources of a COPY/ADD in a root directory: a path, or a pattern with `*`, `?`, `[...]`; answers
 * relative paths that exist (and are not ignored). A source that matches nothing is an error, as Docker has it.
 */
export async function resolveSources(root: string, src: string, ignored: IgnoreMatcher): Promise<string[]> {
  const clean = path.posix.normalize(`/${src}`).slice(1).replace(/\/$/, '');
  if (clean.startsWith('..')) throw invalid(`forbidden path outside the build context: ${src}`);
  if (!/[*?[]/.test(clean)) {
    try {
      await fs.lstat(path.join(root, clean));
    } catch {
      throw invalid(`COPY failed: file not found in build context or excluded by .dockerignore: stat ${clean}: file does not exist`);
    }
    if (ignored(clean)) throw invalid(`COPY failed: file not found in build context or excluded by .dockerignore: stat ${clean}: file does not exist`);
    return [clean];
  }
  let found = [''];
  for (const seg of clean.split('/')) {
    const next: string[] = [];
    const re = /[*?[]/.test(seg) ? segmentRegex(seg) : undefined;
    for (const base of found) {
      if (!re) {
        next.push(base ? `${base}/${seg}` : seg);
        continue;
      }
      for (const name of (await fs.readdir(path.join(root, base)).catch(() => [] as string[])).sort()) if (re.test(name)) next.push(base ? `${base}/${name}` : name);
    }
    found = next;
  }
  const existing: string[] = [];
  for (const f of found) if (!ignored(f) && (await fs.lstat(path.join(root, f)).catch(() => undefined))) existing.push(f);
  if (!existing.length) throw invalid(`COPY failed: no source files were specified`);
  return existing;
}

/**
 * A checksum of sources for the build cache: every file's path, mode and content (and link targets),
 * in order, so any change to what would be copied changes it.
 */
export async function checksumSources(root: string, rels: string[], ignored: IgnoreMatcher, known?: FileDigests): Promise<string> {
  const h = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    if (ignored(rel)) return;
    const abs = path.join(root, rel);
    const st = await fs.lstat(abs);
    h.update(`${rel}\0${st.mode}\0`);
    if (st.isDirectory()) {
      for (const n of (await fs.readdir(abs)).sort()) await walk(`${rel}/${n}`);
    } else if (st.isSymbolicLink()) h.update(await fs.readlink(abs));
    else if (st.isFile()) {
      const digest = known?.get(rel);
      if (digest) h.update(digest);
      else for await (const c of createReadStream(abs)) h.update(c as Buffer);
    }
    h.update('\0');
  };
  for (const r of rels) await walk(r);
  return h.digest('hex');
}
