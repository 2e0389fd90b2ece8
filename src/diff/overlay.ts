/**
 * The other direction of diff/apply: read a container's overlay upper directory as changes (for
 * `docker diff`) and as an OCI layer tar (for `commit`, and later `build`): 0/0 character devices
 * become `.wh.<name>` whiteouts, opaque directories get `.wh..wh..opq`.
 */
import { execFile } from 'node:child_process';
import fs, { promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { pack as tarPack } from 'tar-stream';
import { addEntry, packTreeEntry } from './archive.js';
import { walkTree } from './walk.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './apply.js';

const execFileP = promisify(execFile);

export type ChangeKind = 0 | 1 | 2; // modified, added, deleted (Docker's numbering)

export interface Change {
  Path: string;
  Kind: ChangeKind;
}

/**
 * Mount points the runtime creates in the upper layer for files the engine bind-mounts in. Their
 * contents live outside the layer, so, as in Docker, they are neither changes nor committed.
 */
const ENGINE_MOUNTPOINTS = new Set(['etc/hostname', 'etc/hosts', 'etc/resolv.conf', '.dockerenv']);

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** Directories of the upper layer marked opaque (trusted.overlay.opaque=y). */
async function opaqueDirs(upper: string): Promise<Set<string>> {
  const out = new Set<string>();
  // getfattr exits non-zero when some files lack the attribute; what it printed is still right.
  const { stdout } = await execFileP(
    'sh',
    ['-c', 'getfattr -R --absolute-names -n trusted.overlay.opaque "$1" 2>/dev/null || true', 'sh', upper],
    { maxBuffer: 64 << 20 },
  );
  let current: string | undefined;
  for (const line of stdout.split('\n')) {
    const f = /^# file: (.*)$/.exec(line);
    if (f) current = f[1];
    else if (current && /^trusted\.overlay\.opaque="y"$/.test(line)) out.add(path.relative(upper, current));
  }
  return out;
}

async function existsBelow(lowers: string[], rel: string): Promise<boolean> {
  for (const l of lowers) {
    try {
      const st = await fsp.lstat(path.join(l, rel));
      return !isWhiteout(st);
    } catch {
      // Not in this layer; a whiteout or opaque directory above would have hidden it, which the
      // upper layer's own entries already express.
    }
  }
  return false;
}

/** `docker diff`: what the upper layer changed relative to the image. */
export async function changes(upper: string, lowers: string[]): Promise<Change[]> {
  const out: Change[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await fsp.readdir(path.join(upper, rel), { withFileTypes: true }).catch(() => []);
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const st = await fsp.lstat(path.join(upper, r));
      if (ENGINE_MOUNTPOINTS.has(r) && st.isFile()) continue;
      if (isWhiteout(st)) {
        out.push({ Path: `/${r}`, Kind: 2 });
        continue;
      }
      const kind: ChangeKind = (await existsBelow(lowers, r)) ? 0 : 1;
      const at = out.length;
      out.push({ Path: `/${r}`, Kind: kind });
      if (st.isDirectory()) {
        await walk(r);
        // A directory that exists below and only held engine mount points did not change.
        if (
          kind === 0 &&
          out.length === at + 1 &&
          (await fsp.readdir(path.join(upper, r))).every((n) => ENGINE_MOUNTPOINTS.has(`${r}/${n}`))
        )
          out.pop();
      }
    }
  };
  await walk('');
  return out;
}

/** The upper layer as an OCI layer tar (whiteouts in `.wh.` form), sorted for reproducible digests. */
export function packUpper(upper: string): Readable {
  const pack = tarPack();
  const inodes = new Map<string, string>();
  const run = async (): Promise<void> => {
    const opaque = await opaqueDirs(upper);
    const fd = fs.openSync(upper, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    try {
      await walkTree(fd, async (e) => {
        const { st, rel } = e;
        if (ENGINE_MOUNTPOINTS.has(rel) && st.isFile()) return;
        if (isWhiteout(st)) {
          const dir = path.posix.dirname(rel);
          await addEntry(pack, {
            name: `${dir === '.' ? '' : `${dir}/`}${WHITEOUT_PREFIX}${e.name}`,
            type: 'file',
            size: 0,
            mode: 0o644,
            uid: st.uid,
            gid: st.gid,
            mtime: st.mtime,
          });
          return;
        }
        await packTreeEntry(pack, e, rel, inodes);
        if (st.isDirectory() && opaque.has(rel))
          await addEntry(pack, {
            name: `${rel}/${OPAQUE_WHITEOUT}`,
            type: 'file',
            size: 0,
            mode: 0o644,
            mtime: st.mtime,
          });
      });
    } finally {
      fs.closeSync(fd);
    }
    pack.finalize();
  };
  run().catch((err: Error) => pack.destroy(err));
  return pack as unknown as Readable;
}
