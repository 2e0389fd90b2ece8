/**
 * Pack a directory tree into a tar stream (the layer format): regular files, directories, symlinks,
 * hardlinks (each inode once), device nodes and fifos, with ownership, modes and mtimes. Entries are
 * sorted so the same tree always gives the same bytes, and so the same digest.
 */
import { promises as fs, createReadStream, type Stats } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { extract as tarExtract, pack as tarPack, type Header, type Pack } from 'tar-stream';

export type TarHeader = Partial<Header> & Pick<Header, 'name'>;

export interface PackOptions {
  /** Fixed mtime for every entry (reproducible base images); default: the files' own. */
  mtime?: Date;
  /** Prefix for entry names inside the archive; default none. */
  prefix?: string;
}

function major(dev: number): number {
  return ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff);
}
function minor(dev: number): number {
  return (dev & 0xff) | ((dev >> 12) & ~0xff);
}

/** Add one entry to a tar stream, its body a buffer or a stream; resolves once the entry is written. */
export function addEntry(pack: Pack, header: TarHeader, body?: Readable | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (body === undefined || Buffer.isBuffer(body)) {
      pack.entry(header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
      return;
    }
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    body.on('error', reject);
    body.pipe(sink as unknown as NodeJS.WritableStream);
  });
}

/**
 * Pack one path under a given name: a file as one entry, a directory as `name/` and its contents
 * (what `docker cp` sends).
 */
export function packPath(hostPath: string, name: string): Readable {
  const pack = tarPack();
  const run = async (): Promise<void> => {
    const st = await fs.lstat(hostPath);
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      await addEntry(pack, { ...base, name: `${name}/`, type: 'directory' });
      const inner = packDirectory(hostPath, { prefix: `${name}/` });
      const ex = tarExtract();
      await new Promise<void>((resolve, reject) => {
        ex.on('entry', (h, stream, next) => {
          const sink = pack.entry(h, (err) => (err ? reject(err) : next()));
          (stream as unknown as NodeJS.ReadableStream).pipe(sink as unknown as NodeJS.WritableStream);
        });
        ex.on('finish', resolve);
        ex.on('error', reject);
        inner.pipe(ex as unknown as NodeJS.WritableStream);
      });
    } else if (st.isSymbolicLink()) {
      await addEntry(pack, { ...base, name, type: 'symlink', linkname: await fs.readlink(hostPath) });
    } else if (st.isFile()) {
      await addEntry(pack, { ...base, name, type: 'file', size: st.size }, createReadStream(hostPath));
    }
    pack.finalize();
  };
  run().catch((err: Error) => pack.destroy(err));
  return pack as unknown as Readable;
}

export function packDirectory(root: string, opts: PackOptions = {}): Readable {
  const pack = tarPack();
  const inodes = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    const abs = path.join(root, rel);
    const st: Stats = await fs.lstat(abs);
    const name = (opts.prefix ?? '') + (rel === '' ? './' : rel);
    const base: TarHeader = {
      name,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: opts.mtime ?? st.mtime,
    };
    if (st.isDirectory()) {
      if (rel !== '') await addEntry(pack, { ...base, name: name + '/', type: 'directory' });
      const names = (await fs.readdir(abs)).sort();
      for (const n of names) await walk(rel === '' ? n : `${rel}/${n}`);
      return;
    }
    const key = `${st.dev}:${st.ino}`;
    if (st.nlink > 1 && !st.isDirectory()) {
      const first = inodes.get(key);
      if (first !== undefined) {
        await addEntry(pack, { ...base, type: 'link', linkname: first, size: 0 });
        return;
      }
      inodes.set(key, name);
    }
    if (st.isFile()) {
      const body = st.size < 1 << 20 ? await fs.readFile(abs) : createReadStream(abs);
      await addEntry(pack, { ...base, type: 'file', size: st.size }, body);
    } else if (st.isSymbolicLink()) {
      await addEntry(pack, { ...base, type: 'symlink', linkname: await fs.readlink(abs) });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      await addEntry(pack, {
        ...base,
        type: st.isCharacterDevice() ? 'character-device' : 'block-device',
        devmajor: major(st.rdev),
        devminor: minor(st.rdev),
      });
    } else if (st.isFIFO()) {
      await addEntry(pack, { ...base, type: 'fifo' });
    }
  };
  walk('').then(
    () => pack.finalize(),
    (err: Error) => pack.destroy(err),
  );
  return pack as unknown as Readable;
}
