/**
 * What COPY and ADD put into a layer: files and trees of the context (its .dockerignore applied) with
 * the owner and mode asked for, local archives ADD unpacks, and remote files ADD downloads.
 */
import { createReadStream, promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { extract as tarExtract, type Pack } from 'tar-stream';
import { invalid } from '../common/errors.js';
import { readAll } from '../common/streams.js';
import { addEntry } from '../diff/archive.js';
import { decompress, detectCompression } from '../diff/compression.js';
import type { IgnoreMatcher } from './context.js';

export async function packFile(
  pack: Pack,
  abs: string,
  name: string,
  st: import('node:fs').Stats,
  uid: number,
  gid: number,
  chmod: number | undefined,
): Promise<void> {
  const base = { name, uid, gid, mtime: st.mtime, mode: chmod ?? st.mode & 0o7777 };
  if (st.isSymbolicLink()) await addEntry(pack, { ...base, type: 'symlink', linkname: await fs.readlink(abs) });
  else if (st.isFile())
    await addEntry(
      pack,
      { ...base, type: 'file', size: st.size },
      st.size < 1 << 20 ? await fs.readFile(abs) : createReadStream(abs),
    );
}

export async function packTree(
  pack: Pack,
  absDir: string,
  base: string,
  ignored: IgnoreMatcher,
  rel: string,
  uid: number,
  gid: number,
  chmod: number | undefined,
): Promise<void> {
  for (const n of (await fs.readdir(absDir)).sort()) {
    const childRel = `${rel}/${n}`.replace(/^\//, '');
    const abs = path.join(absDir, n);
    const name = base ? `${base}/${n}` : n;
    if (ignored(childRel)) {
      // Excluded, but an exception may bring back something beneath it: walked without its own entry.
      if (ignored.descend(childRel) && (await fs.lstat(abs)).isDirectory())
        await packTree(pack, abs, name, ignored, childRel, uid, gid, chmod);
      continue;
    }
    const st = await fs.lstat(abs);
    if (st.isDirectory()) {
      await addEntry(pack, {
        name: `${name}/`,
        type: 'directory',
        mode: chmod ?? st.mode & 0o7777,
        uid,
        gid,
        mtime: st.mtime,
      });
      await packTree(pack, abs, name, ignored, childRel, uid, gid, chmod);
    } else await packFile(pack, abs, name, st, uid, gid, chmod);
  }
}

export async function isDir(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => undefined))?.isDirectory() ?? false;
}

/** ADD unpacks local tar archives: plain (by the ustar magic), gzip or zstd (by their first bytes). */
export async function isArchive(p: string): Promise<boolean> {
  const fh = await fs.open(p, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    const head = buf.subarray(0, bytesRead);
    if (detectCompression(head) !== 'none') return true;
    return bytesRead >= 262 && head.subarray(257, 262).toString() === 'ustar';
  } finally {
    await fh.close();
  }
}

/** Re-pack an archive's entries under `base` (ADD's auto-extraction). */
export async function packArchive(pack: Pack, abs: string, base: string): Promise<void> {
  const plain = await decompress(createReadStream(abs));
  const ex = tarExtract();
  await new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const name = path.posix.normalize(`${base}/${h.name}`).replace(/^\/+/, '');
      if (name.startsWith('..')) {
        stream.resume();
        next();
        return;
      }
      const sink = pack.entry({ ...h, name: h.type === 'directory' ? `${name}/` : name }, (err) =>
        err ? reject(err) : next(),
      );
      (stream as unknown as NodeJS.ReadableStream).pipe(sink as unknown as NodeJS.WritableStream);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
    plain.pipe(ex as unknown as NodeJS.WritableStream);
  });
}

/** ADD of a URL: fetched whole (redirects followed), as Docker's classic builder does. */
export function download(url: string, redirects = 5): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    get(url, (res) => {
      if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && res.headers.location && redirects > 0) {
        res.resume();
        resolve(download(new URL(res.headers.location, url).toString(), redirects - 1));
        return;
      }
      if (res.statusCode !== 200) {
        res.resume();
        reject(invalid(`failed to GET ${url} with status ${res.statusCode}`));
        return;
      }
      readAll(res).then(resolve, reject);
    }).on('error', reject);
  });
}
